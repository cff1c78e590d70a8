//! What several of the added operators share: reading tensor attributes,
//! and the inference rules of an element-wise op.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::{Tensor, TractResult};

/// The rules of an element-wise op: one input, one output of its type and shape.
pub(super) fn same_type_and_shape<'r, 'p: 'r>(
    s: &mut tract_onnx::tract_hir::internal::Solver<'r>,
    inputs: &'p [tract_onnx::tract_hir::internal::TensorProxy],
    outputs: &'p [tract_onnx::tract_hir::internal::TensorProxy],
) -> tract_onnx::tract_hir::internal::InferenceResult {
    use tract_onnx::tract_hir::internal::*;
    check_input_arity(inputs, 1)?;
    check_output_arity(outputs, 1)?;
    s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
    s.equals(&outputs[0].shape, &inputs[0].shape)?;
    Ok(())
}

/// A tensor-valued attribute (`keys_tensor`, `nodes_splits`, ...), if set.
pub(super) fn tensor_attr(
    ctx: &ParsingContext,
    node: &NodeProto,
    name: &str,
) -> TractResult<Option<Tensor>> {
    match node
        .attribute
        .iter()
        .find(|a| a.name == name)
        .and_then(|a| a.t.as_ref())
    {
        Some(proto) => Ok(Some(ctx.load_tensor(proto)?)),
        None => Ok(None),
    }
}
