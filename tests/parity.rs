//! The shipped model gives ONNX Runtime's outputs (within 1e-5) through the
//! runtime's own path: raw features → normalisation from metadata → tract.

use std::path::PathBuf;

use edgeintent::{Config, IntentModel};

#[test]
fn shipped_model_matches_onnx_runtime_on_the_parity_vectors() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("fixtures/parity/intent_lr.json")).unwrap(),
    )
    .unwrap();
    let cfg = Config::from_file(root.join("models/config.json")).unwrap();
    let mut model = IntentModel::load(cfg.model.as_ref().unwrap(), &cfg.features).unwrap();
    let rows = fixture["rows"].as_array().unwrap();
    let expected = fixture["expected"].as_array().unwrap();
    assert!(rows.len() >= 32);
    let seq = vec![0f32; cfg.features.sequence_length];
    for (row, want) in rows.iter().zip(expected) {
        let x: Vec<f32> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let got = model.score(&x, &seq).unwrap();
        let want = want.as_f64().unwrap() as f32;
        assert!(
            (got - want).abs() <= 1e-5 || (got - want).abs() <= 1e-4 * want.abs(),
            "tract {got} vs onnxruntime {want}"
        );
    }
}
