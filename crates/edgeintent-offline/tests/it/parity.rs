//! The shipped model gives ONNX Runtime's outputs (within 1e-5) through the
//! runtime's own path: raw features → normalisation from metadata → tract.

use edgeintent::{Config, IntentModel};

use crate::common::root;

/// A parity fixture: raw feature rows and ONNX Runtime's positive-class probabilities.
fn fixture(name: &str) -> (Vec<Vec<f32>>, Vec<f32>) {
    let root = root();
    let fx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("fixtures/parity").join(name)).unwrap(),
    )
    .unwrap();
    let rows = fx["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    let expected = fx["expected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    (rows, expected)
}

#[test]
fn shipped_model_matches_onnx_runtime_on_the_parity_vectors() {
    let root = root();
    let (rows, expected) = fixture("intent.json");
    let cfg = Config::from_file(root.join("models/config.json")).unwrap();
    let mut model = IntentModel::load(cfg.model().unwrap(), cfg.features()).unwrap();
    assert!(rows.len() >= 32);
    let seq = vec![0f32; cfg.features().sequence_length];
    for (x, want) in rows.iter().zip(expected) {
        let got = model.score(x, &seq).unwrap();
        assert!(
            (got - want).abs() <= 1e-5 || (got - want).abs() <= 1e-4 * want.abs(),
            "tract {got} vs onnxruntime {want}"
        );
    }
}

/// The same regression laid out as other exporters do (a logit output, a
/// sigmoid output, a second `sequence` input) scores identically.
#[test]
fn every_output_layout_gives_the_same_probability() {
    let root = root();
    let (rows, expected) = fixture("layouts.json");
    let cfg = Config::from_file(root.join("models/config.json")).unwrap();
    let seq = vec![3f32; cfg.features().sequence_length];
    for name in [
        "layout_probabilities",
        "layout_logit",
        "layout_sigmoid",
        "layout_with_sequence",
    ] {
        let mut opts = cfg.model().cloned().unwrap();
        opts.path = root.join(format!("fixtures/models/{name}.onnx"));
        let mut model = IntentModel::load(&opts, cfg.features()).unwrap();
        for (x, want) in rows.iter().zip(&expected) {
            let got = model.score(x, &seq).unwrap();
            assert!((got - want).abs() <= 1e-5, "{name}: {got} vs {want}");
        }
    }
}

#[test]
fn a_logit_read_as_a_probability_is_caught_as_a_bad_score() {
    let root = root();
    let cfg = Config::from_file(root.join("models/config.json")).unwrap();
    let mut opts = cfg.model().cloned().unwrap();
    opts.path = root.join("fixtures/models/layout_logit.onnx");
    opts.output.kind = edgeintent::OutputKind::Probability;
    let mut model = IntentModel::load(&opts, cfg.features()).unwrap();
    // Large inputs push the logit far outside [0, 1].
    let x = vec![50f32; cfg.features().len()];
    let err = model.score(&x, &[]).unwrap_err();
    assert!(matches!(err, edgeintent::ModelError::BadScore(_)), "{err}");
}
