//! On-device monitoring end to end: injected breaks raise alerts (once) and,
//! where configured, set the model aside; a normal trace raises none; a
//! broken reference profile is refused at load.

use edgeintent::{Config, Event, EventKind, Runtime};

use crate::common::{decision_lines, edgeintent, events, fixture, text};

fn config(fallback: &[&str]) -> Config {
    let cfg = Config::from_file(fixture("models/config.json")).unwrap();
    let mut m = cfg.monitor().clone();
    m.fallback = fallback
        .iter()
        .map(|k| serde_json::from_value(serde_json::json!(k)).unwrap())
        .collect();
    cfg.with_monitor(m).unwrap()
}

fn replay(cfg: Config, evs: &[Event]) -> Vec<serde_json::Value> {
    let mut rt = Runtime::builder().config(cfg).build().unwrap();
    decision_lines(&mut rt, evs)
}

/// The example trace with `f` applied from its middle on.
fn broken(f: impl Fn(&Event) -> Option<Event>) -> (Vec<Event>, i64) {
    let evs = events("fixtures/example_trace.jsonl");
    let t = evs[evs.len() / 2].ts_ms;
    let out = evs
        .iter()
        .filter_map(|e| if e.ts_ms < t { Some(e.clone()) } else { f(e) })
        .collect();
    (out, t)
}

fn alerts(ds: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    ds.iter().filter(|d| d["action"] == "alert").collect()
}

#[test]
fn the_example_trace_raises_no_alert() {
    let ds = replay(config(&[]), &events("fixtures/example_trace.jsonl"));
    assert!(alerts(&ds).is_empty(), "{:?}", alerts(&ds));
}

#[test]
fn a_producer_sending_zeros_raises_one_alert_and_sets_the_model_aside() {
    let (evs, t) = broken(|e| {
        Some(match &e.kind {
            EventKind::Scroll { page, .. } => Event {
                ts_ms: e.ts_ms,
                kind: EventKind::Scroll {
                    page: page.clone(),
                    dy_px: 0.0,
                },
            },
            _ => e.clone(),
        })
    });
    let ds = replay(config(&["drift"]), &evs);
    let a = alerts(&ds);
    // First the field itself (a quarter of the last 32 scrolls are zeros), later
    // the scroll-distance feature it feeds; each alerts once.
    assert_eq!(a[0]["reason"], "monitor:drift:scroll.dy_px", "{a:?}");
    assert!(a[0]["ts_ms"].as_i64().unwrap() >= t);
    assert_eq!(
        (a[0]["value"].as_f64(), a[0]["threshold"].as_f64()),
        (Some(0.25), Some(0.25))
    );
    let mut reasons: Vec<&str> = a.iter().map(|d| d["reason"].as_str().unwrap()).collect();
    assert!(
        reasons.iter().all(|r| r.starts_with("monitor:drift:")),
        "{reasons:?}"
    );
    reasons.dedup();
    assert_eq!(reasons.len(), a.len(), "no monitor alerts twice: {a:?}");
    let after: Vec<&serde_json::Value> = ds
        .iter()
        .filter(|d| d["ts_ms"].as_i64() > a[0]["ts_ms"].as_i64())
        .collect();
    assert!(
        after.iter().all(|d| d["reason"] != "model"),
        "the model is set aside"
    );
    assert!(after.iter().any(|d| d["reason"] == "fallback:monitor"));
    // Without the fallback the model keeps deciding.
    let ds = replay(config(&[]), &evs);
    assert!(ds.iter().all(|d| d["reason"] != "fallback:monitor"));
}

#[test]
fn exposures_that_stop_arriving_raise_an_event_rate_alert() {
    let (evs, t) = broken(|e| (!matches!(e.kind, EventKind::Exposure { .. })).then(|| e.clone()));
    let ds = replay(config(&[]), &evs);
    let a = alerts(&ds);
    assert!(
        a.iter()
            .any(|d| d["reason"] == "monitor:event_rate:exposure"
                && d["ts_ms"].as_i64().unwrap() >= t),
        "{a:?}"
    );
}

#[test]
fn stats_carry_the_monitors_and_the_live_histograms_for_the_fleet() {
    let mut rt = Runtime::builder().config(config(&[])).build().unwrap();
    for e in events("fixtures/example_trace.jsonl") {
        let _ = rt.process(e);
    }
    let m = rt.stats().monitor.unwrap();
    assert!(m.reference_profile);
    assert_eq!(m.histograms.len(), rt.config().features().len() + 1);
    let total: u32 = m.histograms[0].counts.iter().sum();
    assert_eq!(total as usize, m.window_points);
    assert!(m
        .monitors
        .iter()
        .any(|s| s.reason == "monitor:score_drift:score"));
}

#[test]
fn a_malformed_reference_profile_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let model = std::fs::read(fixture("models/intent.onnx")).unwrap();
    // Same length, so the protobuf stays valid: the profile's version 1 -> 9.
    let needle = br#"{"version":1,"#;
    let at = model
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    let mut bad = model.clone();
    bad[at + 11] = b'9';
    let path = dir.path().join("m.onnx");
    std::fs::write(&path, bad).unwrap();
    let cfg = Config::from_file(fixture("models/config.json"))
        .unwrap()
        .with_model(Some(edgeintent::ModelOptions::for_path(&path)))
        .unwrap();
    let err = Runtime::builder()
        .config(cfg)
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("edgeintent.reference_profile") && err.contains("version 9"),
        "{err}"
    );
}

#[test]
fn the_monitor_command_prints_the_monitors_of_a_replay() {
    let out = edgeintent(&["monitor", "--json", "fixtures/example_trace.jsonl"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["alerts"].as_array().unwrap().len(), 0);
    assert!(v[0]["monitor"]["monitors"].as_array().unwrap().len() > 30);
    let out = edgeintent(&["monitor", "fixtures/example_trace.jsonl"]);
    assert!(text(&out.stdout).contains("monitor:event_rate:exposure"));
}
