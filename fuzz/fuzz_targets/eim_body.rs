//! Structure-aware `.eim` fuzzing: the input is a package *body* (the
//! bincode payload), wrapped here in a valid header with its SHA-256, so
//! mutations reach the decoder and the plan checks instead of dying at the
//! checksum. Loading returns a model or an error; a loaded model scores rows
//! without panicking (a failed run is an error). Seeded with the shipped
//! package's body and issue 35's crafted plans.
#![no_main]

use std::path::Path;

use edgeintent::{FeatureSpec, IntentModel, ModelOptions};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(|body: &[u8]| {
    let spec = FeatureSpec::from_json(include_str!("../../models/feature_spec.json")).expect("spec");
    let opts: ModelOptions = serde_json::from_str(
        r#"{"path": "fuzz.eim", "require_spec_hash": false, "max_memory_mb": 64}"#,
    )
    .expect("options");
    let mut bytes = b"EIM\0".to_vec();
    bytes.extend(1u32.to_le_bytes());
    bytes.extend((body.len() as u64).to_le_bytes());
    bytes.extend(Sha256::digest(body));
    bytes.extend(body);
    if let Ok(mut m) = IntentModel::from_bytes(&bytes, Path::new("fuzz.eim"), &opts, &spec) {
        let n = spec.features.len();
        for row in [vec![0.0f32; n], vec![1.0; n], vec![-1e30; n], vec![f32::NAN; n]] {
            let _ = m.score(&row, &[]);
        }
    }
});
