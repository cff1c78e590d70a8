//! Both tree kernels against a naive recursive walk, and the ensemble's checks.
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
    CompiledEnsemble::compile(&nodes, &weights, 1, agg, base, PostTransform::None, None).unwrap()
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
