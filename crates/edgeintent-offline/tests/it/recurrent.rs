//! Recurrent models stepped once per event reproduce the full-window scores,
//! and the runtime carries their state so decisions cost no extra model call.

use crate::common::*;

use edgeintent::{
    Config, Event, EventKind, EventType, FeedbackKind, ModelOptions, RecurrentModel,
    RecurrentOptions, Runtime,
};

fn fixture() -> serde_json::Value {
    json_file(root().join("fixtures/bench/gru.json"))
}

/// The shipped config with the benchmark GRU (which carries no package metadata).
fn gru_config() -> Config {
    let cfg = Config::from_file(root().join("models/config.json")).unwrap();
    let mut opts: ModelOptions = cfg.model().cloned().unwrap();
    opts.path = root().join("fixtures/bench/gru_step.onnx");
    opts.require_spec_hash = false;
    opts.recurrent = Some(RecurrentOptions::default());
    cfg.with_model(Some(opts)).unwrap()
}

#[test]
fn stepping_reproduces_onnx_runtime_window_scores() {
    let cfg = gru_config();
    let opts = cfg.model().unwrap();
    let mut model =
        RecurrentModel::load(opts, cfg.features(), &RecurrentOptions::default()).unwrap();
    // Embedding, GRU step and head all have native kernels.
    assert_eq!(model.engine(), "native", "{:?}", model.not_native_reason());
    let fx = fixture();
    let seqs = fx["sequences"].as_array().unwrap();
    for (seq, want) in seqs.iter().zip(fx["window_scores"].as_array().unwrap()) {
        model.reset().unwrap();
        let mut score = 0.0;
        for id in seq.as_array().unwrap() {
            score = model.step(id.as_f64().unwrap() as u32).unwrap();
        }
        let want = want.as_f64().unwrap() as f32;
        assert!(
            (score - want).abs() < 1e-5,
            "stepped {score} vs window {want}"
        );
        assert_eq!(model.last_score(), Some(score));
    }
}

/// An event of the given type, valid per the trace contract.
fn event_of(ty: EventType, ts_ms: i64) -> Event {
    let s = |v: &str| v.to_owned();
    let kind = match ty {
        EventType::AppForeground => EventKind::AppForeground,
        EventType::AppBackground => EventKind::AppBackground,
        EventType::PageView => EventKind::PageView { page: s("detail") },
        EventType::Scroll => EventKind::Scroll {
            page: s("home"),
            dy_px: 300.0,
        },
        EventType::Exposure => EventKind::Exposure {
            slot: s("feed"),
            items: vec![s("a")],
        },
        EventType::Click => EventKind::Click {
            slot: s("feed"),
            item: s("a"),
        },
        EventType::PullToRefresh => EventKind::PullToRefresh { page: s("home") },
        EventType::Feedback => EventKind::Feedback {
            item: s("a"),
            kind: FeedbackKind::Dislike,
        },
        EventType::Search => EventKind::Search { query_len: Some(3) },
        EventType::Location => EventKind::Location {
            lat: 1.0,
            lon: 2.0,
            accuracy_m: 5.0,
            speed_mps: None,
        },
        EventType::Notification => EventKind::Notification {
            topic: s("feed"),
            importance: Some(0.5),
        },
        EventType::Recommendations => EventKind::Recommendations {
            slot: s("feed"),
            items: vec![],
        },
        EventType::Custom => EventKind::Custom {
            name: s("x"),
            value: None,
        },
    };
    Event { ts_ms, kind }
}

#[test]
fn the_runtime_steps_once_per_event_and_decides_without_another_call() {
    let mut rt = Runtime::builder().config(gru_config()).build().unwrap();
    let fx = fixture();
    let seq = fx["sequences"][0].as_array().unwrap();
    let mut ts = 1_767_600_000_000;
    for id in seq {
        let ty = EventType::ALL[id.as_f64().unwrap() as usize - 1];
        ts += 1_000;
        rt.process(event_of(ty, ts)).unwrap();
    }
    let s = rt.stats();
    assert_eq!(
        s.model_calls,
        seq.len() as u64,
        "one step per event, none per decision point"
    );
    assert_eq!(s.model_errors, 0);
    // A homepage view now decides from the carried score.
    rt.process(Event {
        ts_ms: ts + 120_000,
        kind: EventKind::PageView {
            page: "home".into(),
        },
    })
    .unwrap();
    assert_eq!(
        rt.stats().model_calls,
        seq.len() as u64 + 1,
        "only the page view's own step"
    );
}

/// An LSTM step (`training/recurrent_cells.py`) carries two states, `h` and
/// `c`: stepped natively from zeros it scores every event as ONNX Runtime
/// does, and a second state named by half is a clear error.
#[test]
fn an_lstm_step_carries_h_and_c_as_onnx_runtime_does() {
    let cfg = Config::from_file(root().join("models/config.json")).unwrap();
    let mut opts: ModelOptions = cfg.model().cloned().unwrap();
    opts.path = root().join("fixtures/recurrent/lstm_step.onnx");
    opts.require_spec_hash = false;
    let rec = RecurrentOptions {
        cell_input: Some("c_in".into()),
        cell_output: Some("c_out".into()),
        ..RecurrentOptions::default()
    };
    let mut model = RecurrentModel::load(&opts, cfg.features(), &rec).unwrap();
    assert_eq!(model.engine(), "native", "{:?}", model.not_native_reason());
    let fx = json_file(root().join("fixtures/recurrent/lstm_step.json"));
    let seqs = fx["sequences"].as_array().unwrap();
    let wants = fx["sequence_scores"].as_array().unwrap();
    for (seq, want) in seqs.iter().zip(wants) {
        model.reset().unwrap();
        for (id, w) in seq.as_array().unwrap().iter().zip(want.as_array().unwrap()) {
            let got = model.step(id.as_u64().unwrap() as u32).unwrap();
            let w = w.as_f64().unwrap() as f32;
            assert!((got - w).abs() < 1e-5, "{got} vs onnxruntime {w}");
        }
    }

    let half = RecurrentOptions {
        cell_input: Some("c_in".into()),
        ..RecurrentOptions::default()
    };
    let err = RecurrentModel::load(&opts, cfg.features(), &half)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cell_input and cell_output"), "{err}");
    // Without the second state the model's third input is unaccounted for.
    let err = RecurrentModel::load(&opts, cfg.features(), &RecurrentOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("c_in"), "{err}");
}
