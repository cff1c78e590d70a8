//! edgeintent's own executor for the model families on-device intent models
//! use: tree ensembles, linear models, dense chains and the element-wise and
//! layout steps exporters put around them. A [`NativePlan`] is a list of
//! steps over one preallocated arena of f32 values (batch 1: every value is
//! a row), so a run allocates nothing. Plans are compiled from ONNX graphs
//! where tract is built in (`engine::native`), and are what `.eim` packages
//! hold: this module itself needs no tract.

// Compiling (from ONNX) needs tract; without it only loading and running remain.
#![cfg_attr(not(feature = "tract"), allow(dead_code))]

use serde::{Deserialize, Serialize};

mod cells;
mod linalg;
pub(crate) mod post;
pub(crate) mod trees;

pub(crate) use cells::{GruCell, LstmCell};

use linalg::{affine, softmax};
use post::{post_transform, PostTransform};
use trees::CompiledEnsemble;

/// Where a value lives in the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Slot {
    pub(crate) offset: u32,
    pub(crate) len: u32,
}

impl Slot {
    fn range(self) -> std::ops::Range<usize> {
        self.offset as usize..(self.offset + self.len) as usize
    }
}

/// Element-wise functions of one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Unary {
    Relu,
    Sigmoid,
    Tanh,
    Exp,
    Log,
    Abs,
    Neg,
    Sqrt,
    Reciprocal,
}

impl Unary {
    #[inline]
    fn apply(self, x: f32) -> f32 {
        match self {
            Unary::Relu => x.max(0.0),
            Unary::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Unary::Tanh => x.tanh(),
            Unary::Exp => x.exp(),
            Unary::Log => x.ln(),
            Unary::Abs => x.abs(),
            Unary::Neg => -x,
            Unary::Sqrt => x.sqrt(),
            Unary::Reciprocal => 1.0 / x,
        }
    }
}

/// Element-wise functions of two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
}

impl Binary {
    #[inline]
    fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
            Binary::Max => a.max(b),
            Binary::Min => a.min(b),
        }
    }
}

/// `ai.onnx.ml` `Normalizer` kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Norm {
    Max,
    L1,
    L2,
}

/// One step's computation. Weights are stored in the layout the loop reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Kernel {
    /// Tree ensemble scores (classifier probabilities or regression values).
    Trees(Box<CompiledEnsemble>),
    /// `y = x · W + b`, `W` as `[n_in][n_out]`.
    Affine {
        w: Vec<f32>,
        b: Vec<f32>,
    },
    /// `LinearClassifier`'s scores, with ONNX Runtime's post transform and
    /// its two-column layout for one model and two labels.
    LinearClassifier {
        #[serde(with = "nested_affine")]
        affine: Weights,
        post: PostTransform,
        second_class: bool,
    },
    /// `LinearRegressor`: PROBIT alone applies to a single target.
    LinearRegressor {
        #[serde(with = "nested_affine")]
        affine: Weights,
        post: PostTransform,
    },
    Unary(Unary),
    /// A value and a constant (broadcast to the value's width).
    BinaryConst {
        op: Binary,
        c: Vec<f32>,
        const_first: bool,
    },
    /// Two values of one width (or either of width 1, broadcast).
    BinaryValues(Binary),
    /// Softmax over the row.
    Softmax,
    /// `(x - offset) * scale`, per column.
    Scaler {
        offset: Vec<f32>,
        scale: Vec<f32>,
    },
    Normalizer(Norm),
    /// Values equal to `replaced` (NaN: every NaN) take their column's `imputed`.
    Imputer {
        imputed: Vec<f32>,
        replaced: f32,
    },
    /// `Binarizer`: 1 above the threshold, else 0.
    Binarizer(f32),
    /// The columns at these indices.
    Gather(Vec<u32>),
    /// The inputs side by side.
    Concat,
    /// A plain copy (Identity, ZipMap's tensor, Reshape and Flatten of a row, Cast to float).
    Copy,
    /// An embedding lookup (`Gather` on a constant table, indexed by a value
    /// cast to an integer): row `trunc(x)` of `table`, negative ids counting
    /// from the end; rows are as wide as the output slot. An id outside the
    /// table gives NaN (an error downstream).
    Embed {
        table: Vec<f32>,
    },
    /// One step of an ONNX `GRU` (forward, sigmoid and tanh, batch 1) from
    /// the input and the state (inputs `[x, h]`). The output slot holds the new state,
    /// then scratch for the gates ([`GruCell::slot_width`]).
    Gru(Box<GruCell>),
    /// One step of an ONNX `LSTM` (forward, default activations, batch 1)
    /// from the input and both states (inputs `[x, h, c]`). The output slot
    /// holds the new `h`, the new `c`, then scratch ([`LstmCell::slot_width`]).
    Lstm(Box<LstmCell>),
}

/// A linear model's weights: `y = x · W + b`, `W` as `[n_in][n_out]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Weights {
    pub(crate) w: Vec<f32>,
    pub(crate) b: Vec<f32>,
}

/// A linear model's weights as `.eim` version 1 stores them: encoded as a
/// nested `Kernel::Affine` (variant 1 of [`Kernel`]), so existing packages
/// still read, but decoded as weights only. A package can therefore not nest
/// kernels (100,000 nested classifiers once overflowed the decoder's stack).
mod nested_affine {
    use std::fmt;

    use serde::de::{EnumAccess, Error, SeqAccess, VariantAccess, Visitor};
    use serde::{Deserializer, Serialize, Serializer};

    use crate::model::native::Weights;

    const VARIANTS: &[&str] = &["Trees", "Affine"];
    const FIELDS: &[&str] = &["w", "b"];

    #[derive(Serialize)]
    enum StoredRef<'a> {
        #[allow(dead_code)] // keeps `Affine` at variant index 1, as in `Kernel`
        Trees,
        Affine {
            w: &'a [f32],
            b: &'a [f32],
        },
    }

    pub(super) fn serialize<S: Serializer>(a: &Weights, s: S) -> Result<S::Ok, S::Error> {
        StoredRef::Affine { w: &a.w, b: &a.b }.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Weights, D::Error> {
        d.deserialize_enum("Kernel", VARIANTS, AffineOnly)
    }

    struct AffineOnly;

    impl<'de> Visitor<'de> for AffineOnly {
        type Value = Weights;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an affine kernel")
        }

        fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Weights, A::Error> {
            let (index, variant): (u32, _) = data.variant()?;
            if index != 1 {
                return Err(A::Error::custom(format!(
                    "a linear model's weights must be an affine kernel, not kernel variant {index} \
                     (kernels do not nest)"
                )));
            }
            variant.struct_variant(FIELDS, WeightsVisitor)
        }
    }

    struct WeightsVisitor;

    impl<'de> Visitor<'de> for WeightsVisitor {
        type Value = Weights;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("weights and biases")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Weights, A::Error> {
            let w = seq
                .next_element()?
                .ok_or_else(|| A::Error::invalid_length(0, &self))?;
            let b = seq
                .next_element()?
                .ok_or_else(|| A::Error::invalid_length(1, &self))?;
            Ok(Weights { w, b })
        }
    }
}

/// One step: a kernel from input slots to an output slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Step {
    pub(crate) kernel: Kernel,
    pub(crate) inputs: Vec<Slot>,
    pub(crate) output: Slot,
    /// The ONNX node it came from, for errors and `inspect`.
    pub(crate) name: String,
}

/// A compiled model: steps over an arena whose first `n_in` values are the input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct NativePlan {
    pub(crate) n_in: usize,
    pub(crate) steps: Vec<Step>,
    pub(crate) output: Slot,
    pub(crate) arena_len: usize,
    #[serde(skip)]
    arena: Vec<f32>,
    #[serde(skip)]
    voted: Vec<bool>,
    /// Set when a run panicked: the plan is not run again.
    #[serde(skip)]
    failed: Option<String>,
}

/// Why a plan (or a package holding one) is unusable.
pub(crate) fn check_plan(p: &NativePlan) -> Result<(), String> {
    let fits = |s: Slot| (s.offset as usize) + (s.len as usize) <= p.arena_len;
    if p.n_in == 0 || p.n_in > p.arena_len {
        return Err(format!("input width {} does not fit the arena", p.n_in));
    }
    if !fits(p.output) || p.output.len == 0 {
        return Err("the output slot lies outside the arena".into());
    }
    if p.arena_len > 1 << 26 {
        return Err(format!("an arena of {} values is too large", p.arena_len));
    }
    for s in &p.steps {
        let bad = |why: &str| Err(format!("step {}: {why}", s.name));
        if !fits(s.output) || s.inputs.iter().any(|i| !fits(*i)) {
            return bad("a slot lies outside the arena");
        }
        // Steps read only what earlier steps wrote: inputs end before the output starts.
        if s.inputs.iter().any(|i| i.offset + i.len > s.output.offset) {
            return bad("an input overlaps or follows its output");
        }
        let w = s.output.len as usize;
        let one = |n: usize| s.inputs.len() == n;
        let width = |k: usize| s.inputs.get(k).map_or(0, |i| i.len as usize);
        let ok = match &s.kernel {
            Kernel::Trees(e) => {
                one(1) && width(0) >= e.n_features && w == e.score_width() && e.check().is_ok()
            }
            Kernel::Affine { w: m, b } => one(1) && b.len() == w && m.len() == width(0) * w,
            Kernel::LinearClassifier {
                affine: Weights { w: m, b },
                second_class,
                ..
            } => {
                // The two-column layout scores one class and derives the other.
                let scored = if *second_class {
                    w.checked_sub(1)
                } else {
                    Some(w)
                };
                let cols_ok = !*second_class || w == 2;
                one(1) && cols_ok && Some(b.len()) == scored && m.len() == width(0) * b.len()
            }
            Kernel::LinearRegressor {
                affine: Weights { w: m, b },
                ..
            } => one(1) && b.len() == w && m.len() == width(0) * w,
            Kernel::Unary(_) | Kernel::Softmax | Kernel::Normalizer(_) | Kernel::Binarizer(_) => {
                one(1) && width(0) == w
            }
            Kernel::Copy => one(1) && width(0) == w,
            Kernel::BinaryConst { c, .. } => one(1) && width(0) == w && c.len() == w,
            Kernel::BinaryValues(_) => {
                one(2) && (width(0) == w || width(0) == 1) && (width(1) == w || width(1) == 1)
            }
            Kernel::Scaler { offset, scale } => {
                one(1) && width(0) == w && offset.len() == w && scale.len() == w
            }
            Kernel::Imputer { imputed, .. } => one(1) && width(0) == w && imputed.len() == w,
            Kernel::Gather(ix) => {
                one(1) && ix.len() == w && ix.iter().all(|&i| (i as usize) < width(0))
            }
            Kernel::Concat => {
                !s.inputs.is_empty() && s.inputs.iter().map(|i| i.len as usize).sum::<usize>() == w
            }
            Kernel::Embed { table } => {
                one(1) && width(0) == 1 && w > 0 && table.len() % w == 0 && !table.is_empty()
            }
            Kernel::Gru(cell) => {
                one(2)
                    && width(1) == cell.hidden as usize
                    && cell.fits(width(0))
                    && w == cell.slot_width()
            }
            Kernel::Lstm(cell) => {
                one(3)
                    && width(1) == cell.hidden as usize
                    && width(2) == cell.hidden as usize
                    && cell.fits(width(0))
                    && w == cell.slot_width()
            }
        };
        if !ok {
            return bad("its slots do not match its kernel's sizes");
        }
    }
    Ok(())
}

impl NativePlan {
    /// A checked plan with its buffers allocated.
    pub(crate) fn new(
        n_in: usize,
        steps: Vec<Step>,
        output: Slot,
        arena_len: usize,
    ) -> Result<NativePlan, String> {
        NativePlan {
            n_in,
            steps,
            output,
            arena_len,
            arena: Vec::new(),
            voted: Vec::new(),
            failed: None,
        }
        .ready()
    }

    /// Checks a plan (a deserialized one included) and allocates its buffers.
    pub(crate) fn ready(mut self) -> Result<NativePlan, String> {
        check_plan(&self)?;
        for s in &mut self.steps {
            if let Kernel::Trees(e) = &mut s.kernel {
                e.prepare();
            }
        }
        self.arena = vec![0.0; self.arena_len];
        let widest = self
            .steps
            .iter()
            .map(|s| match &s.kernel {
                Kernel::Trees(e) => e.score_width(),
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        self.voted = vec![false; widest];
        Ok(self)
    }

    /// The input row, to be written before [`NativePlan::run`].
    pub(crate) fn input_mut(&mut self) -> &mut [f32] {
        &mut self.arena[..self.n_in]
    }

    /// The values in `slot` after the last run.
    pub(crate) fn value(&self, slot: Slot) -> &[f32] {
        &self.arena[slot.range()]
    }

    /// Copies `from` (an output) into the input row at `at`: a carried state.
    pub(crate) fn copy_to_input(&mut self, from: Slot, at: usize) {
        self.arena.copy_within(from.range(), at);
    }

    /// Number of steps.
    pub(crate) fn len(&self) -> usize {
        self.steps.len()
    }

    /// Runs every step on the input written with [`NativePlan::input_mut`];
    /// the output row borrows the arena. Allocates nothing. A panic inside a
    /// kernel (a plan `check_plan` should have refused) is caught and makes
    /// this and every later run an error, as a failed tract run is: the
    /// runtime's rules then decide.
    pub(crate) fn run(&mut self) -> Result<&[f32], String> {
        if let Some(why) = &self.failed {
            return Err(why.clone());
        }
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_steps()));
        if let Err(panic) = ran {
            let what = crate::panics::message(&*panic);
            let why = format!("the native plan panicked ({what}); it is not run again");
            self.failed = Some(why.clone());
            return Err(why);
        }
        Ok(&self.arena[self.output.range()])
    }

    fn run_steps(&mut self) {
        for s in &self.steps {
            let (done, rest) = self.arena.split_at_mut(s.output.offset as usize);
            let out = &mut rest[..s.output.len as usize];
            let x = |k: usize| &done[s.inputs[k].range()];
            match &s.kernel {
                Kernel::Trees(e) => {
                    let voted = &mut self.voted[..e.score_width()];
                    if e.classifier.is_some() {
                        e.eval_classifier(x(0), out, voted);
                    } else {
                        e.eval_regressor(x(0), out, voted);
                    }
                }
                Kernel::Affine { w, b } => affine(x(0), w, b, out),
                Kernel::LinearClassifier {
                    affine: Weights { w, b },
                    post,
                    second_class,
                } => {
                    if *second_class {
                        affine(x(0), w, b, &mut out[1..]);
                        if *post == PostTransform::Probit {
                            post_transform(*post, &mut out[1..]);
                            out[0] = 0.0;
                        } else {
                            out[0] = 1.0 - out[1];
                        }
                    } else {
                        affine(x(0), w, b, out);
                        single_or_row(*post, out);
                    }
                }
                Kernel::LinearRegressor {
                    affine: Weights { w, b },
                    post,
                } => {
                    affine(x(0), w, b, out);
                    single_or_row(*post, out);
                }
                Kernel::Unary(f) => {
                    for (o, v) in out.iter_mut().zip(x(0)) {
                        *o = f.apply(*v);
                    }
                }
                Kernel::BinaryConst { op, c, const_first } => {
                    for ((o, v), c) in out.iter_mut().zip(x(0)).zip(c) {
                        *o = if *const_first {
                            op.apply(*c, *v)
                        } else {
                            op.apply(*v, *c)
                        };
                    }
                }
                Kernel::BinaryValues(op) => {
                    let (a, b) = (x(0), x(1));
                    for (i, o) in out.iter_mut().enumerate() {
                        let l = a[if a.len() == 1 { 0 } else { i }];
                        let r = b[if b.len() == 1 { 0 } else { i }];
                        *o = op.apply(l, r);
                    }
                }
                Kernel::Softmax => {
                    out.copy_from_slice(x(0));
                    softmax(out);
                }
                Kernel::Scaler { offset, scale } => {
                    for (((o, v), m), s) in out.iter_mut().zip(x(0)).zip(offset).zip(scale) {
                        *o = (v - m) * s;
                    }
                }
                Kernel::Normalizer(n) => {
                    let v = x(0);
                    let d = match n {
                        Norm::Max => v.iter().fold(f32::MIN, |a, b| a.max(b.abs())),
                        Norm::L1 => v.iter().map(|a| a.abs()).sum(),
                        Norm::L2 => v.iter().map(|a| a * a).sum::<f32>().sqrt(),
                    };
                    for (o, a) in out.iter_mut().zip(v) {
                        *o = a / d;
                    }
                }
                Kernel::Imputer { imputed, replaced } => {
                    for ((o, v), m) in out.iter_mut().zip(x(0)).zip(imputed) {
                        let hit = if replaced.is_nan() {
                            v.is_nan()
                        } else {
                            v == replaced
                        };
                        *o = if hit { *m } else { *v };
                    }
                }
                Kernel::Binarizer(t) => {
                    for (o, v) in out.iter_mut().zip(x(0)) {
                        *o = if v > t { 1.0 } else { 0.0 };
                    }
                }
                Kernel::Gather(ix) => {
                    let v = x(0);
                    for (o, &i) in out.iter_mut().zip(ix) {
                        *o = v[i as usize];
                    }
                }
                Kernel::Concat => {
                    let mut at = 0;
                    for i in &s.inputs {
                        let v = &done[i.range()];
                        out[at..at + v.len()].copy_from_slice(v);
                        at += v.len();
                    }
                }
                Kernel::Copy => out.copy_from_slice(x(0)),
                Kernel::Embed { table } => {
                    let rows = table.len() / out.len();
                    let id = x(0)[0].trunc();
                    let id = if id < 0.0 { id + rows as f32 } else { id };
                    if id >= 0.0 && id < rows as f32 {
                        let at = id as usize * out.len();
                        out.copy_from_slice(&table[at..at + out.len()]);
                    } else {
                        out.fill(f32::NAN);
                    }
                }
                Kernel::Gru(cell) => cell.step(x(0), x(1), out),
                Kernel::Lstm(cell) => cell.step(x(0), x(1), x(2), out),
            }
        }
    }
}

/// ONNX Runtime's post transform of a linear model's row: the whole
/// transform for several scores, PROBIT alone for one.
fn single_or_row(post: PostTransform, out: &mut [f32]) {
    if out.len() > 1 || post == PostTransform::Probit {
        post_transform(post, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(offset: u32, len: u32) -> Slot {
        Slot { offset, len }
    }

    fn plan(steps: Vec<Step>, output: Slot, arena_len: usize) -> NativePlan {
        NativePlan {
            n_in: 2,
            steps,
            output,
            arena_len,
            arena: Vec::new(),
            voted: Vec::new(),
            failed: None,
        }
    }

    fn step(kernel: Kernel, inputs: Vec<Slot>, output: Slot) -> Step {
        Step {
            kernel,
            inputs,
            output,
            name: "s".into(),
        }
    }

    #[test]
    fn a_small_chain_runs_and_hostile_plans_are_refused() {
        // y = sigmoid(x · [1, -1]ᵀ + 0.5), then [1 - y, y].
        let affine = step(
            Kernel::Affine {
                w: vec![1.0, -1.0],
                b: vec![0.5],
            },
            vec![slot(0, 2)],
            slot(2, 1),
        );
        let sig = step(Kernel::Unary(Unary::Sigmoid), vec![slot(2, 1)], slot(3, 1));
        let neg = step(
            Kernel::BinaryConst {
                op: Binary::Sub,
                c: vec![1.0],
                const_first: true,
            },
            vec![slot(3, 1)],
            slot(4, 1),
        );
        let cat = step(Kernel::Concat, vec![slot(4, 1), slot(3, 1)], slot(5, 2));
        let mut p = plan(vec![affine, sig, neg, cat], slot(5, 2), 7)
            .ready()
            .unwrap();
        p.input_mut().copy_from_slice(&[2.0, 1.0]);
        let y = 1.0 / (1.0 + (-1.5f32).exp());
        assert_eq!(p.run().unwrap(), &[1.0 - y, y]);

        let bad = |steps: Vec<Step>, out: Slot, len: usize| {
            check_plan(&plan(steps, out, len)).unwrap_err()
        };
        // A slot past the arena, an input after its output, sizes that disagree.
        assert!(bad(
            vec![step(Kernel::Copy, vec![slot(0, 2)], slot(6, 2))],
            slot(6, 2),
            7
        )
        .contains("outside"));
        assert!(bad(
            vec![step(Kernel::Copy, vec![slot(3, 2)], slot(2, 2))],
            slot(2, 2),
            7
        )
        .contains("overlaps"));
        assert!(bad(
            vec![step(Kernel::Gather(vec![5]), vec![slot(0, 2)], slot(2, 1))],
            slot(2, 1),
            7
        )
        .contains("sizes"));
        assert!(bad(vec![], slot(9, 1), 7).contains("output"));
    }

    fn classifier(b: Vec<f32>, second_class: bool, width: u32) -> Step {
        step(
            Kernel::LinearClassifier {
                affine: Weights {
                    w: vec![0.5; 2 * b.len()],
                    b,
                },
                post: PostTransform::None,
                second_class,
            },
            vec![slot(0, 2)],
            slot(2, width),
        )
    }

    #[test]
    fn a_two_column_classifier_scores_one_class_and_other_widths_are_refused() {
        let mut p = plan(vec![classifier(vec![0.25], true, 2)], slot(2, 2), 4)
            .ready()
            .unwrap();
        p.input_mut().copy_from_slice(&[1.0, 1.0]);
        assert_eq!(p.run().unwrap(), &[-0.25, 1.25]);
        // Two biases (or none) for the one scored column once panicked at run time.
        for b in [vec![0.0, 0.0], vec![]] {
            let err = check_plan(&plan(vec![classifier(b, true, 2)], slot(2, 2), 4)).unwrap_err();
            assert!(err.contains("sizes"), "{err}");
        }
    }

    #[test]
    fn a_panicking_kernel_is_an_error_and_the_plan_is_not_run_again() {
        // Built without the checks, as a plan they missed would be.
        let mut p = plan(vec![classifier(vec![0.0, 0.0], true, 2)], slot(2, 2), 4);
        p.arena = vec![0.0; 4];
        let err = p.run().unwrap_err();
        assert!(err.contains("panicked"), "{err}");
        assert_eq!(p.run().unwrap_err(), err);
    }

    #[test]
    fn linear_weights_keep_the_nested_kernel_encoding_and_refuse_nesting() {
        let cfg = bincode::config::standard();
        let k = Kernel::LinearRegressor {
            affine: Weights {
                w: vec![1.0],
                b: vec![2.0],
            },
            post: PostTransform::None,
        };
        let bytes = bincode::serde::encode_to_vec(&k, cfg).unwrap();
        // LinearRegressor (3), then the weights as `Kernel::Affine` (1) was.
        let affine = bincode::serde::encode_to_vec(
            &Kernel::Affine {
                w: vec![1.0],
                b: vec![2.0],
            },
            cfg,
        )
        .unwrap();
        assert_eq!(bytes[0], 3);
        assert_eq!(&bytes[1..1 + affine.len()], &affine[..]);
        let (back, _): (Kernel, usize) = bincode::serde::decode_from_slice(&bytes, cfg).unwrap();
        assert_eq!(back, k);
        // A classifier where the weights should be.
        let mut nested = vec![3u8, 2];
        nested.extend(&bytes[1..]);
        let err = bincode::serde::decode_from_slice::<Kernel, _>(&nested, cfg).unwrap_err();
        assert!(err.to_string().contains("do not nest"), "{err}");
    }
}
