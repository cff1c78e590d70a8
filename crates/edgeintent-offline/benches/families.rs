//! One criterion bench per model family, edgeintent (tract + edgeintent ops) and,
//! with `--features ort-compare` and `EDGEINTENT_ORT_LIB` set to the wheel's
//! libonnxruntime.so, ONNX Runtime on the same input.
//!
//! `cargo bench --bench families` (add `--features ort-compare` to compare)

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use edgeintent::OnnxGraph;
use edgeintent_offline::bench::{declared_input_shapes, random_input};

/// (bench name, model path relative to the repository).
const FAMILIES: [(&str, &str); 8] = [
    (
        "lightgbm_100x31_binary",
        "fixtures/families/lightgbm_binary_nozipmap.onnx",
    ),
    (
        "xgboost_60x_depth4_binary",
        "fixtures/families/xgboost_binary.onnx",
    ),
    (
        "random_forest_30x_depth6_binary",
        "fixtures/families/sklearn_random_forest_binary.onnx",
    ),
    (
        "logreg_binary",
        "fixtures/families/sklearn_logreg_binary_nozipmap.onnx",
    ),
    ("mlp_48_64_32_1", "fixtures/bench/mlp_48_64_32_1.onnx"),
    (
        "sklearn_mlp_binary",
        "fixtures/families/sklearn_mlp_binary.onnx",
    ),
    ("gru_window_32x32", "fixtures/bench/gru_window.onnx"),
    ("gru_step_32", "fixtures/bench/gru_step.onnx"),
];

fn families(c: &mut Criterion) {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    for (name, rel) in FAMILIES {
        let path = root.join(rel);
        let shapes = declared_input_shapes(&path).expect("model shapes");
        let inputs: Vec<Vec<f32>> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| random_input(s.iter().product(), 42 + i as u64))
            .collect();
        let refs: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
        let mut graph = OnnxGraph::load_inputs(&path, &shapes).expect("model loads");
        let mut group = c.benchmark_group(name);
        group.bench_function("edgeintent", |b| {
            b.iter(|| graph.run_discard(black_box(&refs)).unwrap())
        });
        #[cfg(feature = "ort-compare")]
        if let Ok(lib) = std::env::var("EDGEINTENT_ORT_LIB") {
            let mut ort = edgeintent_offline::bench::OrtRunner::load(lib.as_ref(), &path, &shapes)
                .expect("onnxruntime");
            group.bench_function("onnxruntime", |b| {
                b.iter(|| ort.run(black_box(&refs)).unwrap())
            });
        }
        group.finish();
    }
}

criterion_group!(benches, families);
criterion_main!(benches);
