//! `ai.onnx.ml` `Imputer` (scikit-learn's `SimpleImputer`): every value equal
//! to `replaced_value_float` (NaN: every NaN) or `replaced_value_int64` is
//! replaced by its column's imputed value (or the one value given for all).
//! Expanded into tract's comparison and `Iff`.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::change_axes::wire_with_rank_broadcast;
use tract_onnx::tract_core::ops::logic::{comp_eq, comp_ne, Iff};
use tract_onnx::tract_hir::internal::*;

/// Parser for `Imputer`.
pub(crate) fn parse(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let floats: Option<Vec<f32>> = node.get_attr_opt_vec("imputed_value_floats")?;
    let ints: Option<Vec<i64>> = node.get_attr_opt_vec("imputed_value_int64s")?;
    let imputed = match (floats, ints) {
        (Some(f), None) if !f.is_empty() => Imputed::Float(f),
        (None, Some(i)) if !i.is_empty() => Imputed::Int(i),
        _ => bail!(
            "Imputer needs exactly one of imputed_value_floats and imputed_value_int64s, not empty"
        ),
    };
    let replaced_float: f32 = node.get_attr_opt("replaced_value_float")?.unwrap_or(0.0);
    let replaced_int: i64 = node.get_attr_opt("replaced_value_int64")?.unwrap_or(0);
    Ok((
        expand(Imputer {
            imputed,
            replaced_float,
            replaced_int,
        }),
        vec![],
    ))
}

#[derive(Debug, Clone)]
enum Imputed {
    Float(Vec<f32>),
    Int(Vec<i64>),
}

#[derive(Debug, Clone)]
struct Imputer {
    imputed: Imputed,
    replaced_float: f32,
    replaced_int: i64,
}

impl Imputer {
    fn width(&self) -> usize {
        match &self.imputed {
            Imputed::Float(v) => v.len(),
            Imputed::Int(v) => v.len(),
        }
    }
}

impl Expansion for Imputer {
    fn name(&self) -> StaticName {
        "Imputer".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        super::attrs::same_type_and_shape(s, inputs, outputs)
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let fact = model.outlet_fact(inputs[0])?.clone();
        let dt = fact.datum_type;
        let x = inputs[0];
        let width = self.width();
        if width > 1 {
            let cols = fact.shape.last().cloned().unwrap_or_else(|| 1.to_dim());
            ensure!(
                cols == width.to_dim(),
                "Imputer has {width} imputed values but the input has {cols} columns"
            );
        }
        let imputed = match &self.imputed {
            Imputed::Float(v) => tensor1(v),
            Imputed::Int(v) => tensor1(v),
        }
        .cast_to_dt(dt)?
        .into_owned();
        let imputed = model.add_const(format!("{prefix}.imputed"), imputed)?;
        let mask = if dt.is_float() && self.replaced_float.is_nan() {
            // NaN is the only value unequal to itself.
            wire_with_rank_broadcast(
                format!("{prefix}.isnan"),
                model,
                TypedBinOp(comp_ne(), None),
                &[x, x],
            )?
        } else {
            let replaced = if dt.is_float() {
                tensor0(self.replaced_float)
            } else {
                tensor0(self.replaced_int)
            }
            .cast_to_dt(dt)?
            .into_owned();
            let replaced = model.add_const(format!("{prefix}.replaced"), replaced)?;
            wire_with_rank_broadcast(
                format!("{prefix}.eq"),
                model,
                TypedBinOp(comp_eq(), None),
                &[x, replaced],
            )?
        };
        wire_with_rank_broadcast(prefix, model, Iff, &[mask[0], imputed, x])
    }
}
