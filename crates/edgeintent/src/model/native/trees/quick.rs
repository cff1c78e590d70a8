//! Tree ensembles scored feature by feature instead of tree by tree (the
//! QuickScorer method of Lucchese et al., SIGIR 2015): each tree keeps a
//! bitvector of leaves still possible; every branch whose test fails clears
//! the leaves of its true subtree; the exit leaf is the lowest bit left.
//! Branches are visited per feature in threshold order, so a row stops at
//! the first branch that passes: no data-dependent walk down a tree.

use super::nodes::Mode;

/// Most trees one block scores with its stack bitvectors.
const BLOCK_TREES: usize = 256;
/// Most leaves a tree may have (one bit each).
const MAX_LEAVES: usize = 64;

/// A branch as the block lays it out: the feature's branches sorted so
/// that a scan from the start meets failing tests first.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Branch {
    threshold: f32,
    /// The tree within the block.
    tree: u16,
    /// A missing value passes this branch's test.
    missing_true: bool,
    /// The leaves that stay possible when the test fails.
    keep: u64,
}

/// Up to [`BLOCK_TREES`] consecutive trees.
#[derive(Debug, Clone, PartialEq)]
struct Block {
    /// The first tree's index in the ensemble.
    first: usize,
    trees: usize,
    /// Per feature `f`: its branches, `branches[starts[f]..starts[f + 1]]`.
    starts: Vec<u32>,
    branches: Vec<Branch>,
    /// Per tree: its first leaf in `leaves` (and one past the last tree).
    leaf_starts: Vec<u32>,
}

/// An ensemble laid out for scoring by features.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Quick {
    mode: Mode,
    blocks: Vec<Block>,
    /// Every tree's leaves, left (true side) to right, as the ensemble's
    /// node indices.
    leaves: Vec<u32>,
}

/// A branch as the ensemble stores it.
pub(crate) struct BranchView {
    pub(crate) feature: usize,
    pub(crate) threshold: f32,
    pub(crate) on_true: usize,
    pub(crate) on_false: usize,
    /// A missing value goes to the true side.
    pub(crate) missing_true: bool,
}

impl Quick {
    /// The layout of trees rooted at `roots` over `n_features`, or `None`
    /// when it does not apply: a mode without an order (Eq, Neq), a NaN
    /// threshold, or a tree with more than 64 leaves.
    pub(crate) fn build(
        branch: impl Fn(usize) -> Option<BranchView>,
        roots: &[u32],
        n_features: usize,
        mode: Mode,
    ) -> Option<Quick> {
        if matches!(mode, Mode::Eq | Mode::Neq) {
            return None;
        }
        let mut leaves = Vec::new();
        let mut blocks = Vec::new();
        for (b, chunk) in roots.chunks(BLOCK_TREES).enumerate() {
            let mut per_feature: Vec<Vec<Branch>> = vec![Vec::new(); n_features];
            let mut leaf_starts = Vec::with_capacity(chunk.len() + 1);
            for (t, &root) in chunk.iter().enumerate() {
                leaf_starts.push(u32::try_from(leaves.len()).ok()?);
                let first = leaves.len();
                // Depth first, true side first: leaves numbered left to right.
                // `None` closes the innermost open branch once its true
                // subtree is numbered; `open` holds (feature, first leaf, index).
                let mut stack: Vec<Option<usize>> = vec![Some(root as usize)];
                let mut open: Vec<(usize, usize, usize)> = Vec::new();
                while let Some(next) = stack.pop() {
                    let Some(node) = next else {
                        let (feature, lo, at) = open.pop()?;
                        let hi = leaves.len() - first;
                        let span = if hi - lo == MAX_LEAVES {
                            u64::MAX
                        } else {
                            ((1u64 << (hi - lo)) - 1) << lo
                        };
                        per_feature[feature][at].keep = !span;
                        continue;
                    };
                    match branch(node) {
                        None => {
                            if leaves.len() - first == MAX_LEAVES {
                                return None;
                            }
                            leaves.push(node as u32);
                        }
                        Some(b) => {
                            if b.feature >= n_features || b.threshold.is_nan() {
                                return None;
                            }
                            open.push((
                                b.feature,
                                leaves.len() - first,
                                per_feature[b.feature].len(),
                            ));
                            per_feature[b.feature].push(Branch {
                                threshold: b.threshold,
                                tree: t as u16,
                                missing_true: b.missing_true,
                                // Set when the branch closes.
                                keep: u64::MAX,
                            });
                            // Popped in reverse: the true subtree, its close, then the false one.
                            stack.push(Some(b.on_false));
                            stack.push(None);
                            stack.push(Some(b.on_true));
                        }
                    }
                }
            }
            leaf_starts.push(u32::try_from(leaves.len()).ok()?);
            let mut starts = Vec::with_capacity(n_features + 1);
            let mut branches = Vec::new();
            for mut list in per_feature {
                starts.push(u32::try_from(branches.len()).ok()?);
                // Failing tests first: below the value for Leq/Lt, above it for Gte/Gt.
                match mode {
                    Mode::Leq | Mode::Lt => {
                        list.sort_by(|a, b| a.threshold.total_cmp(&b.threshold))
                    }
                    _ => list.sort_by(|a, b| b.threshold.total_cmp(&a.threshold)),
                }
                branches.extend(list);
            }
            starts.push(u32::try_from(branches.len()).ok()?);
            blocks.push(Block {
                first: b * BLOCK_TREES,
                trees: chunk.len(),
                starts,
                branches,
                leaf_starts,
            });
        }
        Some(Quick {
            mode,
            blocks,
            leaves,
        })
    }

    /// Expected work per row: half the branches fail, each clearing bits.
    pub(crate) fn work(&self) -> usize {
        self.blocks.iter().map(|b| b.branches.len()).sum::<usize>() / 2
    }

    /// Calls `f(tree, leaf)` with each tree's exit leaf (the ensemble's node
    /// index) for row `x`, in tree order. Allocates nothing.
    #[inline]
    pub(crate) fn for_each_leaf(&self, x: &[f32], mut f: impl FnMut(usize, usize)) {
        match self.mode {
            Mode::Leq => self.walk(x, |v, t| t < v, &mut f),
            Mode::Lt => self.walk(x, |v, t| t <= v, &mut f),
            Mode::Gte => self.walk(x, |v, t| t > v, &mut f),
            _ => self.walk(x, |v, t| t >= v, &mut f),
        }
    }

    /// `fails(v, t)`: the test of a branch with threshold `t` fails for a
    /// (non-missing) value `v`; branches are sorted so that failing ones come first.
    #[inline(always)]
    fn walk(&self, x: &[f32], fails: impl Fn(f32, f32) -> bool, f: &mut impl FnMut(usize, usize)) {
        let mut exits = [u64::MAX; BLOCK_TREES];
        for (k, block) in self.blocks.iter().enumerate() {
            let exits = &mut exits[..block.trees];
            if k > 0 {
                exits.fill(u64::MAX);
            }
            for (feature, span) in block.starts.windows(2).enumerate() {
                let branches = &block.branches[span[0] as usize..span[1] as usize];
                let v = x[feature];
                if v.is_nan() {
                    // Every branch whose missing values go to the false side fails.
                    for b in branches.iter().filter(|b| !b.missing_true) {
                        exits[usize::from(b.tree)] &= b.keep;
                    }
                    continue;
                }
                for b in branches {
                    if !fails(v, b.threshold) {
                        break;
                    }
                    exits[usize::from(b.tree)] &= b.keep;
                }
            }
            for (t, (&bits, span)) in exits.iter().zip(block.leaf_starts.windows(2)).enumerate() {
                // The exit leaf always stays possible, so the lowest bit is
                // within the tree's leaves; `min` only keeps that in bounds.
                let at =
                    (span[0] as usize + bits.trailing_zeros() as usize).min(span[1] as usize - 1);
                f(block.first + t, self.leaves[at] as usize);
            }
        }
    }
}
