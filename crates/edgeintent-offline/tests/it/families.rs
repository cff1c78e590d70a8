//! Every exported model family in `fixtures/families/` loads with edgeintent's
//! importer and gives ONNX Runtime's outputs: labels exactly, numbers within
//! 1e-5 absolute or 1e-4 relative. Fixtures come from `training/families.py`.

use std::path::PathBuf;

use edgeintent::{Importer, OnnxGraph, OutputValues, TensorData, TensorGraph, TensorValue};

fn families_dir() -> PathBuf {
    crate::common::root().join("fixtures/families")
}

/// A fixture's `typed_inputs` entry as a tensor.
fn typed_input(v: &serde_json::Value) -> TensorValue {
    let shape = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let values = v["values"].as_array().unwrap();
    let data = match v["dtype"].as_str().unwrap() {
        "float32" => TensorData::F32(values.iter().map(|x| x.as_f64().unwrap() as f32).collect()),
        "float64" => TensorData::F64(values.iter().map(|x| x.as_f64().unwrap()).collect()),
        "int64" => TensorData::I64(values.iter().map(|x| x.as_i64().unwrap()).collect()),
        "string" => TensorData::Text(
            values
                .iter()
                .map(|x| x.as_str().unwrap().to_owned())
                .collect(),
        ),
        other => panic!("fixture dtype {other}"),
    };
    TensorValue { shape, data }
}

/// Runs a typed or multi-input family; outputs as the float path gives them.
fn run_typed(
    model: &std::path::Path,
    typed: &serde_json::Value,
) -> Result<Vec<edgeintent::GraphOutput>, String> {
    let inputs: Vec<TensorValue> = typed.as_array().unwrap().iter().map(typed_input).collect();
    let graph =
        TensorGraph::load(model, &inputs, Importer::Edgeintent).map_err(|e| e.to_string())?;
    let outputs = graph.run(&inputs).map_err(|e| e.to_string())?;
    outputs
        .into_iter()
        .map(|(name, t)| {
            let values = match t.data {
                TensorData::F32(v) => OutputValues::Float(v.into_iter().map(f64::from).collect()),
                TensorData::F64(v) => OutputValues::Float(v),
                TensorData::I64(v) => OutputValues::Int(v),
                TensorData::Text(v) => OutputValues::Text(v),
                other => return Err(format!("{name}: unexpected {} output", other.type_name())),
            };
            Ok(edgeintent::GraphOutput {
                name,
                shape: t.shape,
                values,
            })
        })
        .collect()
}

/// (family, largest absolute difference over its float outputs).
fn check_family(json: &std::path::Path) -> Result<f64, String> {
    let fx: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let shape: Vec<usize> = fx["input_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let x: Vec<f32> = fx["inputs"]
        .as_array()
        .unwrap()
        .iter()
        // null stands for NaN (a missing value), which JSON cannot spell.
        .flat_map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().map_or(f32::NAN, |v| v as f32))
        })
        .collect();
    let model = families_dir().join(fx["model"].as_str().unwrap());
    let outputs = match fx.get("typed_inputs") {
        None => OnnxGraph::load(&model, &shape)
            .and_then(|mut g| g.run(&x))
            .map_err(|e| e.to_string())?,
        Some(typed) => run_typed(&model, typed)?,
    };
    let expected = fx["outputs"].as_object().unwrap();
    if outputs.len() != expected.len() {
        return Err(format!(
            "{} outputs, onnxruntime has {}",
            outputs.len(),
            expected.len()
        ));
    }
    let mut max_diff = 0f64;
    for out in &outputs {
        let want = expected[&out.name]
            .as_array()
            .ok_or(format!("no output {}", out.name))?;
        let want_shape = &fx["shapes"][&out.name];
        let want_len: u64 = want_shape
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .product();
        if want_len as usize != want.len() || out.shape.iter().product::<usize>() != want.len() {
            return Err(format!(
                "{}: shape {:?} vs onnxruntime {want_shape}",
                out.name, out.shape
            ));
        }
        match &out.values {
            OutputValues::Int(got) => {
                for (i, (g, w)) in got.iter().zip(want).enumerate() {
                    if *g != w.as_i64().unwrap() {
                        return Err(format!("{}[{i}]: label {g} vs onnxruntime {w}", out.name));
                    }
                }
            }
            OutputValues::Float(got) => {
                for (i, (g, w)) in got.iter().zip(want).enumerate() {
                    let w = w.as_f64().unwrap();
                    let d = (g - w).abs();
                    max_diff = max_diff.max(d);
                    if d > 1e-5 && d > 1e-4 * w.abs() {
                        return Err(format!("{}[{i}]: {g} vs onnxruntime {w}", out.name));
                    }
                }
            }
            OutputValues::Text(got) => {
                for (i, (g, w)) in got.iter().zip(want).enumerate() {
                    if Some(g.as_str()) != w.as_str() {
                        return Err(format!("{}[{i}]: label {g} vs onnxruntime {w}", out.name));
                    }
                }
            }
        }
    }
    Ok(max_diff)
}

#[test]
fn every_model_family_matches_onnx_runtime() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(families_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("REPORT.json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 45,
        "expected the exported families, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    let mut worst = (String::new(), 0f64);
    for f in &files {
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        match check_family(f) {
            Ok(d) => {
                eprintln!("{name}: ok, max |diff| {d:.3e}");
                if d > worst.1 {
                    worst = (name, d);
                }
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    eprintln!("largest difference: {} ({:.3e})", worst.0, worst.1);
    assert!(
        failures.is_empty(),
        "families failing:\n{}",
        failures.join("\n")
    );
}

/// A pure Gemm/Relu/Sigmoid chain scores on the native executor, as tract
/// (its oracle) does on random inputs.
#[test]
fn a_dense_chain_runs_natively_and_matches_tract() {
    let path = crate::common::root().join("fixtures/bench/mlp_48_64_32_1.onnx");
    let mut native = edgeintent::NativeModel::load(&path, None).unwrap();
    let mut tract = OnnxGraph::load_inputs(&path, &[vec![1, 48]]).unwrap();
    for seed in 0..50 {
        let x: Vec<f32> = edgeintent_offline::bench::random_input(48, seed)
            .iter()
            .map(|v| v * 4.0)
            .collect();
        let b = tract.run(&x).unwrap();
        let OutputValues::Float(b) = &b[0].values else {
            panic!("float outputs");
        };
        let a = native.run(&x).unwrap();
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((f64::from(*x) - y).abs() < 1e-5, "native {x} vs tract {y}");
        }
    }
}

/// `predict --input X.npz` drives typed and multi-input families (float,
/// string and int64 columns; a double-precision graph) to ONNX Runtime's
/// outputs, and names what is wrong with arrays that do not fit.
#[test]
fn predict_runs_typed_and_multi_input_families_from_numpy_arrays() {
    use crate::common::{edgeintent, text};
    for name in [
        "sklearn_column_transformer_logreg",
        "sklearn_linear_regression_double",
    ] {
        let dir = families_dir();
        let model = dir.join(format!("{name}.onnx"));
        let input = dir.join(format!("{name}.npz"));
        let out = edgeintent(&[
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let fx: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        let mut got: std::collections::BTreeMap<String, Vec<serde_json::Value>> =
            Default::default();
        for line in text(&out.stdout).lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            for (k, v) in row.as_object().unwrap() {
                got.entry(k.clone())
                    .or_default()
                    .extend(v.as_array().unwrap().iter().cloned());
            }
        }
        for (k, want) in fx["outputs"].as_object().unwrap() {
            let want = want.as_array().unwrap();
            let have = &got[k];
            assert_eq!(have.len(), want.len(), "{name}.{k}");
            for (h, w) in have.iter().zip(want) {
                let (h, w) = (h.as_f64().unwrap(), w.as_f64().unwrap());
                assert!(
                    (h - w).abs() <= 1e-5 + 1e-4 * w.abs(),
                    "{name}.{k}: {h} vs {w}"
                );
            }
        }
    }
    // One array for a six-input model; an archive whose names miss an input.
    let ct = families_dir().join("sklearn_column_transformer_logreg.onnx");
    let double = families_dir().join("sklearn_linear_regression_double.npz");
    let out = edgeintent(&[
        "predict",
        "--model",
        ct.to_str().unwrap(),
        "--input",
        double.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("array `input` names no input of the model (its inputs: dwell, gap, scroll, taps, surface, hour)"),
        "{err}"
    );
}
