//! Evaluation of compiled tree ensembles (`TreeEnsembleClassifier` and
//! `TreeEnsembleRegressor`): flat node arrays; per row, either scoring by
//! features ([`super::quick`]) or an interleaved walk of the trees,
//! whichever the ensemble's shape favours; and score finalisation that
//! follows ONNX Runtime's reference behaviour (binary layouts, base values,
//! post-transforms). Pure Rust: it knows nothing of tract or protobuf.

// Compiling (from ONNX) needs tract; without it only loading and running remain.
#![cfg_attr(not(feature = "tract"), allow(dead_code))]

use serde::{Deserialize, Serialize};

use super::quick::{BranchView, Quick};

/// How a branch node compares the feature with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
}

impl Mode {
    #[inline(always)]
    fn test(self, x: f32, t: f32) -> bool {
        match self {
            Mode::Leq => x <= t,
            Mode::Lt => x < t,
            Mode::Gte => x >= t,
            Mode::Gt => x > t,
            Mode::Eq => x == t,
            Mode::Neq => x != t,
        }
    }
}

/// How per-tree values combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

/// The transform applied to the aggregated scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
    Probit,
}

impl PostTransform {
    /// The transform an ONNX `post_transform` attribute names (`NONE`, ...).
    pub(crate) fn from_name(name: &str) -> Option<PostTransform> {
        Some(match name {
            "NONE" => PostTransform::None,
            "LOGISTIC" => PostTransform::Logistic,
            "SOFTMAX" => PostTransform::Softmax,
            "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            "PROBIT" => PostTransform::Probit,
            _ => return None,
        })
    }
}

/// Class labels of a classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Labels {
    Int(Vec<i64>),
    Str(Vec<String>),
}

impl Labels {
    pub(crate) fn len(&self) -> usize {
        match self {
            Labels::Int(v) => v.len(),
            Labels::Str(v) => v.len(),
        }
    }
}

/// Classifier-only facts that decide ONNX Runtime's binary layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ClassifierInfo {
    pub(crate) labels: Labels,
    /// Two classes, but leaves only ever vote for one class id.
    pub(crate) binary_case: bool,
    pub(crate) weights_all_positive: bool,
}

const LEAF: u32 = 1 << 31;
const MISSING_TRUE: u32 = 1 << 30;
const FEATURE_MASK: u32 = MISSING_TRUE - 1;

/// One node, 16 bytes. Branch: `feature | flags`, threshold, children.
/// Leaf: `LEAF`, unused, and the `[start, end)` range of its weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Node {
    feature: u32,
    threshold: f32,
    on_true: u32,
    on_false: u32,
}

/// A node as parsed, before compilation (ids local to its tree).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawNode {
    pub(crate) tree: usize,
    pub(crate) id: usize,
    /// `None` for a leaf.
    pub(crate) mode: Option<Mode>,
    pub(crate) feature: usize,
    pub(crate) threshold: f32,
    pub(crate) on_true: usize,
    pub(crate) on_false: usize,
    pub(crate) missing_true: bool,
}

/// A leaf vote as parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawWeight {
    pub(crate) tree: usize,
    pub(crate) node: usize,
    pub(crate) output: usize,
    pub(crate) weight: f32,
}

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
        self.fast = self.uniform.map(|_| Fast::build(self));
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

/// Trees walked side by side: independent loads overlap, which hides the
/// latency of the data-dependent child loads of any one tree. 16 over 8:
/// LightGBM 120 x 31 1.70 -> 1.51 us, XGBoost 1.17 -> 0.99 us, the shipped
/// model 0.94 -> 0.86 us (bench_trees.py, criterion `model_score_only`).
const LANES: usize = 16;

/// A node of the traversal layout, 16 bytes. A leaf points to itself on both
/// sides (so a walk of a fixed number of steps stays on it) and reads feature 0
/// (its `feature` is `LEAF`, which the feature mask clears).
#[derive(Debug, Clone, Copy, PartialEq)]
struct FastNode {
    /// Feature index, with `MISSING_TRUE` where a missing value goes to `child[0]`.
    feature: u32,
    /// The threshold; for a leaf, its single vote when votes are inline.
    threshold: f32,
    /// `[when the test holds, when it does not]`.
    child: [u32; 2],
}

/// Where a leaf's vote is found.
#[derive(Debug, Clone, PartialEq)]
enum Inline {
    /// In the weight list (a leaf votes for several outputs, or none).
    No,
    /// In the leaf's `threshold`; every tree votes for this output.
    One(u32),
    /// In the leaf's `threshold`; tree `t` votes for output `[t]`.
    PerTree(Vec<u32>),
}

/// The branch-free, interleaved traversal layout of an ensemble whose nodes
/// share one comparison mode. Node indices are the ensemble's own.
#[derive(Debug, Clone, PartialEq)]
struct Fast {
    nodes: Vec<FastNode>,
    /// Steps after which every tree of block `b` (trees `b * LANES ..`) is on a leaf.
    block_depth: Vec<u32>,
    inline: Inline,
    /// Missing values are resolved before the walk: nodes read a row twice
    /// as wide, whose first half sends NaN to the true side and second half
    /// to the false side (see [`Fast::split_row`]). Then no step tests for NaN.
    split_missing: bool,
}

/// Widest row whose missing values [`Fast::split_row`] resolves (on the stack).
const SPLIT_MAX_FEATURES: usize = 128;

impl Fast {
    /// Needs a checked, acyclic ensemble.
    fn build(e: &CompiledEnsemble) -> Fast {
        let n = e.nodes.len();
        // Longest path to a leaf, by a post-order walk with memo (trees may
        // share nodes in a hand-made file; each node is finished once).
        let mut depth = vec![u32::MAX; n];
        let mut stack = Vec::new();
        for &r in &e.roots {
            stack.push(r as usize);
            while let Some(&i) = stack.last() {
                if depth[i] != u32::MAX {
                    stack.pop();
                    continue;
                }
                let node = e.nodes[i];
                if node.feature & LEAF != 0 {
                    depth[i] = 0;
                    stack.pop();
                    continue;
                }
                let (a, b) = (node.on_true as usize, node.on_false as usize);
                match (depth[a], depth[b]) {
                    (u32::MAX, _) => stack.push(a),
                    (_, u32::MAX) => stack.push(b),
                    (da, db) => {
                        depth[i] = da.max(db).saturating_add(1);
                        stack.pop();
                    }
                }
            }
        }
        let block_depth = e
            .roots
            .chunks(LANES)
            .map(|b| b.iter().map(|&r| depth[r as usize]).max().unwrap_or(0))
            .collect();
        let inline = Self::inline_outputs(e);
        // Infinite values stand for NaN, which needs finite thresholds and
        // an ordering test (Eq and Neq keep the test in the walk).
        let split_missing = e.any_missing_true
            && e.n_features <= SPLIT_MAX_FEATURES
            && matches!(e.uniform, Some(Mode::Leq | Mode::Lt | Mode::Gte | Mode::Gt))
            && e.nodes
                .iter()
                .all(|n| n.feature & LEAF != 0 || n.threshold.is_finite());
        let nodes = e
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                if node.feature & LEAF == 0 {
                    return FastNode {
                        feature: match (split_missing, node.feature & MISSING_TRUE != 0) {
                            (false, _) => node.feature,
                            (true, true) => node.feature & FEATURE_MASK,
                            (true, false) => (node.feature & FEATURE_MASK) + e.n_features as u32,
                        },
                        threshold: node.threshold,
                        child: [node.on_true, node.on_false],
                    };
                }
                let vote = &e.weights[node.on_true as usize..node.on_false as usize];
                FastNode {
                    feature: LEAF,
                    threshold: match (&inline, vote) {
                        (Inline::No, _) | (_, []) => 0.0,
                        (_, [(_, w), ..]) => *w,
                    },
                    child: [i as u32; 2],
                }
            })
            .collect();
        Fast {
            nodes,
            block_depth,
            inline,
            split_missing,
        }
    }

    /// Lane steps per row, at most: every block takes its depth.
    fn work(&self, n_trees: usize) -> usize {
        self.block_depth
            .iter()
            .enumerate()
            .map(|(b, &d)| d as usize * LANES.min(n_trees - b * LANES))
            .sum()
    }

    /// Votes can live in the leaves when each leaf votes exactly once and all
    /// the leaves of a tree vote for one output.
    fn inline_outputs(e: &CompiledEnsemble) -> Inline {
        let mut outputs = Vec::with_capacity(e.roots.len());
        let mut seen = vec![u32::MAX; e.nodes.len()];
        let mut stack = Vec::new();
        for (t, &r) in e.roots.iter().enumerate() {
            let mut output = None;
            stack.push(r);
            while let Some(i) = stack.pop() {
                let i = i as usize;
                if seen[i] == t as u32 {
                    continue;
                }
                seen[i] = t as u32;
                let node = e.nodes[i];
                if node.feature & LEAF == 0 {
                    stack.extend([node.on_true, node.on_false]);
                    continue;
                }
                match &e.weights[node.on_true as usize..node.on_false as usize] {
                    [(k, _)] if output.is_none_or(|o| o == *k) => output = Some(*k),
                    _ => return Inline::No,
                }
            }
            match output {
                Some(k) => outputs.push(k),
                None => return Inline::No,
            }
        }
        match outputs.first() {
            Some(&k) if outputs.iter().all(|&o| o == k) => Inline::One(k),
            Some(_) => Inline::PerTree(outputs),
            None => Inline::No,
        }
    }

    /// Writes the doubled row a split layout reads: `[x, NaN → true side | x, NaN → false side]`.
    fn split_row<'a>(mode: Mode, x: &[f32], buf: &'a mut [f32]) -> &'a [f32] {
        let (to_true, to_false) = match mode {
            Mode::Leq | Mode::Lt => (f32::NEG_INFINITY, f32::INFINITY),
            _ => (f32::INFINITY, f32::NEG_INFINITY),
        };
        let n = x.len();
        let (a, b) = buf[..2 * n].split_at_mut(n);
        for ((a, b), &v) in a.iter_mut().zip(b.iter_mut()).zip(x) {
            let nan = v.is_nan();
            *a = if nan { to_true } else { v };
            *b = if nan { to_false } else { v };
        }
        &buf[..2 * n]
    }

    /// Calls `f(tree, leaf)` in tree order. Each block of `LANES` trees takes
    /// its fixed number of steps with no test for leaves and no branch on
    /// the comparison: the child is picked by index.
    #[inline(always)]
    fn walk<const MISSING: bool>(
        &self,
        mode: Mode,
        roots: &[u32],
        x: &[f32],
        mut f: impl FnMut(usize, usize),
    ) {
        let nodes = &self.nodes[..];
        for (b, (block, &depth)) in roots.chunks(LANES).zip(&self.block_depth).enumerate() {
            // Unused lanes of a short last block repeat its first root.
            let mut at = [block[0]; LANES];
            at[..block.len()].copy_from_slice(block);
            for _ in 0..depth {
                // Unbalanced (leaf-wise) trees reach leaves well before the
                // block's depth: stop after a step in which every lane was on one.
                let mut moving = 0;
                for i in at.iter_mut() {
                    let n = &nodes[*i as usize];
                    moving |= !n.feature & LEAF;
                    let v = x[(n.feature & FEATURE_MASK) as usize];
                    // ONNX Runtime's rule: the test, or a missing value sent to the true side.
                    let mut go_true = mode.test(v, n.threshold);
                    if MISSING {
                        go_true |= v.is_nan() & (n.feature & MISSING_TRUE != 0);
                    }
                    *i = n.child[usize::from(!go_true)];
                }
                if moving == 0 {
                    break;
                }
            }
            for (j, &leaf) in at[..block.len()].iter().enumerate() {
                f(b * LANES + j, leaf as usize);
            }
        }
    }
}

/// Fails when following children from a root can loop (a malformed model
/// would otherwise hang the traversal).
fn check_acyclic(nodes: &[Node], roots: &[u32]) -> Result<(), String> {
    // 0 = unseen, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; nodes.len()];
    for &r in roots {
        let mut stack = vec![(r as usize, false)];
        while let Some((i, exiting)) = stack.pop() {
            if exiting {
                state[i] = 2;
                continue;
            }
            match state[i] {
                1 => return Err(format!("node #{i} is its own ancestor")),
                2 => continue,
                _ => {}
            }
            state[i] = 1;
            stack.push((i, true));
            let n = nodes[i];
            if n.feature & LEAF == 0 {
                for c in [n.on_true, n.on_false] {
                    match state[c as usize] {
                        1 => return Err(format!("node #{c} is its own ancestor")),
                        0 => stack.push((c as usize, false)),
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(())
}

/// ONNX Runtime's logistic: symmetric form, stable for large |x|.
pub(crate) fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 {
        1.0 - v
    } else {
        v
    }
}

/// ONNX Runtime's post transform of a row of scores, in place.
pub(crate) fn post_transform(post: PostTransform, s: &mut [f32]) {
    match post {
        PostTransform::None => {}
        PostTransform::Logistic => s.iter_mut().for_each(|v| *v = logistic(*v)),
        PostTransform::Probit => s.iter_mut().for_each(|v| *v = probit(*v)),
        PostTransform::Softmax => {
            let max = s.iter().copied().fold(f32::MIN, f32::max);
            let mut sum = 0.0;
            for v in s.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            s.iter_mut().for_each(|v| *v /= sum);
        }
        PostTransform::SoftmaxZero => {
            // Exact zeros stay (almost) zero: they mean "no vote", not "score 0".
            let max = s.iter().copied().fold(f32::MIN, f32::max);
            let exp_neg_max = (-max).exp();
            let mut sum = 0.0;
            for v in s.iter_mut() {
                if v.abs() > 1e-7 {
                    *v = (*v - max).exp();
                    sum += *v;
                } else {
                    *v *= exp_neg_max;
                }
            }
            s.iter_mut().for_each(|v| *v /= sum);
        }
    }
}

/// `sqrt(2) * erfinv(2p - 1)`: the probit of a probability.
fn probit(p: f32) -> f32 {
    std::f32::consts::SQRT_2 * erf_inv(2.0 * p - 1.0)
}

/// Inverse error function (Giles' single-precision approximation).
fn erf_inv(x: f32) -> f32 {
    let x = x.clamp(-1.0, 1.0);
    let w = -((1.0 - x) * (1.0 + x)).ln();
    let p = if w < 5.0 {
        let w = w - 2.5;
        let mut p = 2.810_226_4e-8_f32;
        for c in [
            3.432_739_4e-7,
            -3.523_387_7e-6,
            -4.391_506_5e-6,
            0.000_218_580_87,
            -0.001_253_725,
            -0.004_177_681_6,
            0.246_640_73,
            1.501_409_4,
        ] {
            p = c + p * w;
        }
        p
    } else {
        let w = w.sqrt() - 3.0;
        let mut p = -0.000_200_214_26_f32;
        for c in [
            0.000_100_950_56,
            0.001_349_343_2,
            -0.003_673_428_4,
            0.005_739_507_7,
            -0.007_622_461,
            0.009_438_870_5,
            1.001_674,
            2.832_976_8,
        ] {
            p = c + p * w;
        }
        p
    };
    p * x
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn branch(tree: usize, id: usize, feature: usize, t: f32, yes: usize, no: usize) -> RawNode {
        RawNode {
            tree,
            id,
            mode: Some(Mode::Leq),
            feature,
            threshold: t,
            on_true: yes,
            on_false: no,
            missing_true: false,
        }
    }

    fn leaf(tree: usize, id: usize) -> RawNode {
        RawNode {
            tree,
            id,
            mode: None,
            feature: 0,
            threshold: 0.0,
            on_true: 0,
            on_false: 0,
            missing_true: false,
        }
    }

    fn vote(tree: usize, node: usize, output: usize, weight: f32) -> RawWeight {
        RawWeight {
            tree,
            node,
            output,
            weight,
        }
    }

    /// Two stumps on features 0 and 1 of a regressor.
    fn stumps(agg: Aggregate, base: Vec<f32>) -> CompiledEnsemble {
        let nodes = [
            branch(0, 0, 0, 0.5, 1, 2),
            leaf(0, 1),
            leaf(0, 2),
            leaf(1, 2),
            branch(1, 0, 1, -1.0, 1, 2),
            leaf(1, 1),
        ];
        let weights = [
            vote(0, 1, 0, 1.0),
            vote(0, 2, 0, 2.0),
            vote(1, 1, 0, 10.0),
            vote(1, 2, 0, 20.0),
        ];
        CompiledEnsemble::compile(&nodes, &weights, 1, agg, base, PostTransform::None, None)
            .unwrap()
    }

    #[test]
    fn regressor_aggregates_follow_the_spec() {
        let mut out = [0f32];
        let mut voted = [false];
        let x = [0.0, 5.0]; // tree 0 → 1.0, tree 1 → 20.0
        stumps(Aggregate::Sum, vec![0.5]).eval_regressor(&x, &mut out, &mut voted);
        assert_eq!(out[0], 21.5);
        stumps(Aggregate::Average, vec![]).eval_regressor(&x, &mut out, &mut voted);
        assert_eq!(out[0], 10.5);
        stumps(Aggregate::Min, vec![]).eval_regressor(&x, &mut out, &mut voted);
        assert_eq!(out[0], 1.0);
        stumps(Aggregate::Max, vec![]).eval_regressor(&x, &mut out, &mut voted);
        assert_eq!(out[0], 20.0);
    }

    #[test]
    fn nan_follows_the_missing_flag() {
        let mut nodes = vec![branch(0, 0, 0, 0.5, 1, 2), leaf(0, 1), leaf(0, 2)];
        let weights = [vote(0, 1, 0, 1.0), vote(0, 2, 0, 2.0)];
        let mut out = [0f32];
        let mut voted = [false];
        let e = summed(&nodes, &weights, 1);
        e.eval_regressor(&[f32::NAN], &mut out, &mut voted);
        assert_eq!(out[0], 2.0, "NaN <= t is false");
        nodes[0].missing_true = true;
        let e = summed(&nodes, &weights, 1);
        e.eval_regressor(&[f32::NAN], &mut out, &mut voted);
        assert_eq!(out[0], 1.0);
    }

    #[test]
    fn malformed_ensembles_are_errors() {
        let cyc = [branch(0, 0, 0, 0.5, 0, 1), leaf(0, 1)];
        let err = CompiledEnsemble::compile(
            &cyc,
            &[],
            1,
            Aggregate::Sum,
            vec![],
            PostTransform::None,
            None,
        )
        .unwrap_err();
        assert!(err.contains("ancestor"), "{err}");
        let dangling = [branch(0, 0, 0, 0.5, 1, 7), leaf(0, 1)];
        let err = CompiledEnsemble::compile(
            &dangling,
            &[],
            1,
            Aggregate::Sum,
            vec![],
            PostTransform::None,
            None,
        )
        .unwrap_err();
        assert!(err.contains("missing node 7"), "{err}");
        let nodes = [leaf(0, 0)];
        let err = CompiledEnsemble::compile(
            &nodes,
            &[vote(0, 0, 3, 1.0)],
            2,
            Aggregate::Sum,
            vec![],
            PostTransform::None,
            None,
        )
        .unwrap_err();
        assert!(err.contains("output 3"), "{err}");
    }

    #[test]
    fn binary_classifier_with_one_voted_class_expands_to_two_columns() {
        // Random-forest style: positive weights for class id 0 = P(class 1).
        let nodes = [branch(0, 0, 0, 0.5, 1, 2), leaf(0, 1), leaf(0, 2)];
        let weights = [vote(0, 1, 0, 0.2), vote(0, 2, 0, 0.9)];
        let labels = Some(Labels::Int(vec![0, 1]));
        let e = CompiledEnsemble::compile(
            &nodes,
            &weights,
            2,
            Aggregate::Sum,
            vec![],
            PostTransform::None,
            labels.clone(),
        )
        .unwrap();
        let (mut out, mut voted) = ([0f32; 2], [false; 2]);
        assert_eq!(e.eval_classifier(&[1.0], &mut out, &mut voted), 1);
        assert_eq!(out, [1.0 - 0.9, 0.9]);
        // Boosting style: margins, one base value, logistic.
        let weights = [vote(0, 1, 0, -0.7), vote(0, 2, 0, 0.4)];
        let e = CompiledEnsemble::compile(
            &nodes,
            &weights,
            2,
            Aggregate::Sum,
            vec![0.1],
            PostTransform::Logistic,
            labels,
        )
        .unwrap();
        assert_eq!(e.eval_classifier(&[0.0], &mut out, &mut voted), 0);
        assert!((out[1] - logistic(-0.6)).abs() < 1e-7 && (out[0] + out[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn softmax_and_probit_are_sane() {
        let mut s = [1.0f32, 2.0, 3.0];
        post_transform(PostTransform::Softmax, &mut s);
        assert!((s.iter().sum::<f32>() - 1.0).abs() < 1e-6 && s[2] > s[1]);
        assert!(probit(0.5).abs() < 1e-6);
        assert!((probit(0.975) - 1.959_964).abs() < 1e-4);
        assert!((probit(0.025) + 1.959_964).abs() < 1e-4);
    }

    /// `nodes` and `weights` compiled as a plain sum (no base, no transform).
    fn summed(nodes: &[RawNode], weights: &[RawWeight], outputs: usize) -> CompiledEnsemble {
        CompiledEnsemble::compile(
            nodes,
            weights,
            outputs,
            Aggregate::Sum,
            vec![],
            PostTransform::None,
            None,
        )
        .unwrap()
    }

    /// A plain recursive oracle for random ensembles.
    /// Sums per output by following ids, one tree at a time.
    fn oracle(
        nodes: &[RawNode],
        weights: &[RawWeight],
        trees: usize,
        outputs: usize,
        x: &[f32],
    ) -> Vec<f32> {
        let mut sums = vec![0.0; outputs];
        for t in 0..trees {
            let mut id = 0;
            loop {
                let n = nodes.iter().find(|n| n.tree == t && n.id == id).unwrap();
                match n.mode {
                    None => {
                        for w in weights.iter().filter(|w| w.tree == t && w.node == id) {
                            sums[w.output] += w.weight;
                        }
                        break;
                    }
                    Some(m) => {
                        let v = x[n.feature];
                        let go_true = if v.is_nan() && n.missing_true {
                            true
                        } else {
                            m.test(v, n.threshold)
                        };
                        id = if go_true { n.on_true } else { n.on_false }
                    }
                }
            }
        }
        sums
    }

    /// How [`random_forest`] shapes its trees.
    struct Shape {
        trees: usize,
        depth: u32,
        features: usize,
        /// One mode for every node (else Leq or Lt at random).
        uniform: Option<Mode>,
        outputs: usize,
        /// Leaves vote for every output (else each tree for one output).
        every_output: bool,
    }

    /// Random trees, each complete to a random depth up to `depth`, ids in
    /// breadth-first order, some nodes sending missing values to the true side.
    fn random_forest(seed: &[u8], shape: &Shape) -> (Vec<RawNode>, Vec<RawWeight>) {
        let mut k = 0usize;
        let mut next = || {
            k += 1;
            seed[k % seed.len()] as usize + k
        };
        let (mut nodes, mut weights) = (Vec::new(), Vec::new());
        for t in 0..shape.trees {
            let depth = 1 + next() as u32 % shape.depth;
            let inner = (1usize << depth) - 1;
            for id in 0..(2 * inner + 1) {
                if id < inner {
                    let mode =
                        shape
                            .uniform
                            .unwrap_or(if next() % 2 == 0 { Mode::Leq } else { Mode::Lt });
                    nodes.push(RawNode {
                        mode: Some(mode),
                        feature: next() % shape.features,
                        threshold: (next() % 7) as f32 - 3.0,
                        missing_true: next() % 3 == 0,
                        ..branch(t, id, 0, 0.0, 2 * id + 1, 2 * id + 2)
                    });
                } else {
                    nodes.push(leaf(t, id));
                    for o in 0..shape.outputs {
                        if shape.every_output || o == t % shape.outputs {
                            weights.push(vote(t, id, o, (next() % 11) as f32 - 5.0));
                        }
                    }
                }
            }
        }
        nodes.reverse(); // order in the attributes must not matter
        (nodes, weights)
    }

    fn row(x: &[i8]) -> Vec<f32> {
        // -4 stands for a missing value.
        x.iter()
            .map(|&v| if v == -4 { f32::NAN } else { v as f32 })
            .collect()
    }

    proptest! {
        #[test]
        fn compiled_evaluation_matches_a_naive_walk(
            seed in proptest::collection::vec(any::<u8>(), 8..32),
            x in proptest::collection::vec(-4i8..4, 5),
            trees in 1usize..6,
            depth in 1u32..5,
        ) {
            let shape = Shape { trees, depth, features: 5, uniform: None, outputs: 1, every_output: true };
            let (nodes, weights) = random_forest(&seed, &shape);
            let e = summed(&nodes, &weights, 1);
            let mut modes = nodes.iter().filter_map(|n| n.mode);
            let first = modes.next();
            let mixed = modes.any(|m| Some(m) != first);
            prop_assert_eq!(e.fast.is_none(), mixed, "mixed modes take the plain walk");
            let x = row(&x);
            let (mut out, mut voted) = ([0f32], [false]);
            e.eval_regressor(&x, &mut out, &mut voted);
            prop_assert_eq!(out[0], oracle(&nodes, &weights, trees, 1, &x)[0]);
        }

        /// Both kernels, the interleaved walk and scoring by features
        /// (whatever the cost model would choose), give the sequential sums:
        /// blocks (full and partial), uneven depths up to 64 leaves, missing
        /// values, every mode and vote layout; Eq and Neq have no layout for
        /// scoring by features.
        #[test]
        fn both_tree_kernels_match_a_naive_walk(
            seed in proptest::collection::vec(any::<u8>(), 8..32),
            x in proptest::collection::vec(-4i8..4, 6),
            trees in 1usize..40,
            depth in 1u32..7,
            mode in prop_oneof![Just(Mode::Leq), Just(Mode::Lt), Just(Mode::Gte), Just(Mode::Gt), Just(Mode::Eq), Just(Mode::Neq)],
            outputs in 1usize..4,
            every_output in any::<bool>(),
        ) {
            let shape = Shape { trees, depth, features: 6, uniform: Some(mode), outputs, every_output };
            let (nodes, weights) = random_forest(&seed, &shape);
            let mut e = summed(&nodes, &weights, outputs);
            let fast = e.fast.as_ref().expect("one mode: the interleaved walk");
            let expect_inline = !(every_output && outputs > 1);
            prop_assert_eq!(fast.inline != Inline::No, expect_inline);
            let x = row(&x);
            // Several targets: no base values, no transform.
            let want = oracle(&nodes, &weights, trees, outputs, &x);
            let quick = e.quick_layout();
            prop_assert_eq!(quick.is_some(), !matches!(mode, Mode::Eq | Mode::Neq));
            for kernel in [None, quick] {
                e.quick = kernel;
                let mut out = vec![0.0; outputs];
                let mut voted = vec![false; outputs];
                e.eval_regressor(&x, &mut out, &mut voted);
                prop_assert_eq!(&out, &want, "scored by features: {}", e.quick.is_some());
            }
        }
    }

    #[test]
    fn trees_of_more_than_64_leaves_take_the_walk_and_blocks_hold_256_trees() {
        let seed = [7u8, 1, 200, 33, 90, 4, 61, 18];
        // Depth up to 7: some trees have 128 leaves.
        let deep = Shape {
            trees: 20,
            depth: 7,
            features: 6,
            uniform: Some(Mode::Leq),
            outputs: 1,
            every_output: true,
        };
        let (nodes, weights) = random_forest(&seed, &deep);
        let e = summed(&nodes, &weights, 1);
        let leaves = |t: usize| weights.iter().filter(|w| w.tree == t).count();
        assert_eq!(e.quick_layout().is_some(), (0..20).all(|t| leaves(t) <= 64));
        // 600 shallow trees: three blocks, trees in order across them.
        let many = Shape {
            trees: 600,
            depth: 3,
            features: 6,
            uniform: Some(Mode::Lt),
            outputs: 1,
            every_output: true,
        };
        let (nodes, weights) = random_forest(&seed, &many);
        let mut e = summed(&nodes, &weights, 1);
        e.quick = e.quick_layout();
        assert!(e.quick.is_some());
        for k in 0..20 {
            let x = row(&[k % 7 - 3, (k * 3) % 8 - 4, 1, -2, k % 5 - 2, 0]);
            let (mut out, mut voted) = ([0f32], [false]);
            e.eval_regressor(&x, &mut out, &mut voted);
            assert_eq!(out[0], oracle(&nodes, &weights, 600, 1, &x)[0]);
        }
    }
}
