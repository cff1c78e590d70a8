//! `ai.onnx.ml` `OneHotEncoder` (scikit-learn's `OneHotEncoder`, and
//! `KBinsDiscretizer(encode="onehot-dense")`): each element becomes a row of
//! zeros with a one at its category's position, so the output is the input's
//! shape plus one axis of `categories` floats. Numbers are truncated to
//! integers first, as ONNX Runtime casts them; an unknown category is all
//! zeros, or an error when `zeros` is 0.

use std::collections::HashMap;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

/// Parser for `OneHotEncoder`.
pub(crate) fn parse(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ints = node
        .get_attr_opt_slice::<i64>("cats_int64s")?
        .unwrap_or(&[]);
    let strings: Vec<String> = node
        .get_attr_opt_tvec::<String>("cats_strings")?
        .map(|v| v.into_iter().collect())
        .unwrap_or_default();
    // A repeated category keeps its last position, as ONNX Runtime's map does.
    let cats = match (ints.is_empty(), strings.is_empty()) {
        (false, true) => Categories::Int(
            ints.iter()
                .enumerate()
                .map(|(i, &c)| (c, i))
                .collect::<HashMap<_, _>>(),
            ints.len(),
        ),
        (true, false) => Categories::Str(
            strings
                .iter()
                .enumerate()
                .map(|(i, c)| (c.clone(), i))
                .collect::<HashMap<_, _>>(),
            strings.len(),
        ),
        _ => bail!("OneHotEncoder needs exactly one of cats_int64s and cats_strings, not empty"),
    };
    let zeros: i64 = node.get_attr_opt("zeros")?.unwrap_or(1);
    Ok((
        expand(OneHotEncoder(Arc::new(Encoder {
            cats,
            zeros: zeros != 0,
        }))),
        vec![],
    ))
}

#[derive(Debug, PartialEq)]
enum Categories {
    Int(HashMap<i64, usize>, usize),
    Str(HashMap<String, usize>, usize),
}

#[derive(Debug, PartialEq)]
struct Encoder {
    cats: Categories,
    /// Unknown categories encode as zeros (else they are an error).
    zeros: bool,
}

impl Encoder {
    fn width(&self) -> usize {
        match &self.cats {
            Categories::Int(_, n) | Categories::Str(_, n) => *n,
        }
    }

    /// The category position of each element (`None`: unknown).
    fn positions(&self, input: &Tensor) -> TractResult<Vec<Option<usize>>> {
        let dt = input.datum_type();
        Ok(match &self.cats {
            Categories::Str(m, _) if dt == String::datum_type() => input
                .try_as_plain_ram()?
                .as_slice::<String>()?
                .iter()
                .map(|s| m.get(s).copied())
                .collect(),
            Categories::Int(m, _) if dt.is_float() => {
                let x = input.cast_to::<f64>()?;
                let x = x.try_as_plain_ram()?;
                x.as_slice::<f64>()?
                    .iter()
                    .map(|&v| {
                        // Truncation toward zero; NaN and out-of-range values match nothing.
                        let t = v.trunc();
                        if t.is_finite() && t.abs() < 9.2e18 {
                            m.get(&(t as i64)).copied()
                        } else {
                            None
                        }
                    })
                    .collect()
            }
            // Integer inputs fixed at load reach here as tract's TDim.
            Categories::Int(m, _) if dt.is_integer() || dt == TDim::datum_type() => {
                let x = input.cast_to::<i64>()?;
                let x = x.try_as_plain_ram()?;
                x.as_slice::<i64>()?
                    .iter()
                    .map(|v| m.get(v).copied())
                    .collect()
            }
            Categories::Str(..) => bail!(
                "OneHotEncoder has string categories but the input holds {dt:?}; feed strings"
            ),
            Categories::Int(..) => bail!(
                "OneHotEncoder has integer categories but the input holds {dt:?}; feed int64, int32, float or double"
            ),
        })
    }
}

#[derive(Debug, Clone)]
struct OneHotEncoder(Arc<Encoder>);

impl PartialEq for OneHotEncoder {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}
impl Eq for OneHotEncoder {}

impl Op for OneHotEncoder {
    fn name(&self) -> StaticName {
        "OneHotEncoder".into()
    }

    op_as_typed_op!();
}

impl EvalOp for OneHotEncoder {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let k = self.0.width();
        let mut shape = input.shape().to_vec();
        shape.push(k);
        let positions = self.0.positions(&input)?;
        let mut out = Tensor::zero::<f32>(&shape)?;
        {
            let mut plain = out.try_as_plain_ram_mut()?;
            let y = plain.as_slice_mut::<f32>()?;
            for (i, p) in positions.iter().enumerate() {
                match p {
                    Some(p) => y[i * k + p] = 1.0,
                    None if self.0.zeros => {}
                    None => bail!(
                        "OneHotEncoder: element {i} is not a known category and the model sets zeros = 0"
                    ),
                }
            }
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for OneHotEncoder {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
        shape.push(self.0.width().to_dim());
        Ok(tvec!(f32::fact(shape)))
    }

    as_op!();
}

/// The inference-time wrapper: type and shape rules, then one [`OneHotEncoder`].
#[derive(Debug, Clone)]
struct Expanded(OneHotEncoder);

fn expand(op: OneHotEncoder) -> Box<dyn InferenceOp> {
    tract_onnx::tract_hir::ops::expandable::expand(Expanded(op))
}

impl Expansion for Expanded {
    fn name(&self) -> StaticName {
        "OneHotEncoder".into()
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
        s.equals(&outputs[0].rank, inputs[0].rank.bex() + 1)?;
        let k = self.0 .0.width();
        s.given(&inputs[0].rank, move |s, rank| {
            let rank = rank as usize;
            for axis in 0..rank {
                s.equals(&outputs[0].shape[axis], &inputs[0].shape[axis])?;
            }
            s.equals(&outputs[0].shape[rank], k.to_dim())
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
