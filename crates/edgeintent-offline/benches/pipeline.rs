//! Per-event feature update and per-decision path (features → model → policy),
//! on the shipped spec, model and example trace.
//!
//! `cargo bench --bench pipeline`

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use edgeintent::{
    Config, Event, EventKind, FeatureState, IntentModel, Parsed, Runtime, TraceReader,
};

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn config() -> Config {
    Config::from_file(root().join("models/config.json")).expect("shipped config")
}

fn events() -> Vec<Event> {
    let f =
        std::fs::File::open(root().join("fixtures/example_trace.jsonl")).expect("example trace");
    TraceReader::new(std::io::BufReader::new(f))
        .filter_map(|r| match r {
            Ok((_, Parsed::Event(e))) => Some(e),
            _ => None,
        })
        .collect()
}

fn feature_update(c: &mut Criterion) {
    let cfg = config();
    let events = events();
    let mut state = FeatureState::new(cfg.features());
    let mut i = 0usize;
    // Time keeps moving forward across laps of the trace.
    let span = events.last().unwrap().ts_ms - events[0].ts_ms + 1;
    let mut lap = 0i64;
    c.bench_function("feature_update_per_event", |b| {
        b.iter(|| {
            let e = &events[i];
            state.update(black_box(e), e.ts_ms + lap * span);
            i += 1;
            if i == events.len() {
                i = 0;
                lap += 1;
            }
        })
    });
    let mut out = vec![0f32; state.len()];
    let now = events.last().unwrap().ts_ms + lap * span;
    c.bench_function("feature_write_vector", |b| {
        b.iter(|| state.write(black_box(now), &mut out))
    });
    // As at decision points: time has moved on since the last write.
    let mut t = now;
    c.bench_function("feature_write_vector_time_advancing_1s", |b| {
        b.iter(|| {
            t += 1000;
            state.write(black_box(t), &mut out)
        })
    });
}

/// Distinct feature rows, as the shipped spec computes them along the example
/// trace (a model timed on one repeated row flatters branchy code: the branch
/// predictor memorises its path).
fn trace_rows(cfg: &Config, n: usize) -> Vec<Vec<f32>> {
    let mut state = FeatureState::new(cfg.features());
    let mut rows: Vec<Vec<f32>> = Vec::with_capacity(n);
    for e in events() {
        state.update(&e, e.ts_ms);
        let mut row = vec![0f32; state.len()];
        state.write(e.ts_ms, &mut row);
        if rows.last() != Some(&row) {
            rows.push(row);
        }
        if rows.len() == n {
            break;
        }
    }
    rows
}

fn decision_path(c: &mut Criterion) {
    let cfg = config();
    let mut model = IntentModel::load(cfg.model().unwrap(), cfg.features()).unwrap();
    let rows = trace_rows(&cfg, 256);
    assert!(rows.len() >= 200, "{} distinct rows", rows.len());
    let seq = vec![0f32; cfg.features().sequence_length];
    let mut i = 0usize;
    c.bench_function("model_score_only", |b| {
        b.iter(|| {
            i = (i + 1) % rows.len();
            model.score(black_box(&rows[i]), &seq).unwrap()
        })
    });

    for (name, monitor) in [
        ("decision_path_home_view", true),
        ("decision_path_home_view_monitor_off", false),
    ] {
        home_views(c, name, monitor);
    }
}

/// A homepage view scores the moment every time: no cooldown, a threshold no
/// score reaches (so the gate never refreshes and never skips the model).
/// Between two timed views, untimed events of the example trace move the
/// user's state on, so each view scores a different row. `monitor`: the
/// shipped config's monitors on, or off.
fn home_views(c: &mut Criterion, name: &str, monitor: bool) {
    let base = config();
    let cfg = base
        .clone()
        .with_policy(edgeintent::PolicyConfig {
            cooldown_s: 0.0,
            threshold: 1.0,
            max_staleness_s: 3e8, // never, within the ten-year limit
            fallback_interval_s: 3e8,
            tick_interval_s: 0.0,
            ..base.policy().clone()
        })
        .unwrap()
        .with_monitor(edgeintent::monitor::MonitorConfig {
            enabled: monitor,
            ..base.monitor().clone()
        })
        .unwrap();
    let mut rt = Runtime::builder().config(cfg).build().unwrap();
    let trace: Vec<Event> = events()
        .into_iter()
        .filter(|e| !matches!(e.kind, EventKind::AppBackground))
        .collect();
    let span = trace.last().unwrap().ts_ms - trace[0].ts_ms + 1;
    let (mut at, mut lap) = (0usize, 0i64);
    let mut next = |rt: &mut Runtime| -> i64 {
        let e = &trace[at];
        let ts = e.ts_ms + lap * span;
        let _ = rt.process(Event {
            ts_ms: ts,
            kind: e.kind.clone(),
        });
        at += 1;
        if at == trace.len() {
            at = 0;
            lap += 1;
        }
        ts
    };
    let mut ts = 0;
    for _ in 0..500 {
        ts = next(&mut rt);
    }
    while rt.poll().is_some() {}
    let calls_before = rt.stats().model_calls;
    let mut ran = false;
    c.bench_function(name, |b| {
        ran = true;
        b.iter_custom(|iters| {
            let mut timed = std::time::Duration::ZERO;
            for _ in 0..iters {
                for _ in 0..2 {
                    ts = next(&mut rt);
                }
                while rt.poll().is_some() {}
                let e = Event {
                    ts_ms: ts + 1,
                    kind: EventKind::PageView {
                        page: "home".into(),
                    },
                };
                let t0 = std::time::Instant::now();
                let _ = black_box(rt.process(e));
                timed += t0.elapsed();
            }
            timed
        })
    });
    // (Not run when a filter on the command line leaves it out.)
    assert!(
        !ran || rt.stats().model_calls > calls_before,
        "the bench exercised the model"
    );
    assert_eq!(rt.stats().monitor.is_some(), monitor);
}

/// What the monitors add per event: the same events (no decision points:
/// scrolls, clicks, exposures, ... of the example trace, cycled with time
/// moving on) through a runtime with monitoring off and one with it on.
fn monitor_per_event(c: &mut Criterion) {
    let evs: Vec<Event> = events()
        .into_iter()
        .filter(|e| {
            !matches!(
                e.kind,
                EventKind::AppForeground | EventKind::AppBackground | EventKind::PageView { .. }
            )
        })
        .collect();
    for (name, enabled) in [
        ("per_event_monitor_off", false),
        ("per_event_monitor_on", true),
    ] {
        let base = config();
        let monitor = edgeintent::monitor::MonitorConfig {
            enabled,
            ..base.monitor().clone()
        };
        let policy = edgeintent::PolicyConfig {
            tick_interval_s: 0.0,
            ..base.policy().clone()
        };
        let cfg = base
            .with_monitor(monitor)
            .unwrap()
            .with_policy(policy)
            .unwrap();
        let mut rt = Runtime::builder().config(cfg).build().unwrap();
        let mut i = 0usize;
        let mut ts = evs[0].ts_ms;
        c.bench_function(name, |b| {
            b.iter_batched(
                || {
                    ts += 100;
                    i = (i + 1) % evs.len();
                    Event {
                        ts_ms: ts,
                        kind: evs[i].kind.clone(),
                    }
                },
                |e| rt.process(e),
                BatchSize::SmallInput,
            )
        });
        while rt.poll().is_some() {}
        assert_eq!(rt.stats().monitor.is_some(), enabled);
    }
}

criterion_group!(benches, feature_update, decision_path, monitor_per_event);
criterion_main!(benches);
