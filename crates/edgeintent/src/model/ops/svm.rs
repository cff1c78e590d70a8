//! `ai.onnx.ml` `SVMClassifier` and `SVMRegressor` (scikit-learn's `SVC`,
//! `NuSVC`, `SVR`, `NuSVR`, `OneClassSVM`; libsvm's layout). Every kernel
//! (`LINEAR`, `POLY`, `RBF`, `SIGMOID`), the liblinear mode (no support
//! vectors: one coefficient row per class), one-vs-one votes, and Platt
//! probabilities coupled across classes as ONNX Runtime computes them,
//! including its binary score layout and its choice of label.

use std::sync::Arc;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use crate::model::native::post::{logistic, post_transform, PostTransform};
use crate::model::native::trees::Labels;

/// The most classes a classifier may declare (as ONNX Runtime).
const MAX_CLASSES: usize = 65_535;

#[derive(Debug, Clone, Copy, PartialEq)]
enum KernelKind {
    Linear,
    Poly,
    Rbf,
    Sigmoid,
}

/// A kernel with its parameters (`kernel_params`: gamma, coef0, degree).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Kernel {
    kind: KernelKind,
    gamma: f32,
    coef0: f32,
    degree: f32,
}

impl Kernel {
    fn parse(node: &NodeProto) -> TractResult<Kernel> {
        let name: String = node
            .get_attr_opt("kernel_type")?
            .unwrap_or_else(|| "LINEAR".to_string());
        let kind = match name.as_str() {
            "LINEAR" => KernelKind::Linear,
            "POLY" => KernelKind::Poly,
            "RBF" => KernelKind::Rbf,
            "SIGMOID" => KernelKind::Sigmoid,
            other => bail!(
                "{}: unknown kernel_type {other:?} (LINEAR, POLY, RBF or SIGMOID)",
                node.op_type
            ),
        };
        let params: Vec<f32> = node.get_attr_opt_vec("kernel_params")?.unwrap_or_default();
        let (gamma, coef0, degree) = match params.as_slice() {
            [] => (0.0, 0.0, 0.0),
            [g, c, d, ..] => (*g, *c, *d),
            _ => bail!(
                "{}: kernel_params needs gamma, coef0 and degree, got {} values",
                node.op_type,
                params.len()
            ),
        };
        Ok(Kernel {
            kind,
            gamma,
            coef0,
            degree,
        })
    }

    /// `K(x, v)`; `c` is added to a linear kernel's dot product.
    fn apply(&self, x: &[f32], v: &[f32], c: f32) -> f32 {
        match self.kind {
            KernelKind::Rbf => {
                let d: f32 = x.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum();
                (-self.gamma * d).exp()
            }
            KernelKind::Linear => dot(x, v) + c,
            KernelKind::Poly => {
                let t = self.gamma * dot(x, v) + self.coef0;
                match self.degree {
                    2.0 => t * t,
                    3.0 => t * t * t,
                    d => t.powf(d),
                }
            }
            KernelKind::Sigmoid => (self.gamma * dot(x, v) + self.coef0).tanh(),
        }
    }
}

fn dot(x: &[f32], v: &[f32]) -> f32 {
    x.iter().zip(v).map(|(a, b)| a * b).sum()
}

fn post_transform_attr(node: &NodeProto) -> TractResult<PostTransform> {
    let name: String = node
        .get_attr_opt("post_transform")?
        .unwrap_or_else(|| "NONE".to_string());
    PostTransform::from_name(&name)
        .ok_or_else(|| format_err!("{}: unknown post_transform {name:?}", node.op_type))
}

/// How the scores are computed.
#[derive(Debug, Clone, PartialEq)]
enum Mode {
    /// liblinear: `coefficients` is `[classes, features]`, plus `rho[0]`.
    Linear,
    /// libsvm: support vectors grouped by class, one-vs-one classifiers.
    Svc {
        vectors_per_class: Vec<usize>,
        /// Index of each class's first support vector.
        starts: Vec<usize>,
        /// `[vectors, features]`.
        support_vectors: Vec<f32>,
    },
}

/// A parsed `SVMClassifier`.
#[derive(Debug, Clone, PartialEq)]
struct Classifier {
    kernel: Kernel,
    mode: Mode,
    /// Linear: `[classes, features]`; SVC: `[classes - 1, vectors]`.
    coefficients: Vec<f32>,
    rho: Vec<f32>,
    prob_a: Vec<f32>,
    prob_b: Vec<f32>,
    labels: Labels,
    post: PostTransform,
    features: usize,
    weights_all_positive: bool,
}

/// Parser for `SVMClassifier`.
pub(crate) fn parse_classifier(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let op = node.op_type.as_str();
    let mut kernel = Kernel::parse(node)?;
    let labels = match (
        node.get_attr_opt_slice::<i64>("classlabels_ints")?,
        node.get_attr_opt_tvec::<String>("classlabels_strings")?,
    ) {
        (Some(ints), None) if !ints.is_empty() => Labels::Int(ints.to_vec()),
        (None, Some(strs)) if !strs.is_empty() => Labels::Str(strs.into_iter().collect()),
        _ => bail!("{op}: exactly one of classlabels_ints and classlabels_strings must be set"),
    };
    let classes = labels.len();
    ensure!(
        classes <= MAX_CLASSES,
        "{op}: at most {MAX_CLASSES} classes, got {classes}"
    );
    let coefficients: Vec<f32> = node.get_attr_vec("coefficients")?;
    ensure!(!coefficients.is_empty(), "{op}: coefficients are empty");
    let rho: Vec<f32> = node.get_attr_vec("rho")?;
    let prob_a: Vec<f32> = node.get_attr_opt_vec("prob_a")?.unwrap_or_default();
    let prob_b: Vec<f32> = node.get_attr_opt_vec("prob_b")?.unwrap_or_default();
    ensure!(
        prob_a.len() == prob_b.len(),
        "{op}: prob_a has {} values but prob_b {}",
        prob_a.len(),
        prob_b.len()
    );
    let per_class: Vec<i64> = node
        .get_attr_opt_vec("vectors_per_class")?
        .unwrap_or_default();
    let support_vectors: Vec<f32> = node
        .get_attr_opt_vec("support_vectors")?
        .unwrap_or_default();
    let vectors_per_class = per_class
        .iter()
        .map(|&n| usize::try_from(n))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| format_err!("{op}: vectors_per_class holds a negative count"))?;
    let vectors = vectors_per_class
        .iter()
        .try_fold(0usize, |a, &n| a.checked_add(n))
        .ok_or_else(|| format_err!("{op}: vectors_per_class overflows"))?;
    let pairs = classes * (classes - 1) / 2;
    let (mode, features) = if vectors > 0 {
        ensure!(
            vectors_per_class.len() == classes,
            "{op}: vectors_per_class has {} entries for {classes} classes",
            vectors_per_class.len()
        );
        ensure!(
            support_vectors.len().is_multiple_of(vectors) && !support_vectors.is_empty(),
            "{op}: {} support-vector values do not split into {vectors} vectors",
            support_vectors.len()
        );
        ensure!(
            coefficients.len() >= (classes - 1) * vectors,
            "{op}: {} coefficients, {} expected ((classes - 1) x vectors)",
            coefficients.len(),
            (classes - 1) * vectors
        );
        ensure!(
            rho.len() >= pairs,
            "{op}: {} rho values for {pairs} class pairs",
            rho.len()
        );
        ensure!(
            prob_a.is_empty() || prob_a.len() >= pairs,
            "{op}: {} prob_a values for {pairs} class pairs",
            prob_a.len()
        );
        let starts = vectors_per_class
            .iter()
            .scan(0, |s, &n| {
                let start = *s;
                *s += n;
                Some(start)
            })
            .collect();
        let features = support_vectors.len() / vectors;
        (
            Mode::Svc {
                vectors_per_class,
                starts,
                support_vectors,
            },
            features,
        )
    } else {
        ensure!(
            coefficients.len().is_multiple_of(classes),
            "{op}: {} coefficients do not split into {classes} classes",
            coefficients.len()
        );
        ensure!(!rho.is_empty(), "{op}: rho needs at least one value");
        kernel.kind = KernelKind::Linear;
        (Mode::Linear, coefficients.len() / classes)
    };
    let weights_all_positive = coefficients.iter().all(|&c| c >= 0.0);
    let c = Classifier {
        kernel,
        mode,
        coefficients,
        rho,
        prob_a,
        prob_b,
        labels,
        post: post_transform_attr(node)?,
        features,
        weights_all_positive,
    };
    Ok((expand(Svm::Classifier(Arc::new(c))), vec![]))
}

impl Classifier {
    fn classes(&self) -> usize {
        self.labels.len()
    }

    fn pairs(&self) -> usize {
        self.classes() * (self.classes() - 1) / 2
    }

    fn has_probabilities(&self) -> bool {
        !self.prob_a.is_empty()
    }

    /// Columns of the score output.
    fn score_width(&self) -> usize {
        match self.mode {
            Mode::Svc { .. } if !self.has_probabilities() => {
                if self.classes() > 2 {
                    self.pairs()
                } else {
                    2
                }
            }
            _ => self.classes(),
        }
    }

    /// One row: writes the scores, returns the label's index.
    fn eval_row(&self, x: &[f32], s: &mut Scratch, out: &mut [f32]) -> usize {
        let classes = self.classes();
        let best;
        let produced: usize;
        match &self.mode {
            Mode::Linear => {
                for (c, o) in out.iter_mut().enumerate().take(classes) {
                    let w = &self.coefficients[c * self.features..(c + 1) * self.features];
                    *o = self.kernel.apply(x, w, self.rho[0]);
                }
                let (arg, max) = argmax(&out[..classes]);
                best = if classes == 2 && !self.has_probabilities() {
                    // ONNX Runtime's rule for two liblinear classes.
                    if (self.weights_all_positive && max >= 0.5)
                        || (max > 0.0 && !self.weights_all_positive)
                    {
                        1
                    } else {
                        arg
                    }
                } else {
                    arg
                };
                produced = classes;
            }
            Mode::Svc {
                vectors_per_class,
                starts,
                support_vectors,
            } => {
                let vectors = s.kernels.len();
                for (k, v) in s
                    .kernels
                    .iter_mut()
                    .zip(support_vectors.chunks_exact(self.features))
                {
                    *k = self.kernel.apply(x, v, 0.0);
                }
                s.votes.iter_mut().for_each(|v| *v = 0);
                let mut idx = 0;
                for i in 0..classes.saturating_sub(1) {
                    for j in i + 1..classes {
                        // Class i's vectors weigh with row j - 1, class j's with row i.
                        let mut sum = 0f64;
                        let (si, ni) = (starts[i], vectors_per_class[i]);
                        let (sj, nj) = (starts[j], vectors_per_class[j]);
                        let ci = &self.coefficients[(j - 1) * vectors + si..][..ni];
                        for (c, k) in ci.iter().zip(&s.kernels[si..si + ni]) {
                            sum += f64::from(c * k);
                        }
                        let cj = &self.coefficients[i * vectors + sj..][..nj];
                        for (c, k) in cj.iter().zip(&s.kernels[sj..sj + nj]) {
                            sum += f64::from(c * k);
                        }
                        sum += f64::from(self.rho[idx]);
                        s.pair_scores[idx] = sum as f32;
                        s.votes[if sum > 0.0 { i } else { j }] += 1;
                        idx += 1;
                    }
                }
                best = argmax_votes(&s.votes);
                if self.has_probabilities() {
                    self.couple(s, out);
                    produced = classes;
                } else {
                    out[..idx].copy_from_slice(&s.pair_scores[..idx]);
                    produced = idx;
                }
            }
        }
        self.finish(out, produced);
        best
    }

    /// Pairwise Platt probabilities, coupled into class probabilities
    /// (Wu, Lin and Weng's second method, as libsvm and ONNX Runtime).
    fn couple(&self, s: &mut Scratch, p: &mut [f32]) {
        let k = self.classes();
        let r = &mut s.pairwise;
        let mut idx = 0;
        for i in 0..k.saturating_sub(1) {
            for j in i + 1..k {
                let v = 1.0 - logistic(s.pair_scores[idx] * self.prob_a[idx] + self.prob_b[idx]);
                let v = v.clamp(1.0e-7, 1.0 - 1.0e-7);
                r[i * k + j] = v;
                r[j * k + i] = 1.0 - v;
                idx += 1;
            }
        }
        let q = &mut s.q;
        q.iter_mut().for_each(|v| *v = 0.0);
        for i in 0..k {
            p[i] = 1.0 / k as f32;
            for j in 0..i {
                q[i * k + i] += r[j * k + i] * r[j * k + i];
                q[i * k + j] = q[j * k + i];
            }
            for j in i + 1..k {
                q[i * k + i] += r[j * k + i] * r[j * k + i];
                q[i * k + j] = -r[j * k + i] * r[i * k + j];
            }
        }
        let qp = &mut s.qp;
        let eps = 0.005 / k as f32;
        for _ in 0..100 {
            let mut pqp = 0.0;
            for i in 0..k {
                qp[i] = 0.0;
                for j in 0..k {
                    qp[i] += q[i * k + j] * p[j];
                }
                pqp += p[i] * qp[i];
            }
            let max_error = qp[..k]
                .iter()
                .map(|v| (v - pqp).abs())
                .fold(0.0f32, f32::max);
            if max_error < eps {
                break;
            }
            for i in 0..k {
                let diff = (-qp[i] + pqp) / q[i * k + i];
                p[i] += diff;
                pqp = (pqp + diff * (diff * q[i * k + i] + 2.0 * qp[i]))
                    / (1.0 + diff)
                    / (1.0 + diff);
                for j in 0..k {
                    qp[j] = (qp[j] + diff * q[i * k + j]) / (1.0 + diff);
                    p[j] /= 1.0 + diff;
                }
            }
        }
    }

    /// The post transform over `produced` scores, and ONNX Runtime's second
    /// column when a binary SVC gives one decision value.
    fn finish(&self, out: &mut [f32], produced: usize) {
        if produced > 1 {
            post_transform(self.post, &mut out[..produced]);
            return;
        }
        if produced == 0 {
            return;
        }
        if self.post == PostTransform::Probit {
            post_transform(self.post, &mut out[..1]);
            return;
        }
        if out.len() < 2 {
            return;
        }
        let v = out[0];
        if self.post == PostTransform::None {
            out[0] = -v;
            out[1] = v;
        } else {
            out[0] = 1.0 - v;
            out[1] = v;
        }
    }
}

/// The first largest value and its index.
fn argmax(v: &[f32]) -> (usize, f32) {
    let mut best = (0, v.first().copied().unwrap_or(0.0));
    for (i, &x) in v.iter().enumerate().skip(1) {
        if x > best.1 {
            best = (i, x);
        }
    }
    best
}

fn argmax_votes(v: &[u32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate().skip(1) {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Per-call buffers, sized once per evaluation.
struct Scratch {
    kernels: Vec<f32>,
    votes: Vec<u32>,
    pair_scores: Vec<f32>,
    pairwise: Vec<f32>,
    q: Vec<f32>,
    qp: Vec<f32>,
}

impl Scratch {
    fn for_classifier(c: &Classifier) -> Scratch {
        let k = c.classes();
        let vectors = match &c.mode {
            Mode::Svc {
                support_vectors, ..
            } => support_vectors.len() / c.features.max(1),
            Mode::Linear => 0,
        };
        let prob = c.has_probabilities();
        Scratch {
            kernels: vec![0.0; vectors],
            votes: vec![0; k],
            pair_scores: vec![0.0; c.pairs()],
            pairwise: vec![0.0; if prob { k * k } else { 0 }],
            q: vec![0.0; if prob { k * k } else { 0 }],
            qp: vec![0.0; if prob { k } else { 0 }],
        }
    }
}

/// A parsed `SVMRegressor`.
#[derive(Debug, Clone, PartialEq)]
struct Regressor {
    kernel: Kernel,
    /// `[vectors, features]`; empty in liblinear mode.
    support_vectors: Vec<f32>,
    coefficients: Vec<f32>,
    rho: f32,
    one_class: bool,
    features: usize,
}

/// Parser for `SVMRegressor`.
pub(crate) fn parse_regressor(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let op = node.op_type.as_str();
    let mut kernel = Kernel::parse(node)?;
    let n_supports: i64 = node.get_attr_opt("n_supports")?.unwrap_or(0);
    let vectors = usize::try_from(n_supports)
        .map_err(|_| format_err!("{op}: n_supports is negative ({n_supports})"))?;
    let coefficients: Vec<f32> = node.get_attr_vec("coefficients")?;
    ensure!(!coefficients.is_empty(), "{op}: coefficients are empty");
    let rho: Vec<f32> = node.get_attr_vec("rho")?;
    let support_vectors: Vec<f32> = node
        .get_attr_opt_vec("support_vectors")?
        .unwrap_or_default();
    let features = if vectors > 0 {
        ensure!(
            !support_vectors.is_empty() && support_vectors.len().is_multiple_of(vectors),
            "{op}: {} support-vector values do not split into {vectors} vectors",
            support_vectors.len()
        );
        ensure!(
            coefficients.len() >= vectors,
            "{op}: {} coefficients for {vectors} support vectors",
            coefficients.len()
        );
        support_vectors.len() / vectors
    } else {
        kernel.kind = KernelKind::Linear;
        coefficients.len()
    };
    let rho = *rho
        .first()
        .ok_or_else(|| format_err!("{op}: rho needs one value"))?;
    let one_class: i64 = node.get_attr_opt("one_class")?.unwrap_or(0);
    let r = Regressor {
        kernel,
        support_vectors: if vectors > 0 {
            support_vectors
        } else {
            Vec::new()
        },
        coefficients,
        rho,
        one_class: one_class != 0,
        features,
    };
    Ok((expand(Svm::Regressor(Arc::new(r))), vec![]))
}

impl Regressor {
    fn eval_row(&self, x: &[f32]) -> f32 {
        let y = if self.support_vectors.is_empty() {
            self.kernel.apply(x, &self.coefficients, self.rho)
        } else {
            self.support_vectors
                .chunks_exact(self.features)
                .zip(&self.coefficients)
                .map(|(v, c)| c * self.kernel.apply(x, v, 0.0))
                .sum::<f32>()
                + self.rho
        };
        if self.one_class {
            if y > 0.0 {
                1.0
            } else {
                -1.0
            }
        } else {
            y
        }
    }
}

/// The typed op: `[N, F]` (or `[F]`, one row) in; the classifier gives labels
/// `[N]` and scores `[N, k]`, the regressor `[N, 1]`.
#[derive(Debug, Clone, PartialEq)]
enum Svm {
    Classifier(Arc<Classifier>),
    Regressor(Arc<Regressor>),
}

impl Eq for Svm {}

impl Svm {
    fn features(&self) -> usize {
        match self {
            Svm::Classifier(c) => c.features,
            Svm::Regressor(r) => r.features,
        }
    }

    fn label_type(&self) -> Option<DatumType> {
        match self {
            Svm::Classifier(c) => Some(match c.labels {
                Labels::Int(_) => i64::datum_type(),
                Labels::Str(_) => String::datum_type(),
            }),
            Svm::Regressor(_) => None,
        }
    }

    fn score_width(&self) -> usize {
        match self {
            Svm::Classifier(c) => c.score_width(),
            Svm::Regressor(_) => 1,
        }
    }
}

impl Op for Svm {
    fn name(&self) -> StaticName {
        match self {
            Svm::Classifier(_) => "SVMClassifier".into(),
            Svm::Regressor(_) => "SVMRegressor".into(),
        }
    }

    op_as_typed_op!();
}

impl EvalOp for Svm {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let input = input.cast_to::<f32>()?;
        let view = input.to_plain_array_view::<f32>()?;
        let (rows, width) = match view.shape() {
            [f] => (1, *f),
            [n, f] => (*n, *f),
            other => bail!(
                "{}: input must be [N, features], got {other:?}",
                self.name()
            ),
        };
        let f = self.features();
        ensure!(
            width == f,
            "{}: the model has {f} features but the input has {width}",
            self.name()
        );
        let owned;
        let x: &[f32] = match view.as_slice() {
            Some(x) => x,
            None => {
                owned = view.iter().copied().collect::<Vec<f32>>();
                &owned
            }
        };
        let k = self.score_width();
        let mut scores = Tensor::zero::<f32>(&[rows, k])?;
        match self {
            Svm::Regressor(r) => {
                {
                    let mut plain = scores.try_as_plain_ram_mut()?;
                    for (row, y) in x
                        .chunks_exact(width.max(1))
                        .zip(plain.as_slice_mut::<f32>()?)
                    {
                        *y = r.eval_row(row);
                    }
                }
                Ok(tvec!(scores.into_tvalue()))
            }
            Svm::Classifier(c) => {
                let mut scratch = Scratch::for_classifier(c);
                let mut best = Vec::with_capacity(rows);
                {
                    let mut plain = scores.try_as_plain_ram_mut()?;
                    for (row, out) in x
                        .chunks_exact(width.max(1))
                        .zip(plain.as_slice_mut::<f32>()?.chunks_mut(k))
                    {
                        best.push(c.eval_row(row, &mut scratch, out));
                    }
                }
                let labels = match &c.labels {
                    Labels::Int(l) => tensor1(&best.iter().map(|&b| l[b]).collect::<Vec<i64>>()),
                    Labels::Str(l) => {
                        tensor1(&best.iter().map(|&b| l[b].clone()).collect::<Vec<String>>())
                    }
                };
                Ok(tvec!(labels.into_tvalue(), scores.into_tvalue()))
            }
        }
    }
}

impl TypedOp for Svm {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = if inputs[0].rank() == 2 {
            inputs[0].shape[0].clone()
        } else {
            1.to_dim()
        };
        let scores = f32::fact([n.clone(), self.score_width().to_dim()]);
        Ok(match self.label_type() {
            Some(dt) => tvec!(dt.fact([n]), scores),
            None => tvec!(scores),
        })
    }

    as_op!();
}

/// The inference-time wrapper: type and shape rules, then one [`Svm`].
#[derive(Debug, Clone)]
struct Expanded(Svm);

fn expand(op: Svm) -> Box<dyn InferenceOp> {
    tract_onnx::tract_hir::ops::expandable::expand(Expanded(op))
}

impl Expansion for Expanded {
    fn name(&self) -> StaticName {
        self.0.name()
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
        let scores = match self.0.label_type() {
            Some(dt) => {
                check_output_arity(outputs, 2)?;
                s.equals(&outputs[0].datum_type, dt)?;
                s.equals(&outputs[0].rank, 1)?;
                &outputs[1]
            }
            None => {
                check_output_arity(outputs, 1)?;
                &outputs[0]
            }
        };
        s.equals(&scores.datum_type, f32::datum_type())?;
        s.equals(&scores.rank, 2)?;
        s.equals(&scores.shape[1], self.0.score_width().to_dim())?;
        let has_labels = self.0.label_type().is_some();
        s.given(&inputs[0].rank, move |s, rank| {
            let n = || {
                if rank == 2 {
                    inputs[0].shape[0].bex()
                } else {
                    1.to_dim().bex()
                }
            };
            s.equals(&scores.shape[0], n())?;
            if has_labels {
                s.equals(&outputs[0].shape[0], n())?;
            }
            Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier(prob: bool, post: PostTransform) -> Classifier {
        // Three classes, one support vector each, in two dimensions.
        Classifier {
            kernel: Kernel {
                kind: KernelKind::Rbf,
                gamma: 0.5,
                coef0: 0.0,
                degree: 3.0,
            },
            mode: Mode::Svc {
                vectors_per_class: vec![1, 1, 1],
                starts: vec![0, 1, 2],
                support_vectors: vec![0.0, 0.0, 1.0, 1.0, -1.0, 1.0],
            },
            coefficients: vec![1.0, -1.0, -1.0, 1.0, 1.0, -1.0],
            rho: vec![0.1, -0.2, 0.05],
            prob_a: if prob { vec![-2.0; 3] } else { vec![] },
            prob_b: if prob { vec![0.1; 3] } else { vec![] },
            labels: Labels::Int(vec![10, 20, 30]),
            post,
            features: 2,
            weights_all_positive: false,
        }
    }

    #[test]
    fn coupled_probabilities_sum_to_one_and_follow_the_votes() {
        let c = classifier(true, PostTransform::None);
        let mut s = Scratch::for_classifier(&c);
        for x in [[0.0, 0.0], [1.0, 1.0], [-1.0, 1.0], [3.0, -2.0]] {
            let mut out = [0.0; 3];
            let best = c.eval_row(&x, &mut s, &mut out);
            let sum: f32 = out.iter().sum();
            assert!((sum - 1.0).abs() < 1e-3, "{out:?}");
            assert!(out.iter().all(|p| (0.0..=1.0).contains(p)), "{out:?}");
            assert!(best < 3);
        }
    }

    #[test]
    fn one_vs_one_scores_have_one_column_per_pair() {
        let c = classifier(false, PostTransform::None);
        assert_eq!(c.score_width(), 3);
        let mut s = Scratch::for_classifier(&c);
        let mut out = [0.0; 3];
        // At the first class's support vector, K = [1, e^-1, e^-1].
        let best = c.eval_row(&[0.0, 0.0], &mut s, &mut out);
        let e = (-1.0f32).exp();
        // Pair (0, 1): both classes weigh with coefficient row 0 (libsvm's layout).
        let want01 = 1.0 - e + 0.1;
        assert!((out[0] - want01).abs() < 1e-6, "{out:?}");
        assert!(best < 3);
    }

    #[test]
    fn binary_decision_values_expand_to_two_columns() {
        let mut c = classifier(false, PostTransform::None);
        c.labels = Labels::Int(vec![0, 1]);
        c.mode = Mode::Svc {
            vectors_per_class: vec![1, 1],
            starts: vec![0, 1],
            support_vectors: vec![0.0, 0.0, 1.0, 1.0],
        };
        c.coefficients = vec![1.0, -1.0];
        c.rho = vec![0.25];
        assert_eq!(c.score_width(), 2);
        let mut s = Scratch::for_classifier(&c);
        let mut out = [0.0; 2];
        let best = c.eval_row(&[0.0, 0.0], &mut s, &mut out);
        let d = 1.0 - (-1.0f32).exp() + 0.25;
        assert!(
            (out[1] - d).abs() < 1e-6 && (out[0] + d).abs() < 1e-6,
            "{out:?}"
        );
        // A positive decision votes for the first class.
        assert_eq!(best, 0);
    }

    #[test]
    fn regressor_kernels() {
        let k = |kind| Kernel {
            kind,
            gamma: 0.5,
            coef0: 1.0,
            degree: 2.0,
        };
        let x = [1.0, 2.0];
        let v = [0.5, -1.0];
        assert_eq!(k(KernelKind::Linear).apply(&x, &v, 0.25), 0.5 - 2.0 + 0.25);
        assert_eq!(
            k(KernelKind::Poly).apply(&x, &v, 0.0),
            (0.5f32 * -1.5 + 1.0).powi(2)
        );
        assert_eq!(
            k(KernelKind::Sigmoid).apply(&x, &v, 0.0),
            (0.5f32 * -1.5 + 1.0).tanh()
        );
        assert_eq!(
            k(KernelKind::Rbf).apply(&x, &v, 0.0),
            (-0.5f32 * 9.25).exp()
        );
        let r = Regressor {
            kernel: k(KernelKind::Linear),
            support_vectors: vec![],
            coefficients: vec![2.0, -1.0],
            rho: 0.5,
            one_class: true,
            features: 2,
        };
        assert_eq!(r.eval_row(&[1.0, 3.0]), -1.0);
        assert_eq!(r.eval_row(&[3.0, 1.0]), 1.0);
    }
}
