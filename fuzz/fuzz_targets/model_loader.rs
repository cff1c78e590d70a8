//! Mutated ONNX bytes (seeded with the shipped models): loading returns a
//! model or an error, and never lets a panic escape. The loader catches
//! tract's own panics, so the fuzzer's abort-on-panic hook is silenced; a
//! panic that escaped would still abort and be reported.
#![no_main]

use std::path::Path;
use std::sync::Once;

use edgeintent::{FeatureSpec, IntentModel, ModelOptions};
use libfuzzer_sys::fuzz_target;

static QUIET: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let spec = FeatureSpec::from_json(include_str!("../../models/feature_spec.json")).expect("spec");
    let opts: ModelOptions =
        serde_json::from_str(r#"{"path": "fuzz.onnx", "require_spec_hash": false}"#).expect("options");
    if let Ok(mut m) = IntentModel::from_bytes(data, Path::new("fuzz.onnx"), &opts, &spec) {
        let x = vec![0.5f32; spec.features.len()];
        let seq = vec![0f32; spec.sequence_length];
        let _ = m.score(&x, &seq);
    }
});
