//! `ai.onnx.ml` `Scaler` (scikit-learn's StandardScaler, MinMaxScaler and
//! friends): `y = (x - offset) * scale`, per feature or broadcast from one
//! value. Expanded into tract's own `Sub` and `Mul` so it optimises like them.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

/// Parser for `Scaler`.
pub(crate) fn parse(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let offset: Vec<f32> = node
        .get_attr_opt_vec("offset")?
        .unwrap_or_else(|| vec![0.0]);
    let scale: Vec<f32> = node.get_attr_opt_vec("scale")?.unwrap_or_else(|| vec![1.0]);
    node.expect_attr("offset", !offset.is_empty(), "at least one value")?;
    node.expect_attr("scale", !scale.is_empty(), "at least one value")?;
    Ok((expand(Scaler { offset, scale }), vec![]))
}

#[derive(Debug, Clone)]
struct Scaler {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

fn row(v: &[f32]) -> TractResult<Arc<Tensor>> {
    Ok(tensor1(v).into_shape(&[1, v.len()])?.into_arc_tensor())
}

impl Expansion for Scaler {
    fn name(&self) -> StaticName {
        "Scaler".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        let width = self.offset.len().max(self.scale.len());
        if width > 1 {
            s.equals(&inputs[0].shape[1], width.to_dim())?;
        }
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let x = model.wire_node(
            format!("{prefix}.cast"),
            tract_onnx::tract_core::ops::cast::cast(f32::datum_type()),
            inputs,
        )?;
        let offset = model.add_const(format!("{prefix}.offset"), row(&self.offset)?)?;
        let scale = model.add_const(format!("{prefix}.scale"), row(&self.scale)?)?;
        let centred = model.wire_node(
            format!("{prefix}.sub"),
            tract_onnx::tract_core::ops::math::sub(),
            &[x[0], offset],
        )?;
        model.wire_node(
            format!("{prefix}.mul"),
            tract_onnx::tract_core::ops::math::mul(),
            &[centred[0], scale],
        )
    }
}
