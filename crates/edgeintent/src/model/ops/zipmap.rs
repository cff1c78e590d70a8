//! `ai.onnx.ml` `ZipMap`: ONNX Runtime turns the probability tensor into a
//! sequence of `{label: probability}` maps. tract has no map type, so the
//! output stays the `[N, classes]` probability tensor, columns in label order:
//! the same numbers, which is what every consumer of the map reads.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

/// Parser for `ZipMap`.
pub(crate) fn parse(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ints = node
        .get_attr_opt_slice::<i64>("classlabels_int64s")?
        .map(|s| s.len());
    let strs = node
        .get_attr_opt_tvec::<String>("classlabels_strings")?
        .map(|s| s.len());
    let classes = match (ints, strs) {
        (Some(n), None) | (None, Some(n)) => n,
        _ => bail!("ZipMap needs exactly one of classlabels_int64s and classlabels_strings"),
    };
    Ok((expand(ZipMap { classes }), vec![]))
}

#[derive(Debug, Clone)]
struct ZipMap {
    classes: usize,
}

impl Expansion for ZipMap {
    fn name(&self) -> StaticName {
        "ZipMap".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&inputs[0].shape[1], self.classes.to_dim())?;
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        // A real node (not the input outlet itself) keeps the graph output's own name.
        model.wire_node(
            prefix,
            tract_onnx::tract_core::ops::identity::Identity,
            inputs,
        )
    }
}
