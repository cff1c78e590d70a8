//! Evaluation of compiled tree ensembles (`TreeEnsembleClassifier` and
//! `TreeEnsembleRegressor`): flat node arrays (`nodes`); per row, either
//! scoring by features (`quick`) or an interleaved walk of the trees
//! (`walk`), whichever the ensemble's shape favours; and score finalisation
//! that follows ONNX Runtime's reference behaviour (binary layouts, base
//! values, post-transforms). Pure Rust: it knows nothing of tract or protobuf.

// Compiling (from ONNX) needs tract; without it only loading and running remain.
#![cfg_attr(not(feature = "tract"), allow(dead_code))]

use serde::{Deserialize, Serialize};

mod nodes;
mod quick;
mod walk;

pub(crate) use nodes::{Aggregate, ClassifierInfo, Labels, Mode, RawNode, RawWeight};

use super::post::{logistic, post_transform, probit, PostTransform};
use nodes::{check_acyclic, ForestView, Node, FEATURE_MASK, LEAF, MISSING_TRUE};
use quick::{BranchView, Quick};
use walk::{Fast, Inline, SPLIT_MAX_FEATURES};

/// A tree ensemble ready to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CompiledEnsemble {
    nodes: Vec<Node>,
    /// Per-node mode, only when modes differ (else `uniform`).
    modes: Vec<Mode>,
    uniform: Option<Mode>,
    any_missing_true: bool,
    roots: Vec<u32>,
    weights: Vec<(u32, f32)>,
    pub(crate) n_outputs: usize,
    pub(crate) n_features: usize,
    aggregate: Aggregate,
    base: Vec<f32>,
    post: PostTransform,
    pub(crate) classifier: Option<ClassifierInfo>,
    /// Derived from the rest by [`CompiledEnsemble::prepare`], never stored.
    #[serde(skip)]
    fast: Option<Fast>,
    #[serde(skip)]
    quick: Option<Quick>,
}

impl CompiledEnsemble {
    /// What the traversal kernels read.
    fn view(&self) -> ForestView<'_> {
        ForestView {
            nodes: &self.nodes,
            roots: &self.roots,
            weights: &self.weights,
            uniform: self.uniform,
            any_missing_true: self.any_missing_true,
            n_features: self.n_features,
        }
    }

    /// Builds the flat representation; errors name what is inconsistent.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn compile(
        raw_nodes: &[RawNode],
        raw_weights: &[RawWeight],
        n_outputs: usize,
        aggregate: Aggregate,
        base: Vec<f32>,
        post: PostTransform,
        labels: Option<Labels>,
    ) -> Result<CompiledEnsemble, String> {
        if raw_nodes.is_empty() {
            return Err("no nodes".into());
        }
        if n_outputs == 0 {
            return Err("no classes or targets".into());
        }
        if labels.as_ref().is_some_and(|l| l.len() < 2) {
            // ONNX Runtime's layouts (and ours) need two columns even for a
            // binary model that votes for one class only.
            return Err(format!(
                "a classifier needs at least two class labels, got {}",
                labels.as_ref().map_or(0, |l| l.len())
            ));
        }
        // Index nodes by (tree, id); trees may list nodes in any order.
        let mut order: Vec<usize> = (0..raw_nodes.len()).collect();
        order.sort_by_key(|&i| (raw_nodes[i].tree, raw_nodes[i].id));
        let key = |i: usize| (raw_nodes[i].tree, raw_nodes[i].id);
        if order.windows(2).any(|w| key(w[0]) == key(w[1])) {
            return Err("a (tree, node) id appears twice".into());
        }
        let position = |tree: usize, id: usize| -> Result<u32, String> {
            order
                .binary_search_by_key(&(tree, id), |&i| key(i))
                .map(|p| p as u32)
                .map_err(|_| format!("tree {tree} refers to missing node {id}"))
        };
        let mut weight_order: Vec<usize> = (0..raw_weights.len()).collect();
        weight_order.sort_by_key(|&i| (raw_weights[i].tree, raw_weights[i].node));
        let mut weights = Vec::with_capacity(raw_weights.len());
        let mut nodes = Vec::with_capacity(order.len());
        let mut modes = Vec::with_capacity(order.len());
        let mut roots = Vec::new();
        let mut w = 0;
        let mut last_tree = None;
        let mut n_features = 0;
        for &i in &order {
            let r = &raw_nodes[i];
            if last_tree != Some(r.tree) {
                // The root is the node with the smallest id of its tree.
                roots.push(nodes.len() as u32);
                last_tree = Some(r.tree);
            }
            match r.mode {
                Some(mode) => {
                    if r.feature as u64 >= u64::from(FEATURE_MASK) {
                        return Err(format!("feature id {} is too large", r.feature));
                    }
                    n_features = n_features.max(r.feature + 1);
                    let flags = if r.missing_true { MISSING_TRUE } else { 0 };
                    nodes.push(Node {
                        feature: r.feature as u32 | flags,
                        threshold: r.threshold,
                        on_true: position(r.tree, r.on_true)?,
                        on_false: position(r.tree, r.on_false)?,
                    });
                    modes.push(mode);
                }
                None => {
                    let start = weights.len() as u32;
                    while w < weight_order.len() {
                        let rw = &raw_weights[weight_order[w]];
                        if (rw.tree, rw.node) < (r.tree, r.id) {
                            return Err(format!(
                                "a leaf weight refers to node {} of tree {}, which is not a leaf",
                                rw.node, rw.tree
                            ));
                        }
                        if (rw.tree, rw.node) != (r.tree, r.id) {
                            break;
                        }
                        if rw.output >= n_outputs {
                            return Err(format!(
                                "a leaf votes for output {} of {n_outputs}",
                                rw.output
                            ));
                        }
                        weights.push((rw.output as u32, rw.weight));
                        w += 1;
                    }
                    nodes.push(Node {
                        feature: LEAF,
                        threshold: 0.0,
                        on_true: start,
                        on_false: weights.len() as u32,
                    });
                    modes.push(Mode::Leq);
                }
            }
        }
        if w != weight_order.len() {
            let rw = &raw_weights[weight_order[w]];
            return Err(format!(
                "a leaf weight refers to node {} of tree {}, which does not exist",
                rw.node, rw.tree
            ));
        }
        check_acyclic(&nodes, &roots)?;
        let branch_modes: Vec<Mode> = nodes
            .iter()
            .zip(&modes)
            .filter(|(n, _)| n.feature & LEAF == 0)
            .map(|(_, m)| *m)
            .collect();
        let uniform = match branch_modes.first() {
            None => Some(Mode::Leq),
            Some(m) if branch_modes.iter().all(|x| x == m) => Some(*m),
            Some(_) => None,
        };
        let classifier = labels.map(|labels| {
            let mut voted: Vec<u32> = weights.iter().map(|(c, _)| *c).collect();
            voted.sort_unstable();
            voted.dedup();
            ClassifierInfo {
                binary_case: labels.len() == 2 && voted.len() == 1,
                weights_all_positive: weights.iter().all(|(_, w)| *w >= 0.0),
                labels,
            }
        });
        if let Some(c) = &classifier {
            if c.labels.len() != n_outputs {
                return Err("class label count differs from the class count".into());
            }
        }
        let mut e = CompiledEnsemble {
            any_missing_true: nodes
                .iter()
                .any(|n| n.feature & LEAF == 0 && n.feature & MISSING_TRUE != 0),
            modes: if uniform.is_some() { Vec::new() } else { modes },
            uniform,
            nodes,
            roots,
            weights,
            n_outputs,
            n_features,
            aggregate,
            base,
            post,
            classifier,
            fast: None,
            quick: None,
        };
        e.prepare();
        Ok(e)
    }

    /// Checks every index a traversal follows, so that evaluating an
    /// ensemble read from a damaged or hostile file cannot panic or loop.
    pub(crate) fn check(&self) -> Result<(), String> {
        let n = self.nodes.len();
        if self.roots.is_empty() || n == 0 {
            return Err("no trees".into());
        }
        if self.n_outputs == 0 || self.n_outputs > 1 << 16 {
            return Err(format!("{} outputs", self.n_outputs));
        }
        if self.roots.iter().any(|&r| r as usize >= n) {
            return Err("a root is not a node".into());
        }
        if (self.uniform.is_none() && self.modes.len() != n)
            || (self.uniform.is_some() && !self.modes.is_empty())
        {
            return Err("node modes do not match the nodes".into());
        }
        for node in &self.nodes {
            if node.feature & LEAF != 0 {
                if node.on_true > node.on_false || node.on_false as usize > self.weights.len() {
                    return Err("a leaf's weights lie outside the weight list".into());
                }
            } else if (node.feature & FEATURE_MASK) as usize >= self.n_features
                || node.on_true as usize >= n
                || node.on_false as usize >= n
            {
                return Err("a branch reads past the features or the nodes".into());
            }
        }
        if self
            .weights
            .iter()
            .any(|(k, _)| *k as usize >= self.n_outputs)
        {
            return Err("a leaf votes for a missing output".into());
        }
        if let Some(c) = &self.classifier {
            if c.labels.len() != self.n_outputs || c.labels.len() < 2 {
                return Err("class labels do not match the classes".into());
            }
        }
        check_acyclic(&self.nodes, &self.roots)
    }

    /// Number of trees.
    pub(crate) fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// Width of the score output: classifiers always give one column per class.
    pub(crate) fn score_width(&self) -> usize {
        self.n_outputs
    }

    /// Builds the traversal layout (idempotent). Deserialized ensembles call
    /// it once they are checked, as compiled ones do.
    pub(crate) fn prepare(&mut self) {
        self.fast = self.uniform.map(|_| Fast::build(self.view()));
        // Scoring by features costs per branch, walking per level: the first
        // wins on sparse, deep trees (LightGBM's leaf-wise ones), the walk on
        // full, shallow ones (XGBoost depth 6, CatBoost's oblivious trees).
        // Taken below 1.5x the walk's work; break-even measured near 1.6
        // (bench_trees.py, model_score_only).
        let walk_work = self
            .fast
            .as_ref()
            .map_or(usize::MAX, |f| f.work(self.roots.len()));
        self.quick = self.quick_layout().filter(|q| q.work() * 2 < walk_work * 3);
    }

    /// The layout for scoring by features, where it applies (one ordered
    /// comparison mode, at most 64 leaves a tree).
    fn quick_layout(&self) -> Option<Quick> {
        let mode = self.uniform?;
        let branch = |i: usize| {
            let n = self.nodes[i];
            (n.feature & LEAF == 0).then_some(BranchView {
                feature: (n.feature & FEATURE_MASK) as usize,
                threshold: n.threshold,
                on_true: n.on_true as usize,
                on_false: n.on_false as usize,
                missing_true: n.feature & MISSING_TRUE != 0,
            })
        };
        Quick::build(branch, &self.roots, self.n_features, mode)
    }

    /// Calls `f(tree, leaf)` with each tree's leaf for row `x`, in tree order.
    /// Dispatches once per row to a loop specialised for the comparison mode.
    #[inline]
    fn for_each_leaf(&self, x: &[f32], f: impl FnMut(usize, usize)) {
        if let Some(q) = &self.quick {
            return q.for_each_leaf(&x[..self.n_features], f);
        }
        let (Some(fast), Some(mode)) = (&self.fast, self.uniform) else {
            return self.for_each_leaf_mixed(x, f);
        };
        if fast.split_missing {
            let mut buf = [0.0; 2 * SPLIT_MAX_FEATURES];
            let x = Fast::split_row(mode, &x[..self.n_features], &mut buf);
            return match mode {
                Mode::Leq => fast.walk::<false>(Mode::Leq, &self.roots, x, f),
                Mode::Lt => fast.walk::<false>(Mode::Lt, &self.roots, x, f),
                m => fast.walk::<false>(m, &self.roots, x, f),
            };
        }
        match (mode, self.any_missing_true) {
            (Mode::Leq, false) => fast.walk::<false>(Mode::Leq, &self.roots, x, f),
            (Mode::Leq, true) => fast.walk::<true>(Mode::Leq, &self.roots, x, f),
            (Mode::Lt, false) => fast.walk::<false>(Mode::Lt, &self.roots, x, f),
            (Mode::Lt, true) => fast.walk::<true>(Mode::Lt, &self.roots, x, f),
            (m, false) => fast.walk::<false>(m, &self.roots, x, f),
            (m, true) => fast.walk::<true>(m, &self.roots, x, f),
        }
    }

    /// The plain walk, one tree at a time, for ensembles whose nodes mix
    /// comparison modes (rare: no exporter here writes them).
    fn for_each_leaf_mixed(&self, x: &[f32], mut f: impl FnMut(usize, usize)) {
        for (t, &r) in self.roots.iter().enumerate() {
            let mut i = r as usize;
            loop {
                let n = self.nodes[i];
                if n.feature & LEAF != 0 {
                    break;
                }
                let v = x[(n.feature & FEATURE_MASK) as usize];
                let mode = self.uniform.unwrap_or_else(|| self.modes[i]);
                let go_true = if v.is_nan() && n.feature & MISSING_TRUE != 0 {
                    true
                } else {
                    mode.test(v, n.threshold)
                };
                i = if go_true { n.on_true } else { n.on_false } as usize;
            }
            f(t, i);
        }
    }

    /// Aggregated raw scores for one row: `scores[k]` and whether any leaf
    /// voted for `k`. Votes are applied in tree order, so sums are those of
    /// a sequential walk, bit for bit.
    fn accumulate(&self, x: &[f32], scores: &mut [f32], voted: &mut [bool]) {
        scores.fill(0.0);
        voted.fill(false);
        let (nodes, weights) = (&self.nodes, &self.weights);
        let inline = self.fast.as_ref().map(|f| (&f.nodes, &f.inline));
        match (self.aggregate, inline) {
            (Aggregate::Sum | Aggregate::Average, Some((fast, Inline::One(k)))) => {
                let mut s = 0.0;
                self.for_each_leaf(x, |_, leaf| s += fast[leaf].threshold);
                scores[*k as usize] = s;
                voted[*k as usize] = true;
            }
            (Aggregate::Sum | Aggregate::Average, Some((fast, Inline::PerTree(out)))) => self
                .for_each_leaf(x, |t, leaf| {
                    let k = out[t] as usize;
                    scores[k] += fast[leaf].threshold;
                    voted[k] = true;
                }),
            (Aggregate::Sum | Aggregate::Average, _) => self.for_each_leaf(x, |_, leaf| {
                let n = &nodes[leaf];
                for &(k, w) in &weights[n.on_true as usize..n.on_false as usize] {
                    scores[k as usize] += w;
                    voted[k as usize] = true;
                }
            }),
            (Aggregate::Min | Aggregate::Max, _) => {
                let min = self.aggregate == Aggregate::Min;
                self.for_each_leaf(x, |_, leaf| {
                    let n = &nodes[leaf];
                    for &(k, w) in &weights[n.on_true as usize..n.on_false as usize] {
                        let k = k as usize;
                        let better = if min { w < scores[k] } else { w > scores[k] };
                        if !voted[k] || better {
                            scores[k] = w;
                        }
                        voted[k] = true;
                    }
                })
            }
        }
    }

    /// Evaluates a regressor row into `out` (`n_outputs` values).
    pub(crate) fn eval_regressor(&self, x: &[f32], out: &mut [f32], voted: &mut [bool]) {
        self.accumulate(x, out, voted);
        let n_trees = self.n_trees() as f32;
        if self.n_outputs == 1 {
            // ONNX Runtime's single-target path: one base value acts as an origin,
            // and only PROBIT is applied.
            let origin = if self.base.len() == 1 {
                self.base[0]
            } else {
                0.0
            };
            let mut s = out[0];
            if self.aggregate == Aggregate::Average {
                s /= n_trees;
            }
            s += origin;
            out[0] = if self.post == PostTransform::Probit {
                probit(s)
            } else {
                s
            };
            return;
        }
        let use_base = self.base.len() == self.n_outputs;
        for (k, s) in out.iter_mut().enumerate() {
            if self.aggregate == Aggregate::Average {
                *s /= n_trees;
            }
            if use_base {
                *s += self.base[k];
            }
        }
        post_transform(self.post, out);
    }

    /// Evaluates a classifier row: scores into `out` (one per class) and the
    /// index of the predicted label.
    pub(crate) fn eval_classifier(&self, x: &[f32], out: &mut [f32], voted: &mut [bool]) -> usize {
        self.accumulate(x, out, voted);
        let Some(info) = &self.classifier else {
            return 0;
        };
        if self.n_outputs > 2 {
            for (k, b) in self.base.iter().enumerate().take(self.n_outputs) {
                out[k] += b;
                voted[k] = true;
            }
            let mut best: Option<usize> = None;
            for k in 0..self.n_outputs {
                if voted[k] && best.is_none_or(|b| out[k] > out[b]) {
                    best = Some(k);
                }
            }
            post_transform(self.post, out);
            return best.unwrap_or(0);
        }
        // Two classes: ONNX Runtime's layouts.
        let mut single = false; // only one score survives (class 1's column is derived)
        let mut second = -1; // how the derived column is written
        match self.base.len() {
            2 if voted[1] => {
                out[1] += self.base[1] + out[0] - out[1];
                out[0] = -out[1];
            }
            2 => {
                out[1] += self.base[1];
                out[0] += self.base[0];
            }
            1 => {
                out[0] += self.base[0];
                single = !voted[1];
            }
            _ => {
                second = 3;
                single = !voted[1];
            }
        }
        let two_voted = !single && voted[1];
        let pos = if two_voted {
            out[1]
        } else if voted[0] {
            out[0]
        } else {
            0.0
        };
        let label = if info.binary_case {
            if info.weights_all_positive {
                if pos > 0.5 {
                    second = 0;
                    1
                } else {
                    second = 1;
                    0
                }
            } else if pos > 0.0 {
                second = 2;
                1
            } else {
                second = 3;
                0
            }
        } else {
            usize::from(pos > 0.0)
        };
        if !single {
            post_transform(self.post, out);
            return label;
        }
        let s = out[0];
        match (self.post, second) {
            (PostTransform::Probit, _) => {
                out[0] = probit(s);
                out[1] = 0.0;
            }
            (_, 0 | 1) => {
                out[0] = 1.0 - s;
                out[1] = s;
            }
            (PostTransform::Logistic, 2 | 3) => {
                out[0] = logistic(-s);
                out[1] = logistic(s);
            }
            (_, 2 | 3) => {
                out[0] = -s;
                out[1] = s;
            }
            _ => {
                out[0] = s;
                out[1] = 0.0;
            }
        }
        label
    }
}

#[cfg(test)]
mod tests;
