//! `ai.onnx.ml` `LabelEncoder` (every opset): maps each input element by a
//! key → value table, elements without a key getting the default. Keys and
//! values come as lists (`keys_strings`, `values_int64s`, ... of opset 2) or
//! as tensors of any type (`keys_tensor`, `values_tensor`, `default_tensor`
//! of opset 4); opset 1's `classes_strings` maps strings to their index and
//! indices back to strings. Float keys match NaN to NaN, as ONNX Runtime does.

use std::collections::HashMap;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

/// Parser for `LabelEncoder`.
pub(crate) fn parse(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let tensor_attr = |name: &str| super::attrs::tensor_attr(ctx, node, name);
    if let Some(classes) = node.get_attr_opt_tvec::<String>("classes_strings")? {
        let classes: Vec<String> = classes.into_iter().collect();
        let default_int: i64 = node.get_attr_opt("default_int64")?.unwrap_or(-1);
        let default_str: String = node
            .get_attr_opt("default_string")?
            .unwrap_or_else(|| "_Unused".to_string());
        return Ok((
            expand(LabelEncoder(Arc::new(Table::Classes {
                index: classes
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.clone(), i))
                    .collect(),
                classes,
                default_int,
                default_str,
            }))),
            vec![],
        ));
    }
    let keys = match tensor_attr("keys_tensor")? {
        Some(t) => t,
        None => list_tensor(node, "keys")?.ok_or_else(|| {
            format_err!(
                "LabelEncoder needs keys (keys_tensor, keys_strings, keys_int64s or keys_floats)"
            )
        })?,
    };
    let values = match tensor_attr("values_tensor")? {
        Some(t) => t,
        None => list_tensor(node, "values")?.ok_or_else(|| {
            format_err!("LabelEncoder needs values (values_tensor, values_strings, values_int64s or values_floats)")
        })?,
    };
    ensure!(
        keys.len() == values.len(),
        "LabelEncoder: {} keys but {} values",
        keys.len(),
        values.len()
    );
    let vt = values.datum_type();
    let default = match tensor_attr("default_tensor")? {
        Some(t) => {
            ensure!(
                t.datum_type() == vt && t.len() == 1,
                "LabelEncoder: default_tensor must hold one {vt:?}, got {:?} of {} values",
                t.datum_type(),
                t.len()
            );
            t.into_shape(&[1])?
        }
        None if vt == String::datum_type() => tensor1(&[node
            .get_attr_opt::<String>("default_string")?
            .unwrap_or_else(|| "_Unused".to_string())]),
        None if vt.is_float() => {
            tensor1(&[node.get_attr_opt::<f32>("default_float")?.unwrap_or(-0.0)])
                .cast_to_dt(vt)?
                .into_owned()
        }
        None => tensor1(&[node.get_attr_opt::<i64>("default_int64")?.unwrap_or(-1)])
            .cast_to_dt(vt)?
            .into_owned(),
    };
    // The table to gather from: every value, then the default.
    let table = Tensor::stack_tensors(0, &[values.into_shape(&[keys.len()])?, default])?;
    let index = KeyIndex::new(&keys)?;
    Ok((
        expand(LabelEncoder(Arc::new(Table::Map { index, table }))),
        vec![],
    ))
}

/// `keys_*` / `values_*` list attributes (strings, int64s, floats) as a tensor.
fn list_tensor(node: &NodeProto, prefix: &str) -> TractResult<Option<Tensor>> {
    if let Some(v) = node.get_attr_opt_tvec::<String>(&format!("{prefix}_strings"))? {
        return Ok(Some(tensor1(&v.into_iter().collect::<Vec<_>>())));
    }
    if let Some(v) = node.get_attr_opt_slice::<i64>(&format!("{prefix}_int64s"))? {
        return Ok(Some(tensor1(v)));
    }
    if let Some(v) = node.get_attr_opt_vec::<f32>(&format!("{prefix}_floats"))? {
        return Ok(Some(tensor1(&v)));
    }
    Ok(None)
}

/// Key → position, by the keys' kind.
#[derive(Debug, PartialEq)]
enum KeyIndex {
    Str(HashMap<String, usize>),
    Int(HashMap<i64, usize>),
    /// By the bits of the key as f64, NaNs and zeros folded to one each.
    Float(HashMap<u64, usize>),
}

fn float_key(x: f64) -> u64 {
    if x.is_nan() {
        f64::NAN.to_bits()
    } else if x == 0.0 {
        0
    } else {
        x.to_bits()
    }
}

impl KeyIndex {
    fn new(keys: &Tensor) -> TractResult<KeyIndex> {
        let dt = keys.datum_type();
        // The first of repeated keys wins.
        Ok(if dt == String::datum_type() {
            let mut m = HashMap::new();
            for (i, k) in keys
                .try_as_plain_ram()?
                .as_slice::<String>()?
                .iter()
                .enumerate()
            {
                m.entry(k.clone()).or_insert(i);
            }
            KeyIndex::Str(m)
        } else if dt.is_integer() {
            let k = keys.cast_to::<i64>()?;
            let mut m = HashMap::new();
            for (i, k) in k.try_as_plain_ram()?.as_slice::<i64>()?.iter().enumerate() {
                m.entry(*k).or_insert(i);
            }
            KeyIndex::Int(m)
        } else if dt.is_float() {
            let k = keys.cast_to::<f64>()?;
            let mut m = HashMap::new();
            for (i, k) in k.try_as_plain_ram()?.as_slice::<f64>()?.iter().enumerate() {
                m.entry(float_key(*k)).or_insert(i);
            }
            KeyIndex::Float(m)
        } else {
            bail!("LabelEncoder: keys of {dt:?} are not supported (strings, integers, floats)")
        })
    }

    /// The position of each input element's key (`default` when it has none).
    fn positions(&self, input: &Tensor, default: usize) -> TractResult<Vec<usize>> {
        let dt = input.datum_type();
        Ok(match self {
            KeyIndex::Str(m) if dt == String::datum_type() => input
                .try_as_plain_ram()?
                .as_slice::<String>()?
                .iter()
                .map(|s| m.get(s).copied().unwrap_or(default))
                .collect(),
            KeyIndex::Int(m) if dt.is_integer() || dt == TDim::datum_type() => {
                let x = input.cast_to::<i64>()?;
                let x = x.try_as_plain_ram()?;
                x.as_slice::<i64>()?
                    .iter()
                    .map(|k| m.get(k).copied().unwrap_or(default))
                    .collect()
            }
            KeyIndex::Float(m) if dt.is_float() => {
                let x = input.cast_to::<f64>()?;
                let x = x.try_as_plain_ram()?;
                x.as_slice::<f64>()?
                    .iter()
                    .map(|k| m.get(&float_key(*k)).copied().unwrap_or(default))
                    .collect()
            }
            _ => bail!(
                "LabelEncoder: the input holds {dt:?}, which does not match the keys' kind ({})",
                self.kind()
            ),
        })
    }

    fn kind(&self) -> &'static str {
        match self {
            KeyIndex::Str(_) => "strings",
            KeyIndex::Int(_) => "integers",
            KeyIndex::Float(_) => "floats",
        }
    }
}

/// What the encoder maps with.
#[derive(Debug, PartialEq)]
enum Table {
    /// Opset 2 and later: keys, then `table` holds the values and the default last.
    Map { index: KeyIndex, table: Tensor },
    /// Opset 1: strings to their index in `classes`, indices back to strings.
    Classes {
        classes: Vec<String>,
        index: HashMap<String, usize>,
        default_int: i64,
        default_str: String,
    },
}

impl Table {
    fn output_type(&self, input: DatumType) -> DatumType {
        match self {
            Table::Map { table, .. } => table.datum_type(),
            Table::Classes { .. } if input == String::datum_type() => i64::datum_type(),
            Table::Classes { .. } => String::datum_type(),
        }
    }
}

#[derive(Debug, Clone)]
struct LabelEncoder(Arc<Table>);

impl PartialEq for LabelEncoder {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}
impl Eq for LabelEncoder {}

impl Op for LabelEncoder {
    fn name(&self) -> StaticName {
        "LabelEncoder".into()
    }

    op_as_typed_op!();
}

impl EvalOp for LabelEncoder {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape().to_vec();
        let out = match &*self.0 {
            Table::Map { index, table } => {
                let pos = index.positions(&input, table.len() - 1)?;
                gather(table, &pos)?.into_shape(&shape)?
            }
            Table::Classes {
                classes,
                index,
                default_int,
                default_str,
            } => {
                if input.datum_type() == String::datum_type() {
                    let v: Vec<i64> = input
                        .try_as_plain_ram()?
                        .as_slice::<String>()?
                        .iter()
                        .map(|s| index.get(s).map_or(*default_int, |&i| i as i64))
                        .collect();
                    tensor1(&v).into_shape(&shape)?
                } else {
                    let x = input.cast_to::<i64>()?;
                    let x = x.try_as_plain_ram()?;
                    let v: Vec<String> = x
                        .as_slice::<i64>()?
                        .iter()
                        .map(|&i| {
                            usize::try_from(i)
                                .ok()
                                .and_then(|i| classes.get(i))
                                .unwrap_or(default_str)
                                .clone()
                        })
                        .collect();
                    tensor1(&v).into_shape(&shape)?
                }
            }
        };
        Ok(tvec!(out.into_tvalue()))
    }
}

/// `table[pos]` for a 1-D table of any type.
fn gather(table: &Tensor, pos: &[usize]) -> TractResult<Tensor> {
    fn typed<T: Datum + Clone>(table: &Tensor, pos: &[usize]) -> TractResult<Tensor> {
        let plain = table.try_as_plain_ram()?;
        let values = plain.as_slice::<T>()?;
        Ok(tensor1(
            &pos.iter().map(|&p| values[p].clone()).collect::<Vec<T>>(),
        ))
    }
    dispatch_datum!(typed(table.datum_type())(table, pos))
}

impl TypedOp for LabelEncoder {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let dt = self.0.output_type(inputs[0].datum_type);
        Ok(tvec!(dt.fact(inputs[0].shape.clone())))
    }

    as_op!();
}

/// The inference-time wrapper: type and shape rules, then one [`LabelEncoder`].
#[derive(Debug, Clone)]
struct Expanded(LabelEncoder);

fn expand(op: LabelEncoder) -> Box<dyn InferenceOp> {
    tract_onnx::tract_hir::ops::expandable::expand(Expanded(op))
}

impl Expansion for Expanded {
    fn name(&self) -> StaticName {
        "LabelEncoder".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        let table = self.0 .0.clone();
        s.given(&inputs[0].datum_type, move |s, dt| {
            s.equals(&outputs[0].datum_type, table.output_type(dt))
        })?;
        Ok(())
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
