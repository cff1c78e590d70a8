//! The native executor against its oracles: ONNX Runtime's committed outputs
//! for every exported family it compiles (48 rows, NaN rows included), and
//! tract on 200 random rows per family. The families it must take are named.

use std::path::PathBuf;

use edgeintent::{NativeModel, OnnxGraph, OutputValues};

fn families() -> Vec<PathBuf> {
    let dir = crate::common::root().join("fixtures/families");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("REPORT.json"))
        .collect();
    v.sort();
    v
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-5 || (a - b).abs() <= 1e-4 * b.abs()
}

/// The families the native executor must take: tree ensembles of every
/// exporter, linear models, MLPs and the pipelines around them.
const MUST: &[&str] = &[
    "lightgbm_binary",
    "lightgbm_binary_nozipmap",
    "lightgbm_multi",
    "lightgbm_regressor",
    "lightgbm_binary_missing",
    "xgboost_binary",
    "xgboost_multi",
    "xgboost_regressor",
    "catboost_binary",
    "catboost_multi",
    "catboost_regressor",
    "sklearn_random_forest_binary",
    "sklearn_random_forest_regressor",
    "sklearn_gradient_boosting_multi",
    "sklearn_decision_tree_binary",
    "onnx_tree_ensemble_v5_forest_regressor",
    "sklearn_logreg_binary",
    "sklearn_logreg_multi",
    "sklearn_standard_scaler_logreg",
    "sklearn_minmax_scaler_logreg",
    "sklearn_normalizer_logreg",
    "sklearn_imputer_logreg",
    "sklearn_pca_logreg",
    "sklearn_linear_svc",
    "sklearn_mlp_binary",
    "sklearn_mlp_multi_nozipmap",
    "sklearn_mlp_regressor",
    "sklearn_sgd_log_binary",
    "sklearn_linear_regression",
    "sklearn_ridge_regressor",
];

#[test]
fn native_executor_matches_onnx_runtime_and_tract_on_every_family_it_compiles() {
    let mut native = Vec::new();
    let mut failures = Vec::new();
    for json in families() {
        let name = json.file_stem().unwrap().to_string_lossy().into_owned();
        let fx = crate::common::json_file(&json);
        if fx.get("typed_inputs").is_some() {
            continue;
        }
        let model_path = json.with_extension("onnx");
        let Ok(mut m) = NativeModel::load(&model_path, None) else {
            continue;
        };
        native.push(name.clone());
        let width = m.input_len();
        let want = fx["outputs"][m.output_name()].as_array().unwrap();
        let rows: Vec<Vec<f32>> = fx["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().map_or(f32::NAN, |v| v as f32))
                    .collect()
            })
            .collect();
        let per_row = want.len() / rows.len();
        for (i, row) in rows.iter().enumerate() {
            let got = m.run(row).unwrap();
            assert_eq!(got.len(), per_row, "{name}");
            for (k, g) in got.iter().enumerate() {
                let w = want[i * per_row + k].as_f64().unwrap();
                if !close(f64::from(*g), w) {
                    failures.push(format!(
                        "{name} row {i}[{k}]: native {g} vs onnxruntime {w}"
                    ));
                }
            }
        }
        // tract on random rows, NaN in some (trees route them).
        let mut tract = OnnxGraph::load(&model_path, &[1, width]).unwrap();
        let out_ix = tract
            .output_names()
            .iter()
            .position(|o| o == m.output_name())
            .unwrap();
        for seed in 0..200u64 {
            let mut x: Vec<f32> = edgeintent_offline::bench::random_input(width, seed)
                .iter()
                .map(|v| v * 3.0)
                .collect();
            // NaN only for trees, which route it; tract's matrix kernels do not
            // propagate NaN as ONNX Runtime does, so it is no oracle there.
            let tree = [
                "tree", "forest", "boosting", "lightgbm", "xgboost", "catboost",
            ]
            .iter()
            .any(|k| name.contains(k));
            if tree && seed % 5 == 0 {
                x[(seed as usize / 5) % width] = f32::NAN;
            }
            let t = tract.run(&x).unwrap();
            let OutputValues::Float(t) = &t[out_ix].values else {
                panic!("{name}: float output");
            };
            let got = m.run(&x).unwrap();
            for (g, w) in got.iter().zip(t) {
                if !close(f64::from(*g), *w) {
                    failures.push(format!("{name} random row {seed}: native {g} vs tract {w}"));
                    break;
                }
            }
        }
    }
    eprintln!("native: {} families: {}", native.len(), native.join(", "));
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures[..failures.len().min(30)].join("\n")
    );
    let missing: Vec<&&str> = MUST
        .iter()
        .filter(|m| !native.iter().any(|n| n == *m))
        .collect();
    assert!(missing.is_empty(), "not native: {missing:?}");
}

#[test]
fn the_shipped_model_scores_natively_and_unsupported_nodes_are_named() {
    let root = crate::common::root();
    let m = NativeModel::load(&root.join("models/intent.onnx"), Some("probabilities")).unwrap();
    assert_eq!(m.input_len(), 34);
    let err = NativeModel::load(
        &root.join("fixtures/families/sklearn_knn_binary.onnx"),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("not native: node") && err.contains("Scan"),
        "{err}"
    );
}

/// `compile` writes the shipped package byte for byte; a runtime on it
/// decides exactly as on the ONNX file; damaged packages are refused.
#[test]
fn eim_packages_compile_reproducibly_replay_identically_and_refuse_damage() {
    use crate::common::{edgeintent, text};
    let root = crate::common::root();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("intent.eim");
    let r = edgeintent(&["compile", "models/intent.onnx", "-o", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(
        bytes,
        std::fs::read(root.join("models/intent.eim")).unwrap(),
        "models/intent.eim is stale: rerun `edgeintent compile models/intent.onnx -o models/intent.eim`"
    );
    let onnx = edgeintent(&["replay", "fixtures/example_trace.jsonl"]);
    let eim = edgeintent(&[
        "replay",
        "--config",
        "models/config.device.json",
        "fixtures/example_trace.jsonl",
    ]);
    assert!(
        onnx.status.success() && eim.status.success(),
        "{}",
        text(&eim.stderr)
    );
    assert!(text(&onnx.stdout).lines().count() > 100);
    assert_eq!(text(&onnx.stdout), text(&eim.stdout), "decisions differ");

    let cfg = edgeintent::Config::from_file(root.join("models/config.device.json")).unwrap();
    let opts = cfg.model().unwrap().clone();
    let load = |b: &[u8]| {
        edgeintent::IntentModel::from_bytes(b, std::path::Path::new("x.eim"), &opts, cfg.features())
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(
        load(&flipped).contains("checksum mismatch"),
        "{}",
        load(&flipped)
    );
    assert!(load(&bytes[..bytes.len() - 10]).contains("payload bytes"));
    let mut v2 = bytes.clone();
    v2[4] = 2;
    assert!(load(&v2).contains("format version 2"));
    assert!(load(&bytes[..20]).contains("too short"));
    // A package for other features is refused like an ONNX file would be.
    let mut other = cfg.features().clone();
    other.version = "other".into();
    let err =
        edgeintent::IntentModel::from_bytes(&bytes, std::path::Path::new("x.eim"), &opts, &other)
            .unwrap_err()
            .to_string();
    assert!(err.contains("feature spec"), "{err}");
}

/// The runtime scores the shipped model on the native executor.
#[test]
fn the_runtime_loads_the_shipped_model_on_the_native_executor() {
    let root = crate::common::root();
    let cfg = edgeintent::Config::from_file(root.join("models/config.json")).unwrap();
    let mut opts = cfg.model().unwrap().clone();
    opts.path = root.join("models/intent.onnx");
    let m = edgeintent::IntentModel::load(&opts, cfg.features()).unwrap();
    assert_eq!(m.engine(), "native");
    assert!(m.not_native_reason().is_none());
}

/// One-step GRU (both reset forms) and LSTM (with and without peepholes)
/// cells, as `training/recurrent_cells.py` exports them: every output of the
/// native step matches ONNX Runtime's committed values and tract's on 100
/// random rows, state inputs included.
#[test]
fn native_recurrent_cells_match_onnx_runtime_and_tract() {
    let dir = crate::common::root().join("fixtures/recurrent");
    let mut checked = 0;
    for kind in [
        "gru_reset_after",
        "gru_reset_before",
        "lstm",
        "lstm_peepholes",
        "lstm_step",
    ] {
        let path = dir.join(format!("{kind}.onnx"));
        let fx = crate::common::json_file(path.with_extension("json"));
        let widths: Vec<usize> = fx["widths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_u64().unwrap() as usize)
            .collect();
        let floats = |v: &serde_json::Value| -> Vec<f32> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        };
        let mut tract = OnnxGraph::load_inputs(
            &path,
            &fx["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .zip(&widths)
                .map(|(n, &w)| match n.as_str().unwrap() {
                    "event" => vec![1, 1],
                    _ => vec![1, 1, w],
                })
                .collect::<Vec<_>>(),
        )
        .unwrap();
        for (name, want) in fx["outputs"].as_object().unwrap() {
            let mut m = NativeModel::load(&path, Some(name)).unwrap();
            assert_eq!(m.input_widths(), widths, "{kind}");
            for (i, row) in fx["rows"].as_array().unwrap().iter().enumerate() {
                let inputs: Vec<Vec<f32>> = row.as_array().unwrap().iter().map(floats).collect();
                let views: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
                let got = m.run_inputs(&views).unwrap().to_vec();
                let want = floats(&want[i]);
                assert_eq!(got.len(), want.len(), "{kind} {name}");
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        close(f64::from(*g), f64::from(*w)),
                        "{kind} {name} row {i}: native {g} vs onnxruntime {w}"
                    );
                }
                checked += 1;
            }
            let out_ix = tract.output_names().iter().position(|o| o == name).unwrap();
            for seed in 0..100u64 {
                let inputs: Vec<Vec<f32>> = widths
                    .iter()
                    .enumerate()
                    .map(|(k, &w)| {
                        let mut v = edgeintent_offline::bench::random_input(w, seed * 7 + k as u64);
                        if widths.len() > 1 && w == 1 {
                            // An event id: every id of the embedding table.
                            v[0] = (seed % 14) as f32;
                        }
                        v
                    })
                    .collect();
                let views: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
                let t = tract.run_inputs(&views).unwrap();
                let OutputValues::Float(t) = &t[out_ix].values else {
                    panic!("{kind}: float output");
                };
                let got = m.run_inputs(&views).unwrap();
                for (g, w) in got.iter().zip(t) {
                    assert!(
                        close(f64::from(*g), *w),
                        "{kind} {name} random row {seed}: native {g} vs tract {w}"
                    );
                }
            }
        }
    }
    assert_eq!(checked, 32 * (2 + 2 + 3 + 3 + 3));
}
