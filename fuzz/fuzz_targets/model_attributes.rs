//! Attribute-level model mutations: the shipped model and committed exports
//! (trees, linear, MLP, GRU, SVMs, encoders, imputers, CatBoost, opset-5
//! tree ensembles, a typed multi-input pipeline) are decoded as ONNX protobuf, and the fuzzer
//! rewrites node attributes (ints, floats, int and float lists, their
//! lengths) and tensor dims (attribute tensors and initializers) to any value,
//! extremes included; the model is re-encoded, loaded and run. Loading
//! returns a model or an error within the memory budget, and never lets a
//! panic escape or spins (issue 15's `perm=[1,0,0]` and `[2^40, 2^24]` cases
//! are what this generalises).
#![no_main]

use std::io::Write;
use std::path::Path;
use std::sync::Once;

use edgeintent::{FeatureSpec, Importer, IntentModel, ModelOptions, OnnxGraph, TensorData, TensorGraph, TensorValue};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use tract_onnx::pb::ModelProto;

/// Seed models with the f32 input shapes they are run at.
const SEEDS: &[(&[u8], &[&[usize]])] = &[
    (include_bytes!("../../models/intent.onnx"), &[]),
    (include_bytes!("../../fixtures/families/lightgbm_binary.onnx"), &[&[1, 34]]),
    (include_bytes!("../../fixtures/families/lightgbm_regressor.onnx"), &[&[1, 34]]),
    (include_bytes!("../../fixtures/families/sklearn_gradient_boosting_multi.onnx"), &[&[1, 34]]),
    (include_bytes!("../../fixtures/families/sklearn_logreg_multi.onnx"), &[&[1, 34]]),
    (include_bytes!("../../fixtures/families/sklearn_minmax_scaler_logreg.onnx"), &[&[1, 34]]),
    (include_bytes!("../../fixtures/families/sklearn_mlp_binary.onnx"), &[&[1, 34]]),
    (include_bytes!("../../fixtures/bench/mlp_48_64_32_1.onnx"), &[&[1, 48]]),
    (include_bytes!("../../fixtures/bench/gru_step.onnx"), &[&[1, 1], &[1, 1, 32]]),
    (include_bytes!("../../fixtures/bench/gru_window.onnx"), &[&[1, 32]]),
    // Issue 18's operators.
    (include_bytes!("../../fixtures/families/sklearn_svc_rbf_multi.onnx"), &[&[1, 34]]),
    (include_bytes!("../../fixtures/families/sklearn_svc_poly_multi.onnx"), &[&[1, 34]]),
    (include_bytes!("../../fixtures/families/sklearn_svr_rbf.onnx"), &[&[1, 34]]),
    (include_bytes!("../../fixtures/families/sklearn_kbins_onehot_logreg.onnx"), &[&[1, 34]]),
    (include_bytes!("../../fixtures/families/sklearn_imputer_logreg.onnx"), &[&[1, 34]]),
    (include_bytes!("../../fixtures/families/sklearn_binarizer_bernoulli_nb.onnx"), &[&[1, 34]]),
    (include_bytes!("../../fixtures/families/sklearn_isolation_forest.onnx"), &[&[1, 34]]),
    (include_bytes!("../../fixtures/families/catboost_multi.onnx"), &[&[1, 34]]),
    (include_bytes!("../../fixtures/families/onnx_tree_ensemble_v5_forest_regressor.onnx"), &[&[1, 34]]),
];

/// The multi-input pipeline (four float columns, a string and an int64
/// column, each `[1, 1]`), run through the typed engine.
const TYPED_SEED: &[u8] = include_bytes!("../../fixtures/families/sklearn_column_transformer_logreg.onnx");

fn typed_inputs() -> Vec<TensorValue> {
    let one = |data| TensorValue { shape: vec![1, 1], data };
    let mut v: Vec<TensorValue> = (0..4).map(|_| one(TensorData::F32(vec![0.5]))).collect();
    v.push(one(TensorData::Text(vec!["surface-1".into()])));
    v.push(one(TensorData::I64(vec![3])));
    v
}

const SPECIAL_I: &[i64] = &[0, 1, -1, 2, 3, i64::MAX, i64::MIN, 1 << 24, 1 << 40, 1 << 62, -(1 << 40), 65_535];
const SPECIAL_F: &[f32] = &[0.0, -0.0, 1.0, -1.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, 1e-38];

static QUIET: Once = Once::new();

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn int(&mut self) -> Option<i64> {
        let pick = self.byte()? as usize;
        if pick < SPECIAL_I.len() {
            return Some(SPECIAL_I[pick]);
        }
        if pick < 128 {
            return Some(pick as i64 - 64);
        }
        let (head, rest) = self.0.split_at_checked(8)?;
        self.0 = rest;
        Some(i64::from_le_bytes(head.try_into().ok()?))
    }
    fn float(&mut self) -> Option<f32> {
        let pick = self.byte()? as usize;
        if pick < SPECIAL_F.len() {
            return Some(SPECIAL_F[pick]);
        }
        let (head, rest) = self.0.split_at_checked(4)?;
        self.0 = rest;
        Some(f32::from_le_bytes(head.try_into().ok()?))
    }
}

/// Applies one mutation; `None` when the input is used up.
fn mutate(m: &mut ModelProto, b: &mut Bytes<'_>) -> Option<()> {
    let graph = m.graph.as_mut()?;
    let what = b.byte()?;
    if what % 4 == 3 && !graph.initializer.is_empty() {
        // An initializer's dims, the allocation-bomb shape.
        let n = graph.initializer.len();
        let t = &mut graph.initializer[b.byte()? as usize % n];
        let d = b.byte()? as usize;
        let v = b.int()?;
        if d < t.dims.len() {
            t.dims[d] = v;
        } else if t.dims.len() < 8 {
            t.dims.push(v);
        } else {
            t.dims.clear();
        }
        return Some(());
    }
    let n = graph.node.len();
    if n == 0 {
        return None;
    }
    let node = &mut graph.node[b.byte()? as usize % n];
    if node.attribute.is_empty() {
        return Some(());
    }
    let na = node.attribute.len();
    let a = &mut node.attribute[b.byte()? as usize % na];
    match b.byte()? % 8 {
        0 => a.i = b.int()?,
        1 => a.f = b.float()?,
        2 if !a.ints.is_empty() => {
            let k = b.byte()? as usize % a.ints.len();
            a.ints[k] = b.int()?;
        }
        3 if !a.floats.is_empty() => {
            let k = b.byte()? as usize % a.floats.len();
            a.floats[k] = b.float()?;
        }
        // A list cut short or grown by one: class ids against labels, perm
        // against rank, tree arrays against each other.
        4 => {
            let keep = b.byte()? as usize;
            a.ints.truncate(keep % (a.ints.len() + 1));
            a.floats.truncate(keep % (a.floats.len() + 1));
        }
        5 => {
            let v = b.int()?;
            a.ints.push(v);
        }
        6 => {
            if let Some(t) = a.t.as_mut() {
                let v = b.int()?;
                match t.dims.first_mut() {
                    Some(d) => *d = v,
                    None => t.dims.push(v),
                }
            }
        }
        _ => a.r#type = i32::from(b.byte()? % 16),
    }
    Some(())
}

fuzz_target!(|data: &[u8]| {
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let Some((&pick, rest)) = data.split_first() else { return };
    let typed = pick as usize % (SEEDS.len() + 1) == SEEDS.len();
    let (seed, shapes) = if typed { (TYPED_SEED, &[][..]) } else { SEEDS[pick as usize % (SEEDS.len() + 1)] };
    let Ok(mut model) = ModelProto::decode(seed) else { return };
    let mut b = Bytes(rest);
    for _ in 0..16 {
        if mutate(&mut model, &mut b).is_none() {
            break;
        }
    }
    let bytes = model.encode_to_vec();
    if shapes.is_empty() && !typed {
        let spec = FeatureSpec::from_json(include_str!("../../models/feature_spec.json")).expect("spec");
        let opts = ModelOptions::for_path("fuzz.onnx");
        if let Ok(mut m) = IntentModel::from_bytes(&bytes, Path::new("fuzz.onnx"), &opts, &spec) {
            let x = vec![0.5f32; spec.features.len()];
            let seq = vec![0f32; spec.sequence_length];
            let _ = m.score(&x, &seq);
        }
        return;
    }
    // The general loader reads files; a per-process file in the temp folder.
    let path = std::env::temp_dir().join(format!("ei-fuzz-{}.onnx", std::process::id()));
    let Ok(mut f) = std::fs::File::create(&path) else { return };
    if f.write_all(&bytes).is_err() {
        return;
    }
    drop(f);
    if typed {
        let inputs = typed_inputs();
        if let Ok(g) = TensorGraph::load(&path, &inputs, Importer::Edgeintent) {
            let _ = g.run(&inputs);
        }
        return;
    }
    let shapes: Vec<Vec<usize>> = shapes.iter().map(|s| s.to_vec()).collect();
    if let Ok(mut g) = OnnxGraph::load_inputs(&path, &shapes) {
        let xs: Vec<Vec<f32>> = shapes.iter().map(|s| vec![0.25; s.iter().product()]).collect();
        let refs: Vec<&[f32]> = xs.iter().map(Vec::as_slice).collect();
        let _ = g.run_inputs(&refs);
    }
});
