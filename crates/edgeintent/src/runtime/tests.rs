//! The runtime end to end on small configs: rules, ticks, triggers, the
//! events' clock, the worker.
use crate::config::Config;
use crate::error::Error;
use crate::event::{Event, EventError, EventKind};
use crate::features::FeatureSpec;
use crate::policy::PolicyConfig;
use crate::runtime::{ModelStatus, Runtime};

fn config() -> Config {
    let spec = FeatureSpec::from_json(
        r#"{"version":"t","features":[{"name":"v","kind":"home_visible"},{"name":"r","kind":"since_refresh"}]}"#,
    )
    .unwrap();
    Config::rules_only(spec)
        .with_policy(PolicyConfig {
            cooldown_s: 10.0,
            tick_interval_s: 30.0,
            fallback_interval_s: 60.0,
            max_staleness_s: 600.0,
            threshold: 0.5,
            ..PolicyConfig::default()
        })
        .unwrap()
}

fn ev(ts_ms: i64, kind: EventKind) -> Event {
    Event { ts_ms, kind }
}

fn home() -> EventKind {
    EventKind::PageView {
        page: "home".into(),
    }
}

fn drain(rt: &mut Runtime) -> Vec<(i64, &'static str)> {
    std::iter::from_fn(|| rt.poll())
        .map(|d| (d.ts_ms, d.reason.as_str()))
        .collect()
}

#[test]
fn rules_refresh_on_staleness_then_fallback_ticks_while_home_is_shown() {
    let mut rt = Runtime::builder().config(config()).build().unwrap();
    rt.process(ev(0, EventKind::AppForeground)).unwrap();
    rt.process(ev(1_000, home())).unwrap();
    // Ticks at 31 s, 61 s (fallback due: 61 s since refresh at 0), 91 s, 121 s.
    rt.process(ev(125_000, EventKind::Search { query_len: None }))
        .unwrap();
    assert_eq!(
        drain(&mut rt),
        vec![
            (0, "staleness"),
            (61_000, "fallback:no_model"),
            (121_000, "fallback:no_model")
        ]
    );
    let s = rt.stats();
    assert_eq!(s.ticks, 4);
    assert_eq!(s.decision_points, 6);
    assert_eq!(s.model, ModelStatus::None);
}

#[test]
fn no_ticks_while_the_homepage_is_hidden() {
    let mut rt = Runtime::builder().config(config()).build().unwrap();
    rt.process(ev(0, EventKind::AppForeground)).unwrap();
    rt.process(ev(
        1_000,
        EventKind::PageView {
            page: "orders".into(),
        },
    ))
    .unwrap();
    rt.process(ev(500_000, EventKind::Search { query_len: None }))
        .unwrap();
    assert_eq!(rt.stats().ticks, 0);
    assert_eq!(rt.next_wakeup_ms(), None);
    rt.process(ev(500_500, EventKind::AppBackground)).unwrap();
    rt.process(ev(900_000, EventKind::AppForeground)).unwrap();
    assert_eq!(rt.stats().ticks, 0, "resumed on a non-home page");
}

#[test]
fn pull_to_refresh_always_refreshes() {
    let mut rt = Runtime::builder().config(config()).build().unwrap();
    rt.process(ev(0, EventKind::AppForeground)).unwrap();
    rt.process(ev(
        500,
        EventKind::PullToRefresh {
            page: "home".into(),
        },
    ))
    .unwrap();
    assert_eq!(
        drain(&mut rt),
        vec![(0, "staleness"), (500, "trigger:pull_to_refresh")]
    );
    assert_eq!(rt.last_refresh_ms(), Some(500));
}

#[test]
fn events_beyond_the_clock_skew_are_rejected_and_change_nothing() {
    let mut rt = Runtime::builder().config(config()).build().unwrap();
    rt.process(ev(100_000, EventKind::AppForeground)).unwrap();
    rt.process(ev(97_000, home())).unwrap();
    let err = rt
        .process(ev(50_000, EventKind::AppBackground))
        .unwrap_err();
    assert!(matches!(
        err,
        EventError::ClockSkew {
            behind_ms: 50_000,
            ..
        }
    ));
    let bad = ev(
        100_000,
        EventKind::Scroll {
            page: "home".into(),
            dy_px: f64::INFINITY,
        },
    );
    assert!(rt.process(bad).is_err());
    let s = rt.stats();
    assert_eq!((s.events_processed, s.events_rejected), (2, 2));
    assert_eq!(rt.next_wakeup_ms(), Some(130_000), "still on home");
}

#[test]
fn pushed_events_are_processed_by_pump() {
    let mut rt = Runtime::builder().config(config()).build().unwrap();
    let p = rt.producer();
    p.push(ev(0, EventKind::AppForeground)).unwrap();
    p.push(ev(1, home())).unwrap();
    assert_eq!(rt.pump(), 2);
    let s = rt.stats();
    assert_eq!(
        (s.events_pushed, s.events_processed, s.decisions),
        (2, 2, 1)
    );
}

#[test]
fn worker_delivers_decisions_through_the_callback() {
    let (tx, rx) = crossbeam_channel::unbounded();
    let rt = Runtime::builder()
        .config(config())
        .on_decision(move |d| {
            let _ = tx.send(*d);
        })
        .build()
        .unwrap();
    let worker = rt.spawn_worker().unwrap();
    let p = worker.producer();
    p.push(ev(0, EventKind::AppForeground)).unwrap();
    p.push(ev(
        5,
        EventKind::PullToRefresh {
            page: "home".into(),
        },
    ))
    .unwrap();
    let rt = worker.stop().unwrap();
    assert_eq!(rt.stats().events_processed, 2);
    let reasons: Vec<_> = rx.try_iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(reasons, ["staleness", "trigger:pull_to_refresh"]);
}

#[test]
fn a_clock_jump_runs_at_most_an_hour_of_ticks() {
    let mut rt = Runtime::builder().config(config()).build().unwrap();
    rt.process(ev(0, EventKind::AppForeground)).unwrap();
    rt.process(ev(1_000, home())).unwrap();
    let year = 365 * 86_400_000;
    rt.process(ev(year, EventKind::Search { query_len: None }))
        .unwrap();
    assert_eq!(rt.stats().clock.jumps_held, 1, "held until confirmed");
    assert_eq!(rt.stats().ticks, 0);
    rt.process(ev(year + 1, EventKind::Search { query_len: None }))
        .unwrap();
    let s = rt.stats();
    assert!(s.ticks <= 121, "{}", s.ticks);
    assert!(s.ticks_skipped > 1_000_000, "{}", s.ticks_skipped);
    assert_eq!(rt.next_wakeup_ms().map(|t| t > year - 30_000), Some(true));
}

#[test]
fn a_far_future_outlier_neither_silences_the_runtime_nor_survives_a_snapshot() {
    let mut rt = Runtime::builder().config(config()).build().unwrap();
    rt.process(ev(0, EventKind::AppForeground)).unwrap();
    rt.process(ev(1_000, home())).unwrap();
    let y2199 = 7_226_582_400_000;
    rt.process(ev(y2199, EventKind::AppBackground)).unwrap();
    let snap = rt.snapshot().unwrap();
    rt.process(ev(
        2_000,
        EventKind::PullToRefresh {
            page: "home".into(),
        },
    ))
    .unwrap();
    assert_eq!(rt.stats().clock.outliers_dropped, 1);
    assert_eq!(rt.last_refresh_ms(), Some(2_000));
    assert!(matches!(rt.tick(y2199), Err(EventError::ClockJump { .. })));
    // The snapshot taken while the outlier was held never saw it.
    let mut back = Runtime::builder().config(config()).build().unwrap();
    back.restore(&snap).unwrap();
    back.process(ev(
        3_000,
        EventKind::PullToRefresh {
            page: "home".into(),
        },
    ))
    .unwrap();
    assert_eq!(back.last_refresh_ms(), Some(3_000));
}

#[test]
fn a_clock_trusted_far_ahead_re_anchors_after_three_agreeing_events() {
    let mut rt = Runtime::builder().config(config()).build().unwrap();
    let y2199 = 7_226_582_400_000;
    // The first event is trusted as it comes: nothing to compare it with.
    rt.process(ev(y2199, EventKind::AppForeground)).unwrap();
    for t in [10_000, 11_000] {
        assert!(rt
            .process(ev(t, EventKind::Search { query_len: None }))
            .is_err());
    }
    rt.process(ev(
        12_000,
        EventKind::PullToRefresh {
            page: "home".into(),
        },
    ))
    .unwrap();
    let s = rt.stats();
    assert_eq!((s.clock.reanchors, s.events_rejected), (1, 2));
    assert_eq!(rt.last_refresh_ms(), Some(12_000), "timers started over");
    rt.process(ev(13_000, home())).unwrap();
    assert_eq!(rt.stats().events_processed, 3);
}

#[test]
fn worker_without_callback_is_a_usage_error() {
    let rt = Runtime::builder().config(config()).build().unwrap();
    assert!(matches!(
        rt.spawn_worker(),
        Err(Error::Misuse(crate::error::Misuse::WorkerWithoutCallback))
    ));
}

#[test]
fn a_config_changed_in_code_is_checked_like_a_file() {
    let bad = PolicyConfig {
        threshold: 1.5,
        ..config().policy().clone()
    };
    let err = config().with_policy(bad).unwrap_err();
    assert!(err.to_string().contains("policy.threshold"), "{err}");
}
