//! Parsing of `ai.onnx.ml` `TreeEnsembleClassifier` and `TreeEnsembleRegressor`
//! nodes into a [`CompiledEnsemble`], and the tract op that evaluates it.
//! Replaces tract's own classifier (quadratic in ensemble size, no two-element
//! `base_values`) and adds the regressor tract lacks.

use std::sync::Arc;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::tree_eval::{
    Aggregate, CompiledEnsemble, Labels, Mode, PostTransform, RawNode, RawWeight,
};

/// The most classes or regression targets an ensemble may declare.
const MAX_OUTPUTS: i64 = 1 << 16;

/// Parser for `TreeEnsembleClassifier`.
pub(crate) fn parse_classifier(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let labels = match (
        node.get_attr_opt_slice::<i64>("classlabels_int64s")?,
        node.get_attr_opt_tvec::<String>("classlabels_strings")?,
    ) {
        (Some(ints), None) => Labels::Int(ints.to_vec()),
        (None, Some(strs)) => Labels::Str(strs.into_iter().collect()),
        _ => bail!("exactly one of classlabels_int64s and classlabels_strings must be set"),
    };
    let n = labels.len();
    node.expect_attr("classlabels", n as i64 <= MAX_OUTPUTS, || {
        format!("at most {MAX_OUTPUTS} classes, got {n}")
    })?;
    let ensemble = parse(ctx, node, "class", n, Some(labels))?;
    Ok((
        expand(TreeEnsembleExpansion(TreeEnsembleOp(Arc::new(ensemble)))),
        vec![],
    ))
}

/// Parser for `TreeEnsembleRegressor`.
pub(crate) fn parse_regressor(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let n_targets: i64 = node.get_attr_opt("n_targets")?.unwrap_or(1);
    // Each target is a column of every output row: bound it before anything
    // sized by it is allocated.
    node.expect_attr("n_targets", (1..=MAX_OUTPUTS).contains(&n_targets), || {
        format!("between 1 and {MAX_OUTPUTS}, got {n_targets}")
    })?;
    let ensemble = parse(ctx, node, "target", n_targets as usize, None)?;
    Ok((
        expand(TreeEnsembleExpansion(TreeEnsembleOp(Arc::new(ensemble)))),
        vec![],
    ))
}

/// Reads a float list attribute, or its `_as_tensor` (double) twin.
fn floats(ctx: &ParsingContext, node: &NodeProto, name: &str) -> TractResult<Option<Vec<f32>>> {
    if let Some(v) = node.get_attr_opt_vec::<f32>(name)? {
        return Ok(Some(v));
    }
    let tensor_name = format!("{name}_as_tensor");
    match node
        .attribute
        .iter()
        .find(|a| a.name == tensor_name)
        .and_then(|a| a.t.as_ref())
    {
        Some(proto) => {
            let t = ctx.load_tensor(proto)?.cast_to::<f32>()?.into_owned();
            Ok(Some(t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec()))
        }
        None => Ok(None),
    }
}

fn ints(node: &NodeProto, name: &str, len: usize) -> TractResult<Vec<usize>> {
    let v: Vec<i64> = node.get_attr_vec(name)?;
    node.expect_attr(name, v.len() == len, || {
        format!("{len} values, got {}", v.len())
    })?;
    v.into_iter()
        .map(|x| usize::try_from(x).map_err(|_| format_err!("{name}: negative id {x}")))
        .collect()
}

fn parse(
    ctx: &ParsingContext,
    node: &NodeProto,
    prefix: &str,
    n_outputs: usize,
    labels: Option<Labels>,
) -> TractResult<CompiledEnsemble> {
    let n = node.get_attr_slice::<i64>("nodes_nodeids")?.len();
    let tree = ints(node, "nodes_treeids", n)?;
    let id = ints(node, "nodes_nodeids", n)?;
    let feature = ints(node, "nodes_featureids", n)?;
    let on_true = ints(node, "nodes_truenodeids", n)?;
    let on_false = ints(node, "nodes_falsenodeids", n)?;
    let thresholds = floats(ctx, node, "nodes_values")?.unwrap_or_else(|| vec![0.0; n]);
    node.expect_attr("nodes_values", thresholds.len() == n, "one value per node")?;
    let modes: Vec<Option<Mode>> = node
        .get_attr_tvec::<&str>("nodes_modes")?
        .iter()
        .map(|m| {
            Ok(match *m {
                "BRANCH_LEQ" => Some(Mode::Leq),
                "BRANCH_LT" => Some(Mode::Lt),
                "BRANCH_GTE" => Some(Mode::Gte),
                "BRANCH_GT" => Some(Mode::Gt),
                "BRANCH_EQ" => Some(Mode::Eq),
                "BRANCH_NEQ" => Some(Mode::Neq),
                "LEAF" => None,
                other => bail!("unknown node mode {other}"),
            })
        })
        .collect::<TractResult<_>>()?;
    node.expect_attr("nodes_modes", modes.len() == n, "one mode per node")?;
    let missing: Vec<i64> = node
        .get_attr_opt_vec("nodes_missing_value_tracks_true")?
        .unwrap_or_else(|| vec![0; n]);
    node.expect_attr(
        "nodes_missing_value_tracks_true",
        missing.len() == n,
        "one flag per node",
    )?;
    let raw_nodes: Vec<RawNode> = (0..n)
        .map(|i| RawNode {
            tree: tree[i],
            id: id[i],
            mode: modes[i],
            feature: feature[i],
            threshold: thresholds[i],
            on_true: on_true[i],
            on_false: on_false[i],
            missing_true: missing[i] != 0,
        })
        .collect();

    let attr = |s: &str| format!("{prefix}_{s}");
    let m = node.get_attr_slice::<i64>(&attr("ids"))?.len();
    let w_tree = ints(node, &attr("treeids"), m)?;
    let w_node = ints(node, &attr("nodeids"), m)?;
    let w_out = ints(node, &attr("ids"), m)?;
    let w = floats(ctx, node, &attr("weights"))?
        .ok_or_else(|| format_err!("missing {}", attr("weights")))?;
    node.expect_attr(&attr("weights"), w.len() == m, "one weight per vote")?;
    let raw_weights: Vec<RawWeight> = (0..m)
        .map(|i| RawWeight {
            tree: w_tree[i],
            node: w_node[i],
            output: w_out[i],
            weight: w[i],
        })
        .collect();

    let base = floats(ctx, node, "base_values")?.unwrap_or_default();
    let post = match node
        .get_attr_opt::<&str>("post_transform")?
        .unwrap_or("NONE")
    {
        "NONE" => PostTransform::None,
        "LOGISTIC" => PostTransform::Logistic,
        "SOFTMAX" => PostTransform::Softmax,
        "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
        "PROBIT" => PostTransform::Probit,
        other => bail!("unknown post_transform {other}"),
    };
    let aggregate = match node
        .get_attr_opt::<&str>("aggregate_function")?
        .unwrap_or("SUM")
    {
        "SUM" => Aggregate::Sum,
        "AVERAGE" => Aggregate::Average,
        "MIN" => Aggregate::Min,
        "MAX" => Aggregate::Max,
        other => bail!("unknown aggregate_function {other}"),
    };
    CompiledEnsemble::compile(
        &raw_nodes,
        &raw_weights,
        n_outputs,
        aggregate,
        base,
        post,
        labels,
    )
    .map_err(|e| format_err!("{}: {e}", node.op_type))
}

/// The typed op: `[N, F]` in; classifiers give labels `[N]` and scores
/// `[N, classes]`, regressors give `[N, targets]`.
#[derive(Debug, Clone)]
pub(crate) struct TreeEnsembleOp(pub(crate) Arc<CompiledEnsemble>);

impl PartialEq for TreeEnsembleOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}
impl Eq for TreeEnsembleOp {}

impl TreeEnsembleOp {
    fn label_type(&self) -> Option<DatumType> {
        self.0.classifier.as_ref().map(|c| match c.labels {
            Labels::Int(_) => i64::datum_type(),
            Labels::Str(_) => String::datum_type(),
        })
    }
}

impl Op for TreeEnsembleOp {
    fn name(&self) -> StaticName {
        "EdgeintentTreeEnsemble".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let e = &self.0;
        Ok(vec![format!(
            "{} trees, {} outputs, {} features",
            e.n_trees(),
            e.n_outputs,
            e.n_features
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for TreeEnsembleOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        // Borrowed, not copied, when the input is already f32.
        let input = input.cast_to::<f32>()?;
        let view = input.to_plain_array_view::<f32>()?;
        ensure!(
            view.ndim() == 2,
            "tree ensemble input must be [N, features], got {:?}",
            view.shape()
        );
        let (rows, width) = (view.shape()[0], view.shape()[1]);
        let e = &self.0;
        ensure!(
            width >= e.n_features,
            "tree ensemble reads feature {} but the input has {width}",
            e.n_features.saturating_sub(1)
        );
        let owned;
        let x: &[f32] = match view.as_slice() {
            Some(x) => x,
            None => {
                owned = view.iter().copied().collect::<Vec<f32>>();
                &owned
            }
        };
        let k = e.score_width();
        let mut scores = Tensor::zero::<f32>(&[rows, k])?;
        // Inline for up to 4 outputs: no allocation per call for small models.
        let mut voted: TVec<bool> = tvec![false; k];
        let Some(c) = &e.classifier else {
            {
                let mut plain = scores.try_as_plain_ram_mut()?;
                let out = plain.as_slice_mut::<f32>()?;
                for (row, chunk) in x.chunks_exact(width).zip(out.chunks_mut(k)) {
                    e.eval_regressor(row, chunk, &mut voted);
                }
            }
            return Ok(tvec!(scores.into_tvalue()));
        };
        let labels = match &c.labels {
            Labels::Int(l) => {
                let mut labels = Tensor::zero::<i64>(&[rows])?;
                {
                    let mut lp = labels.try_as_plain_ram_mut()?;
                    let mut sp = scores.try_as_plain_ram_mut()?;
                    let rows_out = x
                        .chunks_exact(width)
                        .zip(sp.as_slice_mut::<f32>()?.chunks_mut(k))
                        .zip(lp.as_slice_mut::<i64>()?.iter_mut());
                    for ((row, chunk), lab) in rows_out {
                        *lab = l[e.eval_classifier(row, chunk, &mut voted)];
                    }
                }
                labels
            }
            Labels::Str(l) => {
                let names: Vec<String> = {
                    let mut sp = scores.try_as_plain_ram_mut()?;
                    x.chunks_exact(width)
                        .zip(sp.as_slice_mut::<f32>()?.chunks_mut(k))
                        .map(|(row, chunk)| l[e.eval_classifier(row, chunk, &mut voted)].clone())
                        .collect()
                };
                tensor1(&names)
            }
        };
        Ok(tvec!(labels.into_tvalue(), scores.into_tvalue()))
    }
}

impl TypedOp for TreeEnsembleOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = inputs[0].shape[0].clone();
        let scores = f32::fact([n.clone(), self.0.score_width().to_dim()]);
        Ok(match self.label_type() {
            Some(dt) => tvec!(dt.fact([n]), scores),
            None => tvec!(scores),
        })
    }

    as_op!();
}

/// The inference-time wrapper: shape rules, then wires one [`TreeEnsembleOp`].
#[derive(Debug, Clone)]
struct TreeEnsembleExpansion(TreeEnsembleOp);

impl Expansion for TreeEnsembleExpansion {
    fn name(&self) -> StaticName {
        "EdgeintentTreeEnsemble".into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(if self.0.label_type().is_some() { 2 } else { 1 })
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        s.equals(&inputs[0].rank, 2)?;
        let scores = match self.0.label_type() {
            Some(dt) => {
                check_output_arity(outputs, 2)?;
                s.equals(&outputs[0].datum_type, dt)?;
                s.equals(&outputs[0].rank, 1)?;
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
                &outputs[1]
            }
            None => {
                check_output_arity(outputs, 1)?;
                &outputs[0]
            }
        };
        s.equals(&scores.datum_type, f32::datum_type())?;
        s.equals(&scores.rank, 2)?;
        s.equals(&scores.shape[0], &inputs[0].shape[0])?;
        s.equals(&scores.shape[1], self.0 .0.score_width().to_dim())?;
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
