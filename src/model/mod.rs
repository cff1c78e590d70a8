//! The intent model: ONNX import with tract, the model-package checks (feature
//! spec hash, version, names, normalisation), and scoring with a plan built once.
//! It owns tract; nothing else in the crate touches it. It never panics outward:
//! tract is called inside `catch_unwind` at load time, and every failure is a [`ModelError`].

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::features::FeatureSpec;

pub(crate) mod dense;
pub(crate) mod graph;
pub(crate) mod ops;
pub(crate) mod recurrent;

pub use graph::{GraphOutput, OnnxGraph, OutputValues};
pub use ops::importer as onnx_importer;
pub use recurrent::{RecurrentModel, RecurrentOptions, META_RECURRENT};

/// The loaded model: scored on a feature vector at decision points, or stepped
/// once per event with its state carried.
// One per runtime, so the size difference costs nothing; a Box would add an
// indirection on every decision.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Scorer {
    /// Scored on the feature vector (and sequence) at decision points.
    Window(IntentModel),
    /// Stepped once per event, state carried.
    Stepped(RecurrentModel),
}

/// Loads the configured model as whichever kind it declares.
pub(crate) fn load_scorer(opts: &ModelOptions, spec: &FeatureSpec) -> Result<Scorer, ModelError> {
    let bytes = read_model(&opts.path)?;
    let meta = metadata_of(&bytes, &opts.path)?;
    match recurrent::declared(opts, &meta, &opts.path)? {
        Some(rec) => RecurrentModel::from_bytes(&bytes, opts, spec, &rec).map(Scorer::Stepped),
        None => IntentModel::from_bytes(&bytes, &opts.path, opts, spec).map(Scorer::Window),
    }
}

/// Metadata key (in ONNX `metadata_props`) holding the feature-spec hash.
pub const META_SPEC_HASH: &str = "edgeintent.feature_spec_hash";
/// Metadata key holding the feature-spec version.
pub const META_SPEC_VERSION: &str = "edgeintent.feature_spec_version";
/// Metadata key holding the feature names as a JSON array.
pub const META_FEATURE_NAMES: &str = "edgeintent.feature_names";
/// Metadata key holding `{"mean": [...], "scale": [...]}` fitted in training.
pub const META_NORMALIZATION: &str = "edgeintent.normalization";
/// Metadata key holding the model's own version label.
pub const META_MODEL_VERSION: &str = "edgeintent.model_version";

/// How to use a model file: the `model` section of the runtime config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelOptions {
    /// The ONNX file (relative paths resolve against the config file's folder).
    pub path: PathBuf,
    /// When true (default) a model that fails to load is an error; when false the
    /// runtime runs on its rules and reports the failure in stats and reasons.
    #[serde(default = "yes")]
    pub required: bool,
    /// Refuse models whose metadata lacks the feature-spec hash (default true).
    #[serde(default = "yes")]
    pub require_spec_hash: bool,
    /// Which output holds the score and how to read it.
    #[serde(default)]
    pub output: OutputOptions,
    /// Input names, when the model has more than one input.
    #[serde(default)]
    pub inputs: InputOptions,
    /// The model is stepped once per event with a carried state (overrides the
    /// `edgeintent.recurrent` metadata).
    #[serde(default)]
    pub recurrent: Option<crate::model::recurrent::RecurrentOptions>,
}

fn yes() -> bool {
    true
}

impl ModelOptions {
    /// The defaults for a model file: required, spec hash required, output and
    /// inputs chosen automatically.
    pub fn for_path(path: impl Into<PathBuf>) -> ModelOptions {
        ModelOptions {
            path: path.into(),
            required: true,
            require_spec_hash: true,
            output: OutputOptions::default(),
            inputs: InputOptions::default(),
            recurrent: None,
        }
    }
}

/// Which output holds the score.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputOptions {
    /// Output name; by default the first float output whose name mentions
    /// "prob", else the first float output.
    #[serde(default)]
    pub name: Option<String>,
    /// How to turn the output into a probability.
    #[serde(default)]
    pub kind: OutputKind,
    /// Column of the positive class in a probabilities output (default 1).
    #[serde(default)]
    pub positive_index: Option<usize>,
}

/// How an output becomes the positive-class probability.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// Decide from the shape and name: several columns are class probabilities,
    /// one value named like "logit" is a logit, any other single value a probability.
    #[default]
    Auto,
    /// One column per class (`[1, C]`); take `positive_index`.
    Probabilities,
    /// A single probability in [0, 1] (e.g. a sigmoid output).
    Probability,
    /// A single logit; the score is its sigmoid.
    Logit,
}

/// Input names of a multi-input model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputOptions {
    /// Name of the `[1, features]` input (default: the only input, or the one not
    /// named like the sequence input).
    #[serde(default)]
    pub features: Option<String>,
    /// Name of the `[1, sequence_length]` event-type input (default: `"sequence"`).
    #[serde(default)]
    pub sequence: Option<String>,
}

/// Why a model cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The file could not be read.
    #[error("model {path}: cannot read: {why}")]
    Io {
        /// The model path.
        path: PathBuf,
        /// The OS error.
        why: String,
    },
    /// The bytes are not an ONNX model.
    #[error("model {path}: not a valid ONNX file: {why}")]
    Parse {
        /// The model path.
        path: PathBuf,
        /// The decoder's message.
        why: String,
    },
    /// The model uses operators tract cannot run.
    #[error("model {path}: unsupported operators: {ops}; run `edgeintent inspect` for details")]
    UnsupportedOps {
        /// The model path.
        path: PathBuf,
        /// Comma-separated operator names.
        ops: String,
    },
    /// The model was trained on different features than the runtime computes.
    #[error(
        "model {path}: trained on feature spec {model_hash} (version {model_version}) but the runtime \
         computes {runtime_hash} (version {runtime_version}); retrain on this spec or configure the spec \
         the model was trained on"
    )]
    SpecMismatch {
        /// The model path.
        path: PathBuf,
        /// Hash stored in the model.
        model_hash: String,
        /// Version stored in the model.
        model_version: String,
        /// Hash of the runtime's spec.
        runtime_hash: String,
        /// Version of the runtime's spec.
        runtime_version: String,
    },
    /// The metadata that makes the model safe to use is missing or malformed.
    #[error("model {path}: {why}")]
    Metadata {
        /// The model path.
        path: PathBuf,
        /// What is missing or wrong, and the fix.
        why: String,
    },
    /// The graph does not fit the runtime's inputs or has no usable output.
    #[error("model {path}: {why}")]
    Shape {
        /// The model path.
        path: PathBuf,
        /// What does not fit.
        why: String,
    },
    /// tract failed while building or running the plan.
    #[error("model: tract failed: {0}")]
    Engine(String),
    /// The model produced a score that is not a probability.
    #[error("model produced {0}, which is not a probability in [0, 1]")]
    BadScore(f32),
    /// tract panicked; the model is treated as unusable.
    #[error("model {path}: the engine panicked while loading ({why}); the model is not usable")]
    Panic {
        /// The model path.
        path: PathBuf,
        /// The panic message.
        why: String,
    },
}

/// The model-package metadata edgeintent reads from `metadata_props`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelMetadata {
    /// Every `metadata_props` entry, by key.
    pub props: BTreeMap<String, String>,
    /// Producer name and version, from the ONNX header.
    pub producer: String,
}

impl ModelMetadata {
    pub(crate) fn from_proto(proto: &pb::ModelProto) -> ModelMetadata {
        ModelMetadata {
            props: proto
                .metadata_props
                .iter()
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect(),
            producer: format!("{} {}", proto.producer_name, proto.producer_version)
                .trim()
                .to_owned(),
        }
    }

    /// The value of one metadata key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }
}

/// Per-feature affine normalisation fitted in training: `(x - mean) / scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Subtracted from each feature.
    pub mean: Vec<f32>,
    /// Each feature is divided by this (non-zero).
    pub scale: Vec<f32>,
}

impl Normalization {
    /// Writes the normalised `src` into `dst`: `(x - mean) / scale` per feature.
    /// Both hold one row of as many features as the normalisation has.
    pub fn apply(&self, src: &[f32], dst: &mut [f32]) {
        let params = self.mean.iter().zip(&self.scale);
        for ((d, s), (m, k)) in dst.iter_mut().zip(src).zip(params) {
            *d = (s - m) / k;
        }
    }

    /// Features it normalises.
    pub fn len(&self) -> usize {
        self.mean.len()
    }

    /// Whether it normalises no feature.
    pub fn is_empty(&self) -> bool {
        self.mean.is_empty()
    }
}

/// What a model file's package metadata says about its input, read and checked
/// without building a plan: the feature names it was trained on and the
/// normalisation fitted in training (what `predict` needs to compute what the
/// runtime computes).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPackage {
    metadata: ModelMetadata,
    feature_names: Option<Vec<String>>,
    normalization: Option<Normalization>,
}

impl ModelPackage {
    /// Reads a model file's package metadata; a malformed entry is an error.
    pub fn read(path: &Path) -> Result<ModelPackage, ModelError> {
        let bytes = read_model(path)?;
        let metadata = metadata_of(&bytes, path)?;
        let feature_names = match metadata.get(META_FEATURE_NAMES) {
            None => None,
            Some(text) => Some(serde_json::from_str::<Vec<String>>(text).map_err(|e| {
                ModelError::Metadata {
                    path: path.to_owned(),
                    why: format!("`{META_FEATURE_NAMES}` is not a JSON string array: {e}"),
                }
            })?),
        };
        let width = match (&feature_names, metadata.get(META_NORMALIZATION)) {
            (Some(names), _) => names.len(),
            (None, Some(text)) => serde_json::from_str::<Normalization>(text)
                .map(|n| n.len())
                .unwrap_or(0),
            (None, None) => 0,
        };
        let normalization = read_normalization(&metadata, path, width)?;
        Ok(ModelPackage {
            metadata,
            feature_names,
            normalization,
        })
    }

    /// Every metadata entry.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// The feature names it was trained on, in input order (`edgeintent.feature_names`).
    pub fn feature_names(&self) -> Option<&[String]> {
        self.feature_names.as_deref()
    }

    /// The normalisation to apply to raw features (`edgeintent.normalization`).
    pub fn normalization(&self) -> Option<&Normalization> {
        self.normalization.as_ref()
    }
}

/// How the score is read from the selected output.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reading {
    Column(usize),
    Probability,
    Logit,
}

/// A loaded intent model: plan built once, state reused for every call.
pub struct IntentModel {
    path: PathBuf,
    /// `None` when the dense fast path runs the model.
    state: Option<TypedSimpleState>,
    dense: Option<crate::model::dense::DenseChain>,
    features_in: Arc<Tensor>,
    sequence_in: Option<Arc<Tensor>>,
    /// Whether the sequence is the model's first input (inputs go in model order).
    sequence_first: bool,
    normalization: Option<Normalization>,
    reading: Reading,
    output_name: String,
    metadata: ModelMetadata,
}

impl std::fmt::Debug for IntentModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntentModel")
            .field("path", &self.path)
            .field("output", &self.output_name)
            .field("reading", &self.reading)
            .finish_non_exhaustive()
    }
}

impl IntentModel {
    /// Loads `opts.path`, checks it against `spec`, and builds the plan.
    pub fn load(opts: &ModelOptions, spec: &FeatureSpec) -> Result<IntentModel, ModelError> {
        Self::from_bytes(&read_model(&opts.path)?, &opts.path, opts, spec)
    }

    /// Like [`IntentModel::load`], from bytes already in memory; `path` only names
    /// the model in errors.
    pub fn from_bytes(
        bytes: &[u8],
        path: &Path,
        opts: &ModelOptions,
        spec: &FeatureSpec,
    ) -> Result<IntentModel, ModelError> {
        guarded(path, || load_checked(bytes, path, opts, spec))
    }

    /// The model's metadata.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// The output the score is read from.
    pub fn output_name(&self) -> &str {
        &self.output_name
    }

    /// Scores one moment: `features` (raw, as written by the feature state) and
    /// `sequence` (ignored unless the model has a sequence input). Returns the
    /// positive-class probability.
    pub fn score(&mut self, features: &[f32], sequence: &[f32]) -> Result<f32, ModelError> {
        fill(&mut self.features_in, features, self.normalization.as_ref())?;
        if let Some(seq) = self.sequence_in.as_mut() {
            fill(seq, sequence, None)?;
        }
        let features = TValue::from_const(self.features_in.clone());
        let inputs: TVec<TValue> = match &self.sequence_in {
            None => tvec![features],
            Some(seq) if self.sequence_first => tvec![TValue::from_const(seq.clone()), features],
            Some(seq) => tvec![features, TValue::from_const(seq.clone())],
        };
        let engine = |e: TractError| ModelError::Engine(format!("{e:#}"));
        let outputs;
        let view: &[f32] = match (&mut self.dense, &mut self.state) {
            (Some(d), _) => {
                drop(inputs);
                let x = self.features_in.try_as_plain_ram().map_err(engine)?;
                d.run(x.as_slice::<f32>().map_err(engine)?)?
            }
            (None, Some(state)) => {
                let out = state.run(inputs);
                clear_upper_simd_state();
                outputs = out.map_err(engine)?;
                let out = outputs
                    .first()
                    .ok_or_else(|| ModelError::Engine("plan returned no output".into()))?;
                out.try_as_plain_ram()
                    .and_then(|v| v.as_slice::<f32>())
                    .map_err(engine)?
            }
            (None, None) => return Err(ModelError::Engine("no engine".into())),
        };
        let raw = match self.reading {
            Reading::Column(i) => view.get(i).copied(),
            Reading::Probability | Reading::Logit => view.first().copied(),
        }
        .ok_or_else(|| ModelError::Engine("output is smaller than at load time".into()))?;
        let p = match self.reading {
            Reading::Logit => 1.0 / (1.0 + (-raw).exp()),
            _ => raw,
        };
        if p.is_finite() && (0.0..=1.0).contains(&p) {
            Ok(p)
        } else {
            Err(ModelError::BadScore(p))
        }
    }
}

/// tract's AVX-512 kernels return without `vzeroupper`, leaving the upper
/// vector state dirty; every legacy-SSE instruction after that (our feature
/// code, libm) then pays a transition penalty. Measured here: feature write +
/// score went from 4.3 µs to 1.9 µs per decision with this call.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
pub(crate) fn clear_upper_simd_state() {
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: `vzeroupper` needs only AVX, detected just above. It zeroes the
        // upper halves of the vector registers, which hold no live value across
        // this call (the compiler treats the intrinsic as clobbering them).
        unsafe { std::arch::x86_64::_mm256_zeroupper() }
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn clear_upper_simd_state() {}

/// Copies (and normalises) `src` into the exclusively held input tensor. tract
/// drops its reference when `run` returns, so `Arc::get_mut` succeeds and no
/// tensor is allocated per call.
pub(crate) fn fill(
    t: &mut Arc<Tensor>,
    src: &[f32],
    norm: Option<&Normalization>,
) -> Result<(), ModelError> {
    if Arc::get_mut(t).is_none() {
        *t = Arc::new(t.as_ref().clone());
    }
    let tensor =
        Arc::get_mut(t).ok_or_else(|| ModelError::Engine("input tensor is shared".into()))?;
    let mut plain = tensor
        .try_as_plain_ram_mut()
        .map_err(|e| ModelError::Engine(format!("{e:#}")))?;
    let dst = plain
        .as_slice_mut::<f32>()
        .map_err(|e| ModelError::Engine(format!("{e:#}")))?;
    if dst.len() != src.len() {
        return Err(ModelError::Engine(format!(
            "input holds {} values, got {}",
            dst.len(),
            src.len()
        )));
    }
    match norm {
        Some(n) => n.apply(src, dst),
        None => dst.copy_from_slice(src),
    }
    Ok(())
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn load_checked(
    bytes: &[u8],
    path: &Path,
    opts: &ModelOptions,
    spec: &FeatureSpec,
) -> Result<IntentModel, ModelError> {
    let shape_err = |why: String| ModelError::Shape {
        path: path.to_owned(),
        why,
    };
    let (onnx, proto) = decode_supported(bytes, path)?;
    let metadata = ModelMetadata::from_proto(&proto);
    check_spec(&metadata, path, opts, spec)?;
    let normalization = read_normalization(&metadata, path, spec.len())?;

    let engine = |e: TractError| ModelError::Engine(format!("{e:#}"));
    // A pure dense chain on the feature vector runs on edgeintent's own loop.
    if let Some(chain) = crate::model::dense::DenseChain::compile(&proto) {
        if chain.n_in == spec.len() {
            let reading =
                reading_for(&opts.output, &chain.output, chain.n_out).map_err(shape_err)?;
            return Ok(IntentModel {
                path: path.to_owned(),
                state: None,
                output_name: chain.output.clone(),
                dense: Some(chain),
                features_in: Arc::new(Tensor::zero::<f32>(&[1, spec.len()]).map_err(engine)?),
                sequence_in: None,
                sequence_first: false,
                normalization,
                reading,
                metadata,
            });
        }
    }
    let mut model = onnx.model_for_proto_model(&proto).map_err(engine)?;
    let input_names: Vec<String> = model
        .input_outlets()
        .map_err(engine)?
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
    let (features_ix, sequence_ix) =
        assign_inputs(&input_names, &opts.inputs, spec).map_err(shape_err)?;
    model
        .set_input_fact(features_ix, f32::fact([1, spec.len()]).into())
        .map_err(engine)?;
    if let Some(ix) = sequence_ix {
        model
            .set_input_fact(ix, f32::fact([1, spec.sequence_length]).into())
            .map_err(engine)?;
    }
    let mut typed = model.into_typed().map_err(|e| {
        shape_err(format!(
            "does not accept a [1, {}] feature input ({e:#}); was it trained on this feature spec?",
            spec.len()
        ))
    })?;
    let (outlet, name, reading) = choose_output(&typed, &opts.output).map_err(shape_err)?;
    // Keep only the score output, so label/ArgMax branches are pruned from the plan.
    typed.select_output_outlets(&[outlet]).map_err(engine)?;
    let plan = typed
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(engine)?;
    let state = plan.spawn().map_err(engine)?;
    let features_in = Arc::new(Tensor::zero::<f32>(&[1, spec.len()]).map_err(engine)?);
    let sequence_in = match sequence_ix {
        Some(_) => Some(Arc::new(
            Tensor::zero::<f32>(&[1, spec.sequence_length]).map_err(engine)?,
        )),
        None => None,
    };
    Ok(IntentModel {
        path: path.to_owned(),
        state: Some(state),
        dense: None,
        features_in,
        sequence_in,
        sequence_first: sequence_ix.is_some_and(|s| s < features_ix),
        normalization,
        reading,
        output_name: name,
        metadata,
    })
}

pub(crate) fn decode(
    onnx: &tract_onnx::Onnx,
    bytes: &[u8],
    path: &Path,
) -> Result<pb::ModelProto, ModelError> {
    let mut reader = bytes;
    let proto = onnx
        .proto_model_for_read(&mut reader)
        .map_err(|e| ModelError::Parse {
            path: path.to_owned(),
            why: format!("{e:#}"),
        })?;
    if proto.graph.is_none() {
        return Err(ModelError::Parse {
            path: path.to_owned(),
            why: "the file holds no graph".into(),
        });
    }
    Ok(proto)
}

/// The importer and the decoded model, refused if any operator is unsupported.
pub(crate) fn decode_supported(
    bytes: &[u8],
    path: &Path,
) -> Result<(tract_onnx::Onnx, pb::ModelProto), ModelError> {
    let onnx = crate::model::ops::importer();
    let proto = decode(&onnx, bytes, path)?;
    let missing = unsupported_ops(&onnx, &proto);
    if !missing.is_empty() {
        return Err(ModelError::UnsupportedOps {
            path: path.to_owned(),
            ops: missing.join(", "),
        });
    }
    Ok((onnx, proto))
}

/// Operator types in the graph (and its subgraphs) that tract has no parser for.
pub(crate) fn unsupported_ops(onnx: &tract_onnx::Onnx, proto: &pb::ModelProto) -> Vec<String> {
    let mut ops = Vec::new();
    if let Some(g) = &proto.graph {
        collect_ops(g, &mut ops);
    }
    ops.into_iter()
        .filter(|(_, op)| !onnx.op_register.0.contains_key(op))
        .map(|(domain, op)| qualified(&domain, &op))
        .collect()
}

fn qualified(domain: &str, op: &str) -> String {
    if domain.is_empty() || domain == "ai.onnx" {
        op.to_owned()
    } else {
        format!("{domain}.{op}")
    }
}

/// Distinct (domain, op_type) pairs, in first-seen order, including subgraphs.
fn collect_ops(graph: &pb::GraphProto, out: &mut Vec<(String, String)>) {
    for node in &graph.node {
        let key = (node.domain.clone(), node.op_type.clone());
        if !out.contains(&key) {
            out.push(key);
        }
        for attr in &node.attribute {
            if let Some(g) = &attr.g {
                collect_ops(g, out);
            }
            for g in &attr.graphs {
                collect_ops(g, out);
            }
        }
    }
}

pub(crate) fn check_spec(
    meta: &ModelMetadata,
    path: &Path,
    opts: &ModelOptions,
    spec: &FeatureSpec,
) -> Result<(), ModelError> {
    let meta_err = |why: String| ModelError::Metadata {
        path: path.to_owned(),
        why,
    };
    match meta.get(META_SPEC_HASH) {
        Some(h) if h == spec.hash() => {}
        Some(h) => {
            return Err(ModelError::SpecMismatch {
                path: path.to_owned(),
                model_hash: h.to_owned(),
                model_version: meta.get(META_SPEC_VERSION).unwrap_or("?").to_owned(),
                runtime_hash: spec.hash(),
                runtime_version: spec.version.clone(),
            })
        }
        None if opts.require_spec_hash => {
            return Err(meta_err(format!(
                "metadata has no `{META_SPEC_HASH}`, so the features it expects cannot be checked; \
                 export it with training/export.py, or set model.require_spec_hash to false at your own risk"
            )))
        }
        None => {}
    }
    if let Some(names) = meta.get(META_FEATURE_NAMES) {
        let names: Vec<String> = serde_json::from_str(names).map_err(|e| {
            meta_err(format!(
                "`{META_FEATURE_NAMES}` is not a JSON string array: {e}"
            ))
        })?;
        let ours: Vec<&str> = spec.names().collect();
        if names.len() != ours.len() {
            return Err(meta_err(format!(
                "model expects {} features, the spec has {}",
                names.len(),
                ours.len()
            )));
        }
        if let Some((i, (m, r))) = names
            .iter()
            .zip(&ours)
            .enumerate()
            .find(|(_, (m, r))| m != *r)
        {
            return Err(meta_err(format!(
                "feature #{i} is `{m}` in the model but `{r}` in the spec"
            )));
        }
    }
    Ok(())
}

fn read_normalization(
    meta: &ModelMetadata,
    path: &Path,
    width: usize,
) -> Result<Option<Normalization>, ModelError> {
    let Some(text) = meta.get(META_NORMALIZATION) else {
        return Ok(None);
    };
    let bad = |why: String| ModelError::Metadata {
        path: path.to_owned(),
        why: format!("`{META_NORMALIZATION}`: {why}"),
    };
    let n: Normalization = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if n.mean.len() != width || n.scale.len() != width {
        return Err(bad(format!(
            "has {} means and {} scales for {width} features",
            n.mean.len(),
            n.scale.len()
        )));
    }
    if n.mean.iter().any(|m| !m.is_finite()) || n.scale.iter().any(|s| !s.is_finite() || *s == 0.0)
    {
        return Err(bad(
            "means must be finite and scales finite and non-zero".into()
        ));
    }
    Ok(Some(n))
}

fn assign_inputs(
    names: &[String],
    opts: &InputOptions,
    spec: &FeatureSpec,
) -> Result<(usize, Option<usize>), String> {
    let find = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .ok_or_else(|| format!("has no input named `{n}` (inputs: {})", names.join(", ")))
    };
    let seq_name = opts.sequence.as_deref().unwrap_or("sequence");
    match names.len() {
        1 => Ok((0, None)),
        2 => {
            if spec.sequence_length == 0 {
                return Err(
                    "has two inputs but the feature spec has no sequence (set sequence_length)"
                        .into(),
                );
            }
            let seq = find(seq_name)?;
            let feat = match &opts.features {
                Some(n) => find(n)?,
                None => 1 - seq,
            };
            if feat == seq {
                return Err("features and sequence inputs are the same".into());
            }
            Ok((feat, Some(seq)))
        }
        n => Err(format!(
            "has {n} inputs; edgeintent feeds one feature input and an optional sequence input"
        )),
    }
}

fn choose_output(
    model: &TypedModel,
    opts: &OutputOptions,
) -> Result<(OutletId, String, Reading), String> {
    let outlets = model.output_outlets().map_err(|e| e.to_string())?.to_vec();
    let mut candidates = Vec::new();
    for outlet in &outlets {
        let name = model
            .outlet_label(*outlet)
            .map(str::to_owned)
            .unwrap_or_else(|| model.node(outlet.node).name.clone());
        let fact = model.outlet_fact(*outlet).map_err(|e| e.to_string())?;
        candidates.push((*outlet, name, fact.clone()));
    }
    let all = || {
        candidates
            .iter()
            .map(|(_, n, f)| format!("{n} {f:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let pick = match &opts.name {
        Some(wanted) => candidates
            .iter()
            .find(|(_, n, _)| n == wanted)
            .ok_or_else(|| format!("has no output named `{wanted}` (outputs: {})", all()))?,
        None => {
            let floats: Vec<_> = candidates
                .iter()
                .filter(|(_, _, f)| f.datum_type == f32::datum_type())
                .collect();
            floats
                .iter()
                .find(|(_, n, _)| n.to_lowercase().contains("prob"))
                .or(floats.first())
                .copied()
                .ok_or_else(|| {
                    format!(
                        "has no f32 output to read a score from (outputs: {})",
                        all()
                    )
                })?
        }
    };
    let (outlet, name, fact) = pick;
    if fact.datum_type != f32::datum_type() {
        return Err(format!(
            "output `{name}` is {:?}; the score output must be f32",
            fact.datum_type
        ));
    }
    let shape = fact
        .shape
        .as_concrete()
        .ok_or_else(|| format!("output `{name}` has a symbolic shape {:?}", fact.shape))?;
    let width: usize = shape.iter().product();
    let reading = reading_for(opts, name, width)?;
    Ok((*outlet, name.clone(), reading))
}

/// How to read the score from an output of `width` values named `name`.
fn reading_for(opts: &OutputOptions, name: &str, width: usize) -> Result<Reading, String> {
    let reading = match opts.kind {
        OutputKind::Probabilities => Reading::Column(opts.positive_index.unwrap_or(1)),
        OutputKind::Probability => Reading::Probability,
        OutputKind::Logit => Reading::Logit,
        OutputKind::Auto if width >= 2 => Reading::Column(opts.positive_index.unwrap_or(1)),
        OutputKind::Auto if name.to_lowercase().contains("logit") => Reading::Logit,
        OutputKind::Auto => Reading::Probability,
    };
    if let Reading::Column(i) = reading {
        if i >= width {
            return Err(format!(
                "output `{name}` has {width} values; positive_index {i} is out of range"
            ));
        }
    } else if width != 1 {
        return Err(format!(
            "output `{name}` has {width} values; a probability or logit output must have one"
        ));
    }
    Ok(reading)
}

/// What `edgeintent inspect` reports about a model file.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    /// Graph inputs: name, element type, dimensions (`?name` for symbolic ones).
    pub inputs: Vec<TensorInfo>,
    /// Graph outputs.
    pub outputs: Vec<TensorInfo>,
    /// Producer name and version.
    pub producer: String,
    /// Opset imports, `domain:version`.
    pub opsets: Vec<String>,
    /// `metadata_props`.
    pub metadata: BTreeMap<String, String>,
    /// Every operator type used, with whether tract can parse it.
    pub ops: Vec<OpInfo>,
    /// `None` when tract loads and optimises the graph with its declared
    /// shapes (batch pinned to 1), else tract's error.
    pub load_error: Option<String>,
}

/// A named tensor of a graph's interface.
#[derive(Debug, Clone, Serialize)]
pub struct TensorInfo {
    /// Tensor name.
    pub name: String,
    /// ONNX element type name.
    pub elem_type: String,
    /// Dimensions; symbolic ones as `?name`.
    pub dims: Vec<String>,
}

/// One operator type of a graph.
#[derive(Debug, Clone, Serialize)]
pub struct OpInfo {
    /// `domain.op_type` (plain op_type for the default domain).
    pub op: String,
    /// Whether tract has a parser for it.
    pub supported: bool,
}

/// Describes a model file without checking it against any feature spec.
pub fn inspect(path: &Path) -> Result<ModelReport, ModelError> {
    let bytes = read_model(path)?;
    guarded(path, || inspect_bytes(&bytes, path))
}

/// Reads a model file; `path` names it in the error.
pub(crate) fn read_model(path: &Path) -> Result<Vec<u8>, ModelError> {
    std::fs::read(path).map_err(|e| ModelError::Io {
        path: path.to_owned(),
        why: e.to_string(),
    })
}

/// Runs `load`, turning a tract panic into [`ModelError::Panic`]: tract can
/// panic on some malformed graphs, and a bad model must be an error.
pub(crate) fn guarded<T>(
    path: &Path,
    load: impl FnOnce() -> Result<T, ModelError>,
) -> Result<T, ModelError> {
    catch_unwind(AssertUnwindSafe(load)).unwrap_or_else(|panic| {
        Err(ModelError::Panic {
            path: path.to_owned(),
            why: panic_message(&panic),
        })
    })
}

/// Decodes only the metadata of model bytes.
pub(crate) fn metadata_of(bytes: &[u8], path: &Path) -> Result<ModelMetadata, ModelError> {
    guarded(path, || {
        decode(&crate::model::ops::importer(), bytes, path).map(|p| ModelMetadata::from_proto(&p))
    })
}

/// The graph's real inputs (initializers listed as inputs left out).
pub(crate) fn inspect_proto_inputs(proto: &pb::ModelProto) -> Vec<TensorInfo> {
    let Some(g) = proto.graph.as_ref() else {
        return Vec::new();
    };
    let inits: Vec<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    g.input
        .iter()
        .map(tensor_info)
        .filter(|i| !inits.contains(&i.name.as_str()))
        .collect()
}

fn inspect_bytes(bytes: &[u8], path: &Path) -> Result<ModelReport, ModelError> {
    let onnx = crate::model::ops::importer();
    let proto = decode(&onnx, bytes, path)?;
    let graph = proto.graph.as_ref();
    let infos = |v: Option<&Vec<pb::ValueInfoProto>>| -> Vec<TensorInfo> {
        v.map(|v| v.iter().map(tensor_info).collect())
            .unwrap_or_default()
    };
    let inputs = inspect_proto_inputs(&proto);
    let mut ops = Vec::new();
    if let Some(g) = graph {
        collect_ops(g, &mut ops);
    }
    let ops: Vec<OpInfo> = ops
        .into_iter()
        .map(|(d, op)| OpInfo {
            supported: onnx.op_register.0.contains_key(&op),
            op: qualified(&d, &op),
        })
        .collect();
    let load_error = try_load_plain(&onnx, &proto).err();
    Ok(ModelReport {
        inputs,
        outputs: infos(graph.map(|g| &g.output)),
        producer: ModelMetadata::from_proto(&proto).producer,
        opsets: proto.opset_import.iter().fold(Vec::new(), |mut acc, o| {
            let d = if o.domain.is_empty() {
                "ai.onnx"
            } else {
                &o.domain
            };
            let entry = format!("{d}:{}", o.version);
            if !acc.contains(&entry) {
                acc.push(entry);
            }
            acc
        }),
        metadata: ModelMetadata::from_proto(&proto).props,
        ops,
        load_error,
    })
}

/// Loads the graph with symbolic dimensions pinned to 1 and optimises it.
fn try_load_plain(onnx: &tract_onnx::Onnx, proto: &pb::ModelProto) -> Result<(), String> {
    let err = |e: TractError| format!("{e:#}");
    let mut model = onnx.model_for_proto_model(proto).map_err(err)?;
    let graph_inputs = inspect_proto_inputs(proto);
    for (ix, info) in graph_inputs.iter().enumerate() {
        let dims: Vec<usize> = info
            .dims
            .iter()
            .map(|d| d.parse::<usize>().unwrap_or(1))
            .collect();
        if info.elem_type == "float" && !dims.is_empty() {
            model
                .set_input_fact(ix, f32::fact(dims).into())
                .map_err(err)?;
        }
    }
    model
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map(|_| ())
        .map_err(err)
}

fn tensor_info(v: &pb::ValueInfoProto) -> TensorInfo {
    let (elem, dims) = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => {
            let dims = t
                .shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match &d.value {
                            Some(pb::tensor_shape_proto::dimension::Value::DimValue(n)) => {
                                n.to_string()
                            }
                            Some(pb::tensor_shape_proto::dimension::Value::DimParam(p)) => {
                                format!("?{p}")
                            }
                            None => "?".into(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            (elem_type_name(t.elem_type), dims)
        }
        _ => ("non-tensor".to_owned(), Vec::new()),
    };
    TensorInfo {
        name: v.name.clone(),
        elem_type: elem,
        dims,
    }
}

fn elem_type_name(t: i32) -> String {
    match t {
        1 => "float",
        2 => "uint8",
        3 => "int8",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "double",
        _ => return format!("type#{t}"),
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seq: usize) -> FeatureSpec {
        FeatureSpec::from_json(&format!(
            r#"{{"version":"t","sequence_length":{seq},"features":[{{"name":"a","kind":"home_visible"}},{{"name":"b","kind":"home_visible"}}]}}"#
        ))
        .unwrap()
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn inputs_are_assigned_by_name_whatever_their_order() {
        let opts = InputOptions::default();
        assert_eq!(
            assign_inputs(&names(&["x"]), &opts, &spec(0)),
            Ok((0, None))
        );
        assert_eq!(
            assign_inputs(&names(&["sequence", "x"]), &opts, &spec(4)),
            Ok((1, Some(0)))
        );
        let named = InputOptions {
            features: Some("feats".into()),
            sequence: Some("events".into()),
        };
        assert_eq!(
            assign_inputs(&names(&["feats", "events"]), &named, &spec(4)),
            Ok((0, Some(1)))
        );
        let err = assign_inputs(&names(&["a", "b"]), &opts, &spec(0)).unwrap_err();
        assert!(err.contains("sequence_length"), "{err}");
        let err = assign_inputs(&names(&["a", "b"]), &opts, &spec(4)).unwrap_err();
        assert!(err.contains("no input named `sequence`"), "{err}");
        let err = assign_inputs(&names(&["a", "b", "c"]), &opts, &spec(4)).unwrap_err();
        assert!(err.contains("3 inputs"), "{err}");
    }

    fn meta(key: &str, value: &str) -> ModelMetadata {
        ModelMetadata {
            props: [(key.to_owned(), value.to_owned())].into_iter().collect(),
            producer: String::new(),
        }
    }

    #[test]
    fn normalization_must_fit_the_spec_and_be_usable() {
        let p = Path::new("m.onnx");
        let ok = meta(META_NORMALIZATION, r#"{"mean":[1,2],"scale":[0.5,4]}"#);
        let n = read_normalization(&ok, p, 2).unwrap().unwrap();
        assert_eq!(n.scale, [0.5, 4.0]);
        assert_eq!(
            read_normalization(&ModelMetadata::default(), p, 2),
            Ok(None)
        );
        for bad in [
            r#"{"mean":[1],"scale":[1]}"#,
            r#"{"mean":[1,2],"scale":[1,0]}"#,
            r#"{"mean":[1,2]}"#,
        ] {
            let err = read_normalization(&meta(META_NORMALIZATION, bad), p, 2).unwrap_err();
            assert!(err.to_string().contains(META_NORMALIZATION), "{bad}: {err}");
        }
    }

    #[test]
    fn feature_names_are_checked_one_by_one() {
        let p = Path::new("m.onnx");
        let s = spec(0);
        let mut m = meta(META_FEATURE_NAMES, r#"["a","c"]"#);
        m.props.insert(META_SPEC_HASH.into(), s.hash());
        let opts = ModelOptions {
            path: p.into(),
            required: true,
            require_spec_hash: true,
            output: OutputOptions::default(),
            inputs: InputOptions::default(),
            recurrent: None,
        };
        let err = check_spec(&m, p, &opts, &s).unwrap_err().to_string();
        assert!(
            err.contains("feature #1 is `c` in the model but `b`"),
            "{err}"
        );
        let no_hash = ModelMetadata::default();
        assert!(check_spec(&no_hash, p, &opts, &s).is_err());
        let lax = ModelOptions {
            require_spec_hash: false,
            ..opts
        };
        assert!(check_spec(&no_hash, p, &lax, &s).is_ok());
    }

    #[test]
    fn garbage_bytes_are_a_parse_error_not_a_panic() {
        let s = spec(0);
        let opts = ModelOptions {
            path: "x.onnx".into(),
            required: true,
            require_spec_hash: true,
            output: OutputOptions::default(),
            inputs: InputOptions::default(),
            recurrent: None,
        };
        for bytes in [&b""[..], b"\x08\x01\x12garbage", &[0xff; 64]] {
            let err = IntentModel::from_bytes(bytes, Path::new("x.onnx"), &opts, &s).unwrap_err();
            assert!(
                matches!(err, ModelError::Parse { .. } | ModelError::Panic { .. }),
                "{err}"
            );
        }
    }
}
