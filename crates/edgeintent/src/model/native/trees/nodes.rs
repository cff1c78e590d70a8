//! The parts of a compiled tree ensemble: comparison modes, aggregation,
//! labels, nodes as parsed and as stored, and the view the kernels walk.

use serde::{Deserialize, Serialize};

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
    pub(crate) fn test(self, x: f32, t: f32) -> bool {
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

pub(crate) const LEAF: u32 = 1 << 31;
pub(crate) const MISSING_TRUE: u32 = 1 << 30;
pub(crate) const FEATURE_MASK: u32 = MISSING_TRUE - 1;

/// One node, 16 bytes. Branch: `feature | flags`, threshold, children.
/// Leaf: `LEAF`, unused, and the `[start, end)` range of its weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Node {
    pub(crate) feature: u32,
    pub(crate) threshold: f32,
    pub(crate) on_true: u32,
    pub(crate) on_false: u32,
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

/// What the traversal kernels read of an ensemble.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ForestView<'a> {
    pub(crate) nodes: &'a [Node],
    pub(crate) roots: &'a [u32],
    pub(crate) weights: &'a [(u32, f32)],
    pub(crate) uniform: Option<Mode>,
    pub(crate) any_missing_true: bool,
    pub(crate) n_features: usize,
}

/// Fails when following children from a root can loop (a malformed model
/// would otherwise hang the traversal).
pub(crate) fn check_acyclic(nodes: &[Node], roots: &[u32]) -> Result<(), String> {
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
