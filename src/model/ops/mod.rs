//! Operators edgeintent adds to tract's ONNX importer, one file each, and the
//! one place they are registered. Parsing lives in each op's file; the tree
//! evaluation is kept apart in `tree_eval` (no tract, no protobuf).

mod binarizer;
mod label_encoder;
mod scaler;
mod tree_ensemble;
mod tree_eval;
mod zipmap;

/// tract's ONNX importer with edgeintent's operators registered; ignores the
/// output shapes and types graphs declare (exporters get them wrong, e.g. a
/// `[1]` label for any batch, or ZipMap's map type).
pub fn importer() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx()
        .with_ignore_output_shapes(true)
        .with_ignore_output_types(true);
    let reg = &mut onnx.op_register;
    reg.insert("TreeEnsembleClassifier", tree_ensemble::parse_classifier);
    reg.insert("TreeEnsembleRegressor", tree_ensemble::parse_regressor);
    reg.insert("TreeEnsemble", tree_ensemble::parse_v5);
    reg.insert("ZipMap", zipmap::parse);
    reg.insert("Scaler", scaler::parse);
    reg.insert("Binarizer", binarizer::parse);
    reg.insert("LabelEncoder", label_encoder::parse);
    onnx
}
