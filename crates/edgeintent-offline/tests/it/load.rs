//! Load and fault tests: many producers lose nothing silently, a broken model
//! falls back to the rules and says so, and no input makes a feature NaN.

use crate::common::*;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use edgeintent::{
    Config, Event, EventKind, FeatureSpec, FeatureState, FeedbackKind, ModelStatus, PushError,
    Runtime,
};
use proptest::prelude::*;

#[test]
fn eight_producers_times_a_million_events_accepted_plus_dropped_equals_sent() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 1_000_000;
    let cfg = Config::from_file(root().join("models/config.json")).unwrap();
    let ingest = edgeintent::IngestConfig {
        channel_capacity: 4096,
        max_clock_skew_ms: i64::MAX / 4,
        ..cfg.ingest().clone()
    };
    let cfg = cfg.with_ingest(ingest).unwrap();
    let mut rt = Runtime::builder()
        .config(cfg)
        .without_model()
        .build()
        .unwrap();
    let done = AtomicBool::new(false);
    let (sent, accepted, dropped) = std::thread::scope(|s| {
        let producers: Vec<_> = (0..THREADS)
            .map(|t| {
                let p = rt.producer();
                s.spawn(move || {
                    let (mut ok, mut full) = (0u64, 0u64);
                    for i in 0..PER_THREAD {
                        let e = Event {
                            ts_ms: 1_000_000 + (i * THREADS + t) as i64,
                            kind: EventKind::Search { query_len: None },
                        };
                        match p.push(e) {
                            Ok(()) => ok += 1,
                            Err(PushError::Full(_)) => full += 1,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    (ok, full)
                })
            })
            .collect();
        let consumer = s.spawn(|| {
            while !done.load(Ordering::Acquire) {
                if rt.pump() == 0 {
                    std::thread::yield_now();
                }
            }
            rt.pump();
        });
        let counts: Vec<(u64, u64)> = producers.into_iter().map(|p| p.join().unwrap()).collect();
        done.store(true, Ordering::Release);
        consumer.join().unwrap();
        let ok: u64 = counts.iter().map(|c| c.0).sum();
        let full: u64 = counts.iter().map(|c| c.1).sum();
        ((THREADS * PER_THREAD) as u64, ok, full)
    });
    let s = rt.stats();
    assert_eq!(
        accepted + dropped,
        sent,
        "every push is accepted or dropped"
    );
    assert_eq!(
        s.events_pushed, accepted,
        "the counter agrees with the producers"
    );
    assert_eq!(s.events_dropped_full, dropped);
    assert_eq!(
        s.events_processed + s.events_rejected,
        accepted,
        "nothing accepted is lost"
    );
    assert!(accepted > 0);
    eprintln!("load: sent {sent}, accepted {accepted}, dropped {dropped}");
}

fn config_with_model(model: PathBuf) -> Config {
    let text = serde_json::json!({
        "model": {"path": model, "required": false},
        "features": root().join("models/feature_spec.json"),
        "policy": {"fallback_interval_s": 300, "cooldown_s": 60},
    })
    .to_string();
    Config::from_json(&text, &root(), "test").unwrap()
}

fn fallback_run(model: PathBuf) -> (Runtime, Vec<String>) {
    let mut rt = Runtime::builder()
        .config(config_with_model(model))
        .build()
        .unwrap();
    let mut reasons = Vec::new();
    let home = |ts| Event {
        ts_ms: ts,
        kind: EventKind::PageView {
            page: "home".into(),
        },
    };
    for (i, ts) in [0i64, 400_000, 800_000].into_iter().enumerate() {
        rt.process(Event {
            ts_ms: ts + i as i64,
            kind: EventKind::AppForeground,
        })
        .unwrap();
        rt.process(home(ts + 1_000)).unwrap();
        while let Some(d) = rt.poll() {
            reasons.push(d.reason.as_str().to_owned());
        }
    }
    (rt, reasons)
}

#[test]
fn a_truncated_model_falls_back_to_the_rules_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(root().join("models/intent.onnx")).unwrap();
    let cut = dir.path().join("truncated.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let (rt, reasons) = fallback_run(cut);
    assert!(
        matches!(rt.model_status(), ModelStatus::Failed(_)),
        "{:?}",
        rt.model_status()
    );
    assert_eq!(
        reasons,
        ["staleness", "fallback:no_model", "fallback:no_model"]
    );
    let s = rt.stats();
    assert_eq!(s.fallback_decisions, 2);
    assert!(matches!(s.model, ModelStatus::Failed(ref why) if !why.is_empty()));
}

#[test]
fn a_model_trained_on_another_spec_falls_back_to_the_rules_and_says_so() {
    let (rt, reasons) = fallback_run(root().join("fixtures/models/mismatched_spec.onnx"));
    match rt.model_status() {
        ModelStatus::Failed(why) => assert!(why.contains("spec"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        reasons,
        ["staleness", "fallback:no_model", "fallback:no_model"]
    );
    assert_eq!(rt.stats().fallback_decisions, 2);
}

fn any_event() -> impl Strategy<Value = EventKind> {
    let page = prop_oneof![
        Just("home".to_owned()),
        Just("detail".to_owned()),
        "[a-z]{0,6}"
    ];
    let num = prop_oneof![any::<f64>(), -1e12f64..1e12];
    prop_oneof![
        Just(EventKind::AppForeground),
        Just(EventKind::AppBackground),
        page.clone().prop_map(|page| EventKind::PageView { page }),
        (page.clone(), num.clone()).prop_map(|(page, dy_px)| EventKind::Scroll { page, dy_px }),
        prop::collection::vec("[a-c]{1,2}", 0..6).prop_map(|items| EventKind::Exposure {
            slot: "feed".into(),
            items
        }),
        "[a-c]{1,2}".prop_map(|item| EventKind::Click {
            slot: "feed".into(),
            item
        }),
        page.prop_map(|page| EventKind::PullToRefresh { page }),
        "[a-c]{1,2}".prop_map(|item| EventKind::Feedback {
            item,
            kind: FeedbackKind::Dislike
        }),
        any::<Option<u32>>().prop_map(|query_len| EventKind::Search { query_len }),
        (
            num.clone(),
            num.clone(),
            num.clone(),
            prop::option::of(num.clone())
        )
            .prop_map(|(lat, lon, accuracy_m, speed_mps)| EventKind::Location {
                lat,
                lon,
                accuracy_m,
                speed_mps
            }),
        ("[a-z]{0,4}", prop::option::of(0.0f64..2.0))
            .prop_map(|(topic, importance)| EventKind::Notification { topic, importance }),
        ("[a-z]{1,4}", prop::option::of(num))
            .prop_map(|(name, value)| EventKind::Custom { name, value }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the events (order, gaps, values, including impossible ones the
    /// runtime would reject), every feature stays finite.
    #[test]
    fn no_feature_is_ever_nan_or_infinite(
        events in prop::collection::vec((any::<i64>(), any_event()), 1..120),
        query in any::<i64>(),
    ) {
        let spec = FeatureSpec::from_json(
            &std::fs::read_to_string(root().join("models/feature_spec.json")).unwrap(),
        )
        .unwrap();
        let mut st = FeatureState::new(&spec);
        let mut out = vec![0f32; st.len()];
        for (ts, kind) in events {
            // Timestamps anywhere in ±300 years around now, in any order.
            let ts = 1_700_000_000_000 + ts % 10_000_000_000_000;
            st.update(&Event { ts_ms: ts, kind }, ts);
            st.write(ts, &mut out);
            prop_assert!(out.iter().all(|v| v.is_finite()), "{:?}", out);
        }
        let q = 1_700_000_000_000 + query % 10_000_000_000_000;
        st.write(q, &mut out);
        prop_assert!(out.iter().all(|v| v.is_finite()), "{:?}", out);
    }
}
