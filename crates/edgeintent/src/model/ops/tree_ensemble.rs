//! Parsing of `ai.onnx.ml` `TreeEnsembleClassifier` and `TreeEnsembleRegressor`
//! nodes into a [`CompiledEnsemble`], and the tract op that evaluates it.
//! Replaces tract's own classifier (quadratic in ensemble size, no two-element
//! `base_values`) and adds the regressor tract lacks.

use std::sync::Arc;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use crate::model::native::post::PostTransform;
use crate::model::native::trees::{Aggregate, CompiledEnsemble, Labels, Mode, RawNode, RawWeight};

/// The most classes or regression targets an ensemble may declare.
const MAX_OUTPUTS: i64 = 1 << 16;

/// The compiled ensemble of a `TreeEnsembleClassifier`, `TreeEnsembleRegressor`
/// or `TreeEnsemble` node, for the native executor.
pub(crate) fn compile_ensemble(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<CompiledEnsemble> {
    match node.op_type.as_str() {
        "TreeEnsembleClassifier" => compile_classifier(ctx, node),
        "TreeEnsembleRegressor" => compile_regressor(ctx, node),
        "TreeEnsemble" => compile_v5(ctx, node),
        other => bail!("{other} is not a tree ensemble"),
    }
}

/// Parser for `TreeEnsembleClassifier`.
pub(crate) fn parse_classifier(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ensemble = compile_classifier(ctx, node)?;
    Ok((
        expand(TreeEnsembleExpansion(TreeEnsembleOp(Arc::new(ensemble)))),
        vec![],
    ))
}

fn compile_classifier(ctx: &ParsingContext, node: &NodeProto) -> TractResult<CompiledEnsemble> {
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
    parse(ctx, node, "class", n, Some(labels))
}

/// Parser for `TreeEnsembleRegressor`.
pub(crate) fn parse_regressor(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ensemble = compile_regressor(ctx, node)?;
    Ok((
        expand(TreeEnsembleExpansion(TreeEnsembleOp(Arc::new(ensemble)))),
        vec![],
    ))
}

fn compile_regressor(ctx: &ParsingContext, node: &NodeProto) -> TractResult<CompiledEnsemble> {
    let n_targets: i64 = node.get_attr_opt("n_targets")?.unwrap_or(1);
    // Each target is a column of every output row: bound it before anything
    // sized by it is allocated.
    node.expect_attr("n_targets", (1..=MAX_OUTPUTS).contains(&n_targets), || {
        format!("between 1 and {MAX_OUTPUTS}, got {n_targets}")
    })?;
    parse(ctx, node, "target", n_targets as usize, None)
}

/// Reads a float list attribute, or its `_as_tensor` (double) twin.
fn floats(ctx: &ParsingContext, node: &NodeProto, name: &str) -> TractResult<Option<Vec<f32>>> {
    if let Some(v) = node.get_attr_opt_vec::<f32>(name)? {
        return Ok(Some(v));
    }
    tensor_floats(ctx, node, &format!("{name}_as_tensor"))
}

/// A tensor attribute's values as f32.
fn tensor_floats(
    ctx: &ParsingContext,
    node: &NodeProto,
    name: &str,
) -> TractResult<Option<Vec<f32>>> {
    match super::attrs::tensor_attr(ctx, node, name)? {
        Some(t) => {
            let t = t.cast_to::<f32>()?.into_owned();
            Ok(Some(t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec()))
        }
        None => Ok(None),
    }
}

/// `nodes_missing_value_tracks_true`, one flag per node (all false when absent).
fn missing_flags(node: &NodeProto, n: usize) -> TractResult<Vec<i64>> {
    let flags: Vec<i64> = node
        .get_attr_opt_vec("nodes_missing_value_tracks_true")?
        .unwrap_or_else(|| vec![0; n]);
    node.expect_attr(
        "nodes_missing_value_tracks_true",
        flags.len() == n,
        "one flag per node",
    )?;
    Ok(flags)
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
    let missing = missing_flags(node, n)?;
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
    let post_name = node
        .get_attr_opt::<&str>("post_transform")?
        .unwrap_or("NONE");
    let post = PostTransform::from_name(post_name)
        .ok_or_else(|| format_err!("unknown post_transform {post_name}"))?;
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

/// Parser for `TreeEnsemble` (`ai.onnx.ml` opset 5): nodes indexed from
/// `tree_roots`, leaves in their own arrays (`nodes_trueleafs` says which
/// child ids are leaf indices), split values, modes and weights as tensors,
/// and `BRANCH_MEMBER` sets in `membership_values` (NaN-separated). Each set
/// membership becomes a chain of equality tests, so the compiled ensemble
/// and its evaluation are the ones the older ops use.
pub(crate) fn parse_v5(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ensemble = compile_v5(ctx, node)?;
    Ok((
        expand(TreeEnsembleV5(TreeEnsembleOp(Arc::new(ensemble)))),
        vec![],
    ))
}

fn compile_v5(ctx: &ParsingContext, node: &NodeProto) -> TractResult<CompiledEnsemble> {
    let tensor = |name: &str| super::attrs::tensor_attr(ctx, node, name);
    let f32s = |name: &str| tensor_floats(ctx, node, name);
    let n_targets: i64 = node.get_attr_opt("n_targets")?.unwrap_or(1);
    node.expect_attr("n_targets", (1..=MAX_OUTPUTS).contains(&n_targets), || {
        format!("between 1 and {MAX_OUTPUTS}, got {n_targets}")
    })?;
    let n = node.get_attr_slice::<i64>("nodes_featureids")?.len();
    let feature = ints(node, "nodes_featureids", n)?;
    let on_true = ints(node, "nodes_truenodeids", n)?;
    let on_false = ints(node, "nodes_falsenodeids", n)?;
    let true_leaf = ints(node, "nodes_trueleafs", n)?;
    let false_leaf = ints(node, "nodes_falseleafs", n)?;
    let splits =
        f32s("nodes_splits")?.ok_or_else(|| format_err!("TreeEnsemble needs nodes_splits"))?;
    node.expect_attr("nodes_splits", splits.len() == n, "one value per node")?;
    let modes: Vec<u8> = match tensor("nodes_modes")? {
        Some(t) => t
            .cast_to::<u8>()?
            .try_as_plain_ram()?
            .as_slice::<u8>()?
            .to_vec(),
        None => bail!("TreeEnsemble needs nodes_modes"),
    };
    node.expect_attr("nodes_modes", modes.len() == n, "one mode per node")?;
    let missing = missing_flags(node, n)?;
    let members = f32s("membership_values")?.unwrap_or_default();
    let mut sets = members.split(|v| v.is_nan());
    let m = node.get_attr_slice::<i64>("leaf_targetids")?.len();
    let targets = ints(node, "leaf_targetids", m)?;
    let weights =
        f32s("leaf_weights")?.ok_or_else(|| format_err!("TreeEnsemble needs leaf_weights"))?;
    node.expect_attr("leaf_weights", weights.len() == m, "one weight per leaf")?;
    let roots = ints(
        node,
        "tree_roots",
        node.get_attr_slice::<i64>("tree_roots")?.len(),
    )?;

    // Ids in the compiled ensemble: split nodes keep their index, leaf j is
    // n + j, and the extra tests of membership chains come after.
    let leaf_id = |j: usize| n + j;
    let mut next_id = n + m;
    let mut raw_nodes = Vec::new();
    let mut raw_weights = Vec::new();
    let mut member_sets: Vec<Option<Vec<f32>>> = vec![None; n];
    for (i, &mode) in modes.iter().enumerate() {
        if mode == 6 {
            let set = sets.next().ok_or_else(|| {
                format_err!("membership_values holds fewer sets than the BRANCH_MEMBER nodes")
            })?;
            member_sets[i] = Some(set.to_vec());
        }
    }
    for (t, &root) in roots.iter().enumerate() {
        // Walk the tree from its root; every node and leaf reached is its.
        let mut stack = vec![(root, false)];
        let mut seen = std::collections::HashSet::new();
        while let Some((ix, is_leaf)) = stack.pop() {
            if !seen.insert((ix, is_leaf)) {
                continue;
            }
            if is_leaf {
                ensure!(ix < m, "leaf {ix} out of range ({m} leaves)");
                raw_nodes.push(RawNode {
                    tree: t,
                    id: leaf_id(ix),
                    mode: None,
                    feature: 0,
                    threshold: 0.0,
                    on_true: 0,
                    on_false: 0,
                    missing_true: false,
                });
                raw_weights.push(RawWeight {
                    tree: t,
                    node: leaf_id(ix),
                    output: targets[ix],
                    weight: weights[ix],
                });
                continue;
            }
            ensure!(ix < n, "node {ix} out of range ({n} nodes)");
            let child = |id: usize, leaf: usize| if leaf != 0 { leaf_id(id) } else { id };
            let (yes, no) = (
                child(on_true[ix], true_leaf[ix]),
                child(on_false[ix], false_leaf[ix]),
            );
            stack.push((on_true[ix], true_leaf[ix] != 0));
            stack.push((on_false[ix], false_leaf[ix] != 0));
            let base = RawNode {
                tree: t,
                id: ix,
                mode: None,
                feature: feature[ix],
                threshold: splits[ix],
                on_true: yes,
                on_false: no,
                missing_true: missing[ix] != 0,
            };
            let mode = match modes[ix] {
                0 => Mode::Leq,
                1 => Mode::Lt,
                2 => Mode::Gte,
                3 => Mode::Gt,
                4 => Mode::Eq,
                5 => Mode::Neq,
                6 => {
                    // x in {a, b, c}: x == a, else x == b, else x == c, else false.
                    let set = member_sets[ix].clone().unwrap_or_default();
                    let mut id = ix;
                    for (k, &v) in set.iter().enumerate() {
                        let last = k + 1 == set.len();
                        let next = if last { no } else { next_id };
                        raw_nodes.push(RawNode {
                            id,
                            mode: Some(Mode::Eq),
                            threshold: v,
                            on_false: next,
                            ..base.clone()
                        });
                        if !last {
                            id = next_id;
                            next_id += 1;
                        }
                    }
                    if set.is_empty() {
                        // An empty set holds nothing: always false.
                        raw_nodes.push(RawNode {
                            mode: Some(Mode::Neq),
                            threshold: f32::NAN,
                            on_true: no,
                            ..base.clone()
                        });
                    }
                    continue;
                }
                other => bail!("TreeEnsemble: unknown node mode {other}"),
            };
            raw_nodes.push(RawNode {
                mode: Some(mode),
                ..base
            });
        }
    }
    let post = match node.get_attr_opt::<i64>("post_transform")?.unwrap_or(0) {
        0 => PostTransform::None,
        1 => PostTransform::Softmax,
        2 => PostTransform::Logistic,
        3 => PostTransform::SoftmaxZero,
        4 => PostTransform::Probit,
        other => bail!("TreeEnsemble: unknown post_transform {other}"),
    };
    let aggregate = match node.get_attr_opt::<i64>("aggregate_function")?.unwrap_or(1) {
        0 => Aggregate::Average,
        1 => Aggregate::Sum,
        2 => Aggregate::Min,
        3 => Aggregate::Max,
        other => bail!("TreeEnsemble: unknown aggregate_function {other}"),
    };
    let ensemble = CompiledEnsemble::compile(
        &raw_nodes,
        &raw_weights,
        n_targets as usize,
        aggregate,
        Vec::new(),
        post,
        None,
    )
    .map_err(|e| format_err!("TreeEnsemble: {e}"))?;
    Ok(ensemble)
}

/// Opset 5's wrapper: the scores come out in the input's own type.
#[derive(Debug, Clone)]
struct TreeEnsembleV5(TreeEnsembleOp);

impl Expansion for TreeEnsembleV5 {
    fn name(&self) -> StaticName {
        "TreeEnsemble".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], self.0 .0.score_width().to_dim())?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let dt = model.outlet_fact(inputs[0])?.datum_type;
        let scores = model.wire_node(format!("{prefix}.trees"), self.0.clone(), inputs)?;
        model.wire_node(prefix, tract_onnx::tract_core::ops::cast::cast(dt), &scores)
    }
}
