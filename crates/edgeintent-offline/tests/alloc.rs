//! Steady state allocates nothing in our own per-event and per-decision code.
//!
//! A counting global allocator counts allocations made by the test thread
//! while a flag is set. Without a model the whole replay must allocate nothing;
//! with a model, every allocation must be tract's own (the same count per call
//! as a bare tract plan run the same way).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Arc;

use edgeintent::{Config, Event, Parsed, Runtime, TraceReader};
use tract_onnx::prelude::*;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn note_alloc() {
    // `try_with`: thread-locals may be gone while a thread shuts down.
    let _ = COUNTING.try_with(|c| {
        if c.get() {
            let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// bookkeeping touches only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn count_allocs<R>(f: impl FnOnce() -> R) -> (R, u64) {
    ALLOCS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, ALLOCS.with(|n| n.get()))
}

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn example_events() -> Vec<Event> {
    let f = std::fs::File::open(root().join("fixtures/example_trace.jsonl")).unwrap();
    TraceReader::new(std::io::BufReader::new(f))
        .filter_map(|r| match r.unwrap() {
            (_, Parsed::Event(e)) => Some(e),
            _ => None,
        })
        .collect()
}

/// Processes events, taking every decision, and returns how many were taken.
fn run(rt: &mut Runtime, events: Vec<Event>) -> usize {
    let mut taken = 0;
    for e in events {
        let _ = rt.process(e);
        while rt.poll().is_some() {
            taken += 1;
        }
    }
    taken
}

#[test]
fn per_event_and_rule_decision_paths_allocate_nothing() {
    let cfg = Config::from_file(root().join("models/config.json")).unwrap();
    // Refreshes record the context for the cloud ranker on this path too.
    assert!(cfg.context().enabled);
    let mut rt = Runtime::builder()
        .config(cfg)
        .without_model()
        .build()
        .unwrap();
    let events = example_events();
    let (warm, rest) = events.split_at(200);
    run(&mut rt, warm.to_vec());
    let rest = rest.to_vec();
    let (taken, allocs) = count_allocs(|| run(&mut rt, rest));
    assert!(taken > 10, "the replay made decisions ({taken})");
    assert!(rt.stats().decision_points > 100);
    assert_eq!(allocs, 0, "allocations in our per-event/per-decision code");
}

#[test]
fn the_dedup_arbiter_allocates_nothing_per_recommendations_event() {
    let cfg = Config::from_file(root().join("fixtures/dedup_config.json")).unwrap();
    let mut rt = Runtime::builder().config(cfg).build().unwrap();
    let f = std::fs::File::open(root().join("fixtures/dedup_trace.jsonl")).unwrap();
    let events: Vec<Event> = TraceReader::new(std::io::BufReader::new(f))
        .filter_map(|r| match r.unwrap() {
            (_, Parsed::Event(e)) => Some(e),
            _ => None,
        })
        .collect();
    // The first sight of each slot sizes its buffers.
    let (warm, rest) = events.split_at(40);
    run(&mut rt, warm.to_vec());
    let rest = rest.to_vec();
    let (taken, allocs) = count_allocs(|| run(&mut rt, rest));
    assert!(taken > 50, "show decisions were made ({taken})");
    assert_eq!(allocs, 0, "allocations in the arbiter or the runtime");
}

/// Allocations of one bare tract run of the shipped model, built the way the
/// runtime builds it (input fixed to [1, 34], only the probabilities output).
fn tract_allocs_per_run() -> u64 {
    let cfg = Config::from_file(root().join("models/config.json")).unwrap();
    let width = cfg.features().len();
    let mut m = edgeintent::onnx_importer()
        .model_for_path(root().join("models/intent.onnx"))
        .unwrap();
    m.set_input_fact(0, f32::fact([1, width]).into()).unwrap();
    let mut typed = m.into_typed().unwrap();
    let outlet = *typed
        .output_outlets()
        .unwrap()
        .iter()
        .find(|o| typed.outlet_label(**o) == Some("probabilities"))
        .unwrap();
    typed.select_output_outlets(&[outlet]).unwrap();
    let plan = typed.into_optimized().unwrap().into_runnable().unwrap();
    let mut state = plan.spawn().unwrap();
    let input = Arc::new(Tensor::zero::<f32>(&[1, width]).unwrap());
    let mut once = || {
        let out = state.run(tvec![TValue::from_const(input.clone())]).unwrap();
        drop(out);
    };
    for _ in 0..10 {
        once();
    }
    let counts: Vec<u64> = (0..20).map(|_| count_allocs(&mut once).1).collect();
    assert!(
        counts.iter().all(|c| *c == counts[0]),
        "tract's count varies: {counts:?}"
    );
    counts[0]
}

#[test]
fn with_the_shipped_model_the_decision_path_allocates_nothing() {
    // tract would allocate on every run; the native executor takes the model.
    let per_run = tract_allocs_per_run();
    assert!(per_run > 0, "tract's plan allocates per run");
    let cfg = Config::from_file(root().join("models/config.json")).unwrap();
    let mut rt = Runtime::builder().config(cfg).build().unwrap();
    let events = example_events();
    let (warm, rest) = events.split_at(200);
    run(&mut rt, warm.to_vec());
    let calls_before = rt.stats().model_calls;
    let rest = rest.to_vec();
    let (_, allocs) = count_allocs(|| run(&mut rt, rest));
    let calls = rt.stats().model_calls - calls_before;
    assert!(calls > 100, "model was called ({calls})");
    assert_eq!(rt.stats().model_errors, 0);
    // The monitors ran on this path too, against the package's reference.
    let monitor = rt
        .stats()
        .monitor
        .expect("monitoring is on in the shipped config");
    assert!(monitor.reference_profile && monitor.window_points > 100);
    assert_eq!(
        allocs, 0,
        "{calls} native model calls (tract would have made {per_run} allocations each)"
    );
}

#[test]
fn native_runs_of_trees_linear_models_and_mlps_allocate_nothing() {
    for family in [
        "lightgbm_multi",
        "xgboost_binary_missing",
        "catboost_multi",
        "sklearn_random_forest_multi_nozipmap",
        "sklearn_logreg_multi",
        "sklearn_mlp_binary",
        "sklearn_imputer_logreg",
        "sklearn_linear_regression",
    ] {
        let path = root().join(format!("fixtures/families/{family}.onnx"));
        let mut m = edgeintent::NativeModel::load(&path, None).unwrap();
        // Seeded rows: varied paths through the trees.
        let rows: Vec<Vec<f32>> = (0..64)
            .map(|s| edgeintent_offline::bench::random_input(m.input_len(), s))
            .collect();
        m.run(&rows[0]).unwrap();
        let (_, allocs) = count_allocs(|| {
            for r in &rows {
                std::hint::black_box(m.run(r).unwrap());
            }
        });
        assert_eq!(allocs, 0, "{family}");
    }
}

#[test]
fn native_gru_and_lstm_steps_allocate_nothing() {
    let cfg = Config::from_file(root().join("models/config.json")).unwrap();
    let lstm = edgeintent::RecurrentOptions {
        cell_input: Some("c_in".into()),
        cell_output: Some("c_out".into()),
        ..Default::default()
    };
    for (path, rec) in [
        ("fixtures/bench/gru_step.onnx", Default::default()),
        ("fixtures/recurrent/lstm_step.onnx", lstm),
    ] {
        let mut opts = cfg.model().cloned().unwrap();
        opts.path = root().join(path);
        opts.require_spec_hash = false;
        let mut m = edgeintent::RecurrentModel::load(&opts, cfg.features(), &rec).unwrap();
        assert_eq!(m.engine(), "native", "{:?}", m.not_native_reason());
        m.step(3).unwrap();
        let (_, allocs) = count_allocs(|| {
            for i in 0..256u32 {
                std::hint::black_box(m.step(1 + i % 13).unwrap());
            }
            m.reset().unwrap();
        });
        assert_eq!(allocs, 0, "{path}");
    }
}

#[test]
fn location_fixes_through_the_geofences_allocate_nothing() {
    let cfg = Config::from_file(root().join("fixtures/geo/config.json")).unwrap();
    let mut rt = Runtime::builder().config(cfg).build().unwrap();
    let f = std::fs::File::open(root().join("fixtures/geo/trace.jsonl")).unwrap();
    let events: Vec<Event> = TraceReader::new(std::io::BufReader::new(f))
        .filter_map(|r| match r.unwrap() {
            (_, Parsed::Event(e)) => Some(e),
            _ => None,
        })
        .collect();
    let (warm, rest) = events.split_at(50);
    run(&mut rt, warm.to_vec());
    let rest = rest.to_vec();
    let (taken, allocs) = count_allocs(|| run(&mut rt, rest));
    let geo = rt.stats().geofence.unwrap();
    assert!(geo.enters >= 1 && geo.exits >= 1, "{geo:?}");
    assert!(taken > 100, "fence and interval decisions ({taken})");
    assert_eq!(allocs, 0, "allocations in the geofence path");
}

#[test]
fn location_fixes_among_ten_thousand_fences_allocate_nothing() {
    ten_thousand_fences(None);
}

#[test]
fn the_fix_budget_allocates_nothing_once_its_ring_is_full() {
    // 4,000 fixes a second apart against 500 an hour: the ring fills and cycles.
    ten_thousand_fences(Some(500));
}

fn ten_thousand_fences(budget: Option<u32>) {
    use edgeintent::{EventKind, FenceDef, GeofenceConfig, SamplingConfig};
    // A deterministic scatter over 200 km x 200 km, as in `benches/geo.rs`.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let fences: Vec<FenceDef> = (0..10_000)
        .map(|i| FenceDef {
            id: format!("f{i}"),
            lat: 47.0 + 1.8 * next(),
            lon: 10.0 + 2.6 * next(),
            radius_m: 100.0 + 900.0 * next(),
            buffer_m: 500.0,
            category: String::new(),
        })
        .collect();
    let cfg = Config::from_file(root().join("fixtures/geo/config.json"))
        .unwrap()
        .with_geofence(Some(GeofenceConfig {
            coverage: None,
            fences,
            dwell_enter_s: 5.0,
            dwell_exit_s: 30.0,
            exit_margin_m: 25.0,
            sampling: SamplingConfig {
                max_fixes_per_hour: budget,
                ..SamplingConfig::default()
            },
        }))
        .expect("a valid geofence config");
    let mut rt = Runtime::builder().config(cfg).build().unwrap();
    // A 12 m/s drive across the region, one fix a second.
    let fix = |i: usize| Event {
        ts_ms: 1_000_000 + i as i64 * 1_000,
        kind: EventKind::Location {
            lat: 47.2 + i as f64 * 0.000_08,
            lon: 10.2 + i as f64 * 0.000_11,
            accuracy_m: 15.0,
            speed_mps: Some(12.0),
        },
    };
    let events: Vec<Event> = (0..4_000).map(fix).collect();
    let (warm, rest) = events.split_at(100);
    run(&mut rt, warm.to_vec());
    let rest = rest.to_vec();
    let (taken, allocs) = count_allocs(|| run(&mut rt, rest));
    let geo = rt.stats().geofence.unwrap();
    assert!(geo.enters >= 3, "{geo:?}");
    // Without a budget the interval changes often; with one it is held.
    assert!(taken > if budget.is_some() { 3 } else { 100 }, "{taken}");
    assert_eq!(
        allocs, 0,
        "allocations in the geofence path with 10,000 fences"
    );
}
