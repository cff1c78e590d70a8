//! `ai.onnx.ml` `ArrayFeatureExtractor`: the columns of the last axis at the
//! given indices, `[..., C]` → `[..., k]`, as ONNX Runtime computes it. A
//! scalar index still gives one column (`[N, 1]`, what skl2onnx's
//! `KBinsDiscretizer` and calibrated classifiers concatenate); tract's own
//! version drops that axis.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_core::ops::array::Gather;
use tract_onnx::tract_hir::internal::*;

/// Parser for `ArrayFeatureExtractor`.
pub(crate) fn parse(
    _ctx: &ParsingContext,
    _node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((expand(ArrayFeatureExtractor), vec![]))
}

#[derive(Debug, Clone)]
struct ArrayFeatureExtractor;

impl Expansion for ArrayFeatureExtractor {
    fn name(&self) -> StaticName {
        "ArrayFeatureExtractor".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.equals(&outputs[0].rank, &inputs[0].rank)?;
        s.given(&inputs[0].rank, move |s, rank| {
            for axis in 0..(rank as usize).saturating_sub(1) {
                s.equals(&outputs[0].shape[axis], &inputs[0].shape[axis])?;
            }
            Ok(())
        })?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let x = model.outlet_fact(inputs[0])?.clone();
        let idx = model.outlet_fact(inputs[1])?.clone();
        ensure!(
            x.rank() >= 1,
            "ArrayFeatureExtractor needs an input of rank 1 or more"
        );
        // The indices as one flat list.
        let k: TDim = idx.shape.iter().product();
        let flat = model.wire_node(
            format!("{prefix}.indices"),
            AxisOp::Reshape(0, idx.shape.to_tvec(), tvec![k]),
            &[inputs[1]],
        )?;
        model.wire_node(prefix, Gather::new(x.rank() - 1), &[inputs[0], flat[0]])
    }
}
