//! Issue 15's reproducers: hostile models, configs and inputs must be refused
//! with a clear error, fall back where the config allows it, and never crash,
//! hang or allocate what they declare. Each CLI run has a deadline.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use edgeintent::{Config, Event, EventKind, ModelStatus, Runtime};

use crate::common::root;

/// Runs the CLI with a deadline; panics (failing the test) if it is exceeded.
fn edgeintent_within(secs: u64, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgeintent"))
        .args(args)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            // Both streams: `inspect` reports a model tract cannot load on stdout.
            let mut text = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            return (status.code(), text);
        }
        if start.elapsed() > Duration::from_secs(secs) {
            child.kill().unwrap();
            panic!("edgeintent {args:?} ran past {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const HOSTILE: [(&str, &str); 5] = [
    ("one_label_tree.onnx", "at least two class labels"),
    ("gemm_bomb.onnx", "too large to count"),
    ("regressor_bomb.onnx", "n_targets"),
    ("input_bomb.onnx", "memory budget"),
    ("bad_transpose.onnx", "not a permutation"),
];

#[test]
fn inspect_names_what_is_wrong_with_each_hostile_model() {
    for (file, why) in HOSTILE {
        let path = format!("fixtures/hostile/{file}");
        let (code, err) = edgeintent_within(30, &["inspect", &path]);
        assert_ne!(code, Some(0), "{file}: inspect accepted it");
        assert!(code.is_some(), "{file}: killed by a signal: {err}");
        assert!(err.contains(why), "{file}: {err}");
    }
}

fn config_for(file: &str, required: bool) -> Config {
    let json = format!(
        r#"{{"model": {{"path": "{}", "required": {required}, "require_spec_hash": false}},
            "features": {{"version": "t", "features": [
                {{"name": "a", "kind": "home_visible"}},
                {{"name": "b", "kind": "home_views_session"}}]}}}}"#,
        root().join("fixtures/hostile").join(file).display()
    );
    Config::from_json(&json, &root(), "test").unwrap()
}

#[test]
fn a_runtime_falls_back_to_rules_on_each_hostile_model_and_loses_no_event() {
    // The runtime fixes the input to the spec's shape, so a huge declared
    // input never reaches it; the other four must be refused.
    for (file, why) in HOSTILE.into_iter().filter(|(f, _)| *f != "input_bomb.onnx") {
        let err = Runtime::builder()
            .config(config_for(file, true))
            .build()
            .err()
            .unwrap_or_else(|| panic!("{file}: a required hostile model loaded"));
        assert!(err.to_string().contains(why), "{file}: {err}");
        let mut rt = Runtime::builder()
            .config(config_for(file, false))
            .build()
            .unwrap();
        assert!(
            matches!(rt.model_status(), ModelStatus::Failed(_)),
            "{file}"
        );
        let t0 = 1_767_600_000_000;
        let evs = [
            EventKind::AppForeground,
            EventKind::PageView {
                page: "home".into(),
            },
            EventKind::PullToRefresh {
                page: "home".into(),
            },
        ];
        let mut refreshes = 0;
        for (i, kind) in evs.into_iter().enumerate() {
            rt.process(Event {
                ts_ms: t0 + i as i64 * 10_000,
                kind,
            })
            .unwrap();
            while let Some(d) = rt.poll() {
                refreshes += 1;
                let _ = d;
            }
        }
        let stats = rt.stats();
        assert_eq!(stats.events_processed, 3, "{file}");
        assert!(refreshes >= 2, "{file}: first view and the pull-to-refresh");
    }
}

#[test]
fn bench_refuses_inputs_larger_than_the_memory_budget_before_allocating_them() {
    for args in [
        &[
            "bench",
            "--model",
            "fixtures/families/sklearn_logreg_binary.onnx",
            "--input-shape",
            "1000000x1000000",
        ][..],
        &["bench", "--model", "fixtures/hostile/input_bomb.onnx"][..],
    ] {
        let (code, text) = edgeintent_within(30, args);
        assert!(code.is_some_and(|c| c != 0), "{args:?}: {text}");
        assert!(text.contains("memory budget"), "{args:?}: {text}");
    }
}

#[test]
fn timestamps_at_the_end_of_time_neither_hang_nor_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("far.jsonl");
    let end = edgeintent::limits::MAX_TS_MS;
    std::fs::write(
        &trace,
        format!(
            "{{\"ts_ms\":{},\"type\":\"app_foreground\"}}\n\
             {{\"ts_ms\":{},\"type\":\"page_view\",\"page\":\"home\"}}\n\
             {{\"ts_ms\":{end},\"type\":\"scroll\",\"page\":\"home\",\"dy_px\":10}}\n\
             {{\"ts_ms\":9223372036854775807,\"type\":\"page_view\",\"page\":\"home\"}}\n",
            end - 10,
            end - 5
        ),
    )
    .unwrap();
    let t = trace.to_str().unwrap();
    let (code, text) = edgeintent_within(30, &["replay", "--skip-invalid", t]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("skipped invalid 1"), "{text}");
    let (code, text) = edgeintent_within(30, &["replay", t]);
    assert_eq!(code.map(|c| c != 0), Some(true), "{text}");
    assert!(text.contains("year 2200"), "{text}");
}

#[test]
fn durations_beyond_ten_years_are_config_errors() {
    let base = std::fs::read_to_string(root().join("models/config.json")).unwrap();
    for (from, to, field) in [
        (
            "\"tick_interval_s\": 30",
            "\"tick_interval_s\": 1e16",
            "policy.tick_interval_s",
        ),
        ("\"coalesce_s\": 600", "\"coalesce_s\": 1e17", "coalesce_s"),
        (
            "\"cooldown_s\": 15",
            "\"cooldown_s\": 1e300",
            "policy.cooldown_s",
        ),
    ] {
        assert!(base.contains(from), "{from}");
        let e = Config::from_json(&base.replace(from, to), &root().join("models"), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains(field) && e.contains("ten years"), "{e}");
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_or_a_device_as_model_spec_config_or_snapshot_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let f = fifo.to_str().unwrap();
    for args in [
        &["inspect", f][..],
        &["inspect", "/dev/zero"][..],
        &["replay", "--config", f, "fixtures/example_trace.jsonl"][..],
        &["replay", f][..],
    ] {
        let (code, text) = edgeintent_within(30, args);
        assert!(code.is_some_and(|c| c != 0), "{args:?}: {text}");
        assert!(text.contains("not a regular file"), "{args:?}: {text}");
    }
    let spec_fifo = format!(r#"{{"features": "{f}", "policy": {{}}}}"#);
    let e = Config::from_json(&spec_fifo, &root(), "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a regular file"), "{e}");
    let mut rt = crate::common::runtime("models/config.json");
    let e = rt.load_snapshot(&fifo).unwrap_err().to_string();
    assert!(e.contains("not a regular file"), "{e}");
}

fn recs(slot: &str, n: usize) -> EventKind {
    EventKind::Recommendations {
        slot: slot.into(),
        items: (0..n)
            .map(|i| edgeintent::RecItem {
                id: format!("{slot}-{i}"),
                entity: None,
                score: None,
            })
            .collect(),
    }
}

#[test]
fn the_slot_table_is_bounded_and_slot_names_are_never_aliased() {
    let mut rt = crate::common::runtime("fixtures/dedup_config.json");
    let t0 = 1_767_600_000_000;
    let mut named = Vec::new();
    for i in 0..20_000 {
        let slot = format!("s{i}");
        rt.process(Event {
            ts_ms: t0 + i,
            kind: recs(&slot, 3),
        })
        .unwrap();
        while let Some(d) = rt.poll() {
            let line: serde_json::Value = serde_json::from_str(&rt.decision_json(&d)).unwrap();
            named.push((slot.clone(), line["slot"].as_str().unwrap().to_owned()));
        }
    }
    let stats = rt.stats();
    let max = rt.config().dedup().max_slots as u64;
    assert!(
        stats.dedup_slots_refused >= 20_000 - max,
        "{}",
        stats.dedup_slots_refused
    );
    // Every list shown is for the slot that received it.
    assert!(!named.is_empty());
    assert!(
        named.iter().all(|(sent, shown)| sent == shown),
        "aliased slot"
    );
    assert_eq!(stats.events_processed, 20_000);
}

#[test]
fn a_huge_recommendations_event_keeps_only_max_candidates() {
    let mut rt = crate::common::runtime("fixtures/dedup_config.json");
    rt.process(Event {
        ts_ms: 1_767_600_000_000,
        kind: recs("feed", 1_000_000),
    })
    .unwrap();
    let max = rt.config().dedup().max_candidates as u64;
    assert_eq!(rt.stats().dedup_candidates_dropped, 1_000_000 - max);
    assert!(rt.shown("feed").count() > 0);
}

#[test]
fn bad_bytes_and_huge_lines_are_named_and_skipped_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.jsonl");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"{\"ts_ms\":1767600000000,\"type\":\"app_foreground\"}\n");
    bytes.extend_from_slice(
        b"{\"ts_ms\":1767600000001,\"type\":\"page_view\",\"page\":\"\xff\xfe\"}\n",
    );
    bytes.extend_from_slice(b"{\"ts_ms\":1767600000002,\"type\":\"custom\",\"name\":\"");
    bytes.extend(std::iter::repeat_n(b'x', 2 * edgeintent::MAX_LINE_BYTES));
    bytes.extend_from_slice(b"\"}\n");
    bytes
        .extend_from_slice(b"{\"ts_ms\":1767600000003,\"type\":\"page_view\",\"page\":\"home\"}\n");
    std::fs::write(&trace, bytes).unwrap();
    let t = trace.to_str().unwrap();
    let (code, text) = edgeintent_within(30, &["replay", t]);
    assert_eq!(code.map(|c| c != 0), Some(true));
    assert!(text.contains("line 2") && text.contains("UTF-8"), "{text}");
    let (code, text) = edgeintent_within(30, &["replay", "--skip-invalid", t]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("lines 4, events 2, skipped invalid 2"),
        "{text}"
    );
}

#[test]
fn an_inline_spec_with_an_unknown_kind_names_the_kind_and_the_choices() {
    let json =
        r#"{"features": {"version": "t", "features": [{"name": "a", "kind": "telepathy"}]}}"#;
    let e = Config::from_json(json, &root(), "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("telepathy") && e.contains("window_count"), "{e}");
    let e = Config::from_json(r#"{"features": 7}"#, &root(), "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`features` must be a path"), "{e}");
}

/// The premise of the `snapshot_timestamps` fuzz target: a snapshot's payload
/// holds the times the runtime was fed as bincode varints, so rewriting
/// those bytes reaches the timestamp checks of `restore` (here with
/// `i64::MIN`, which must be refused or survive, never hang).
#[test]
fn snapshot_payloads_hold_their_timestamps_as_varints_the_fuzzer_can_rewrite() {
    let cfg = Config::from_json(
        r#"{"features": {"version": "t", "features": [{"name": "r", "kind": "since_refresh"}]},
            "policy": {"tick_interval_s": 30}}"#,
        std::path::Path::new("."),
        "test",
    )
    .unwrap();
    let mut rt = Runtime::builder().config(cfg.clone()).build().unwrap();
    let t = 1_700_000_031_000i64;
    rt.process(Event {
        ts_ms: t,
        kind: EventKind::PageView {
            page: "home".into(),
        },
    })
    .unwrap();
    let snap = rt.snapshot().unwrap();
    let header = 36;
    let payload = &snap[header..];
    let enc = |v: i64| bincode::encode_to_vec(v, bincode::config::standard()).unwrap();
    let found = payload
        .windows(enc(t).len())
        .filter(|w| *w == enc(t))
        .count();
    assert!(found >= 1, "the fed time is in the payload as a varint");
    // Rewritten to i64::MIN (a different length: the payload shifts).
    let mut rewritten = Vec::new();
    let (from, to) = (enc(t), enc(i64::MIN));
    let mut i = 0;
    while i < payload.len() {
        if payload[i..].starts_with(&from) {
            rewritten.extend_from_slice(&to);
            i += from.len();
        } else {
            rewritten.push(payload[i]);
            i += 1;
        }
    }
    let sealed = edgeintent::snapshot::reseal(&snap, &rewritten);
    let mut fresh = Runtime::builder().config(cfg).build().unwrap();
    let err = fresh.restore(&sealed).unwrap_err().to_string();
    assert!(err.contains("time") || err.contains("range"), "{err}");
}

/// Issue 35: one `app_background` stamped in 2199 among the example trace's
/// events: it is held, shown an outlier by the next event and dropped, so
/// the decisions are exactly those of the clean trace; a snapshot taken right
/// after it restores a runtime that accepts the rest of the trace.
#[test]
fn one_far_future_event_changes_no_decision_and_no_snapshot() {
    let evs = crate::common::events("fixtures/example_trace.jsonl");
    let clean =
        crate::common::decision_lines(&mut crate::common::runtime("models/config.json"), &evs);
    let at = evs.len() / 3;
    let outlier = Event {
        ts_ms: 7_226_582_400_000,
        kind: EventKind::AppBackground,
    };
    let mut rt = crate::common::runtime("models/config.json");
    let mut got = crate::common::decision_lines(&mut rt, &evs[..at]);
    rt.process(outlier).unwrap();
    let snap = rt.snapshot().unwrap();
    got.extend(crate::common::decision_lines(&mut rt, &evs[at..]));
    assert_eq!(got, clean);
    let s = rt.stats();
    assert_eq!((s.clock.jumps_held, s.clock.outliers_dropped), (1, 1));
    assert_eq!(s.events_rejected, 1, "the outlier, dropped");

    let mut back = crate::common::runtime("models/config.json");
    back.restore(&snap).unwrap();
    let rest = crate::common::decision_lines(&mut back, &evs[at..at + 300]);
    assert_eq!(back.stats().events_rejected, 0);
    assert!(rest.iter().any(|d| d["action"] == "refresh"));
}

/// Issue 35: after 64 distinct slot names, a new slot hours later is
/// arbitrated (an expired slot gave its place) instead of refused forever.
#[test]
fn new_slot_names_are_arbitrated_once_old_ones_expire() {
    let mut rt = crate::common::runtime("models/config.json");
    let rec = |ts_ms: i64, slot: &str| Event {
        ts_ms,
        kind: EventKind::Recommendations {
            slot: slot.into(),
            items: vec![edgeintent::RecItem {
                id: format!("{slot}-item"),
                entity: None,
                score: None,
            }],
        },
    };
    let t0 = 1_767_600_000_000;
    for k in 0..64 {
        rt.process(rec(t0 + k * 1_000, &format!("slot{k}")))
            .unwrap();
    }
    rt.process(rec(t0 + 65_000, "fresh")).unwrap();
    assert_eq!(rt.stats().dedup_slots_refused, 1);
    rt.process(rec(t0 + 3 * 3_600_000, "fresh")).unwrap();
    assert_eq!(rt.shown("fresh").collect::<Vec<_>>(), ["fresh-item"]);
    let s = rt.stats();
    assert_eq!((s.dedup_slots_refused, s.dedup_slots_recycled), (1, 1));
}

/// Issue 35: a fix claiming 1e9 m/s or 1e9 m of accuracy is an impossible
/// value, refused with the bound, like a latitude past 90.
#[test]
fn absurd_speeds_and_accuracies_are_refused() {
    for (field, line) in [
        (
            "speed_mps",
            r#"{"ts_ms":1,"type":"location","lat":1,"lon":1,"accuracy_m":10,"speed_mps":1e9}"#,
        ),
        (
            "accuracy_m",
            r#"{"ts_ms":1,"type":"location","lat":1,"lon":1,"accuracy_m":1e9}"#,
        ),
    ] {
        let err = edgeintent::parse_line(line).unwrap_err();
        assert!(err.to_string().contains(field), "{err}");
    }
}
