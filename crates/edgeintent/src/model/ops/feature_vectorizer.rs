//! `ai.onnx.ml` `FeatureVectorizer`: concatenates its inputs' columns into
//! one float matrix, each input taking `inputdimensions[i]` columns (extra
//! columns dropped, missing ones zero), as ONNX Runtime does. Inputs may be
//! int32, int64, float or double; a rank-1 input is one row.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

/// Parser for `FeatureVectorizer`.
pub(crate) fn parse(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let dims = node
        .get_attr_opt_slice::<i64>("inputdimensions")?
        .unwrap_or(&[]);
    let dims = dims
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| format_err!("FeatureVectorizer: inputdimensions holds a negative size"))?;
    ensure!(
        dims.len() == node.input.len(),
        "FeatureVectorizer: {} inputdimensions for {} inputs",
        dims.len(),
        node.input.len()
    );
    ensure!(
        dims.iter()
            .try_fold(0usize, |a, &d| a.checked_add(d))
            .is_some_and(|t| t <= 1 << 24),
        "FeatureVectorizer: more than 2^24 columns"
    );
    Ok((expand(FeatureVectorizer { dims: dims.into() }), vec![]))
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FeatureVectorizer {
    dims: TVec<usize>,
}

impl FeatureVectorizer {
    fn total(&self) -> usize {
        self.dims.iter().sum()
    }
}

fn rows_of(shape: &[usize]) -> usize {
    if shape.len() <= 1 {
        1
    } else {
        shape[0]
    }
}

impl Op for FeatureVectorizer {
    fn name(&self) -> StaticName {
        "FeatureVectorizer".into()
    }

    op_as_typed_op!();
}

impl EvalOp for FeatureVectorizer {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(
            inputs.len() == self.dims.len(),
            "FeatureVectorizer: {} inputs for {} inputdimensions",
            inputs.len(),
            self.dims.len()
        );
        let rows = rows_of(inputs[0].shape());
        let total = self.total();
        let mut out = Tensor::zero::<f32>(&[rows, total])?;
        {
            let mut plain = out.try_as_plain_ram_mut()?;
            let y = plain.as_slice_mut::<f32>()?;
            let mut offset = 0;
            for (input, &want) in inputs.iter().zip(&self.dims) {
                let dt = input.datum_type();
                ensure!(
                    dt.is_float() || dt.is_integer(),
                    "FeatureVectorizer: inputs must be numbers, got {dt:?}"
                );
                let x = input.cast_to::<f32>()?;
                let x = x.try_as_plain_ram()?;
                let x = x.as_slice::<f32>()?;
                let n = rows_of(input.shape());
                ensure!(
                    n == rows,
                    "FeatureVectorizer: inputs have {rows} and {n} rows; they must agree"
                );
                let width = x.len().checked_div(rows).unwrap_or(0);
                let copy = width.min(want);
                for r in 0..rows {
                    let dst = r * total + offset;
                    y[dst..dst + copy].copy_from_slice(&x[r * width..r * width + copy]);
                }
                offset += want;
            }
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for FeatureVectorizer {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = if inputs[0].rank() <= 1 {
            1.to_dim()
        } else {
            inputs[0].shape[0].clone()
        };
        Ok(tvec!(f32::fact([n, self.total().to_dim()])))
    }

    as_op!();
}

#[derive(Debug, Clone)]
struct Expanded(FeatureVectorizer);

fn expand(op: FeatureVectorizer) -> Box<dyn InferenceOp> {
    tract_onnx::tract_hir::ops::expandable::expand(Expanded(op))
}

impl Expansion for Expanded {
    fn name(&self) -> StaticName {
        "FeatureVectorizer".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, self.0.dims.len())?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[1], self.0.total().to_dim())?;
        s.given(&inputs[0].rank, move |s, rank| {
            if rank <= 1 {
                s.equals(&outputs[0].shape[0], 1.to_dim())
            } else {
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])
            }
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.0.clone(), inputs)
    }
}
