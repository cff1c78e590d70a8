//! Operators edgeintent adds to tract's ONNX importer, one file each, and the
//! one place they are registered. Parsing lives in each op's file; the tree
//! evaluation is kept apart in `native::trees` (no tract, no protobuf).

mod array_feature_extractor;
mod attrs;
mod binarizer;
mod feature_vectorizer;
mod imputer;
mod label_encoder;
mod one_hot_encoder;
mod scaler;
mod svm;
mod tree_ensemble;
mod zipmap;

pub(crate) use tree_ensemble::compile_ensemble;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::TractResult;

/// `CastMap` and `DictVectorizer` read ONNX maps, a type tract's tensors
/// cannot hold: say so, and what to do instead.
fn map_input(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(
    Box<dyn tract_onnx::tract_hir::internal::InferenceOp>,
    Vec<String>,
)> {
    tract_onnx::tract_hir::internal::bail!(
        "{} reads an ONNX map (map<int64|string, float|string>), which edgeintent cannot \
         take as input: only tensors are supported. Export the model for a dense tensor input \
         instead (for scikit-learn, put the DictVectorizer before the exported pipeline and \
         convert from its output)",
        node.op_type
    )
}

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
    reg.insert("ArrayFeatureExtractor", array_feature_extractor::parse);
    reg.insert("Imputer", imputer::parse);
    reg.insert("LabelEncoder", label_encoder::parse);
    reg.insert("OneHotEncoder", one_hot_encoder::parse);
    reg.insert("FeatureVectorizer", feature_vectorizer::parse);
    reg.insert("SVMClassifier", svm::parse_classifier);
    reg.insert("SVMRegressor", svm::parse_regressor);
    reg.insert("CastMap", map_input);
    reg.insert("DictVectorizer", map_input);
    onnx
}
