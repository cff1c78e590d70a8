//! Models: the package checks (`package`), the intent model scored at decision
//! points (`intent`), recurrent models stepped per event (`recurrent`), any
//! graph with all its outputs (`graph`), the
//! `inspect` report, and the operators added to tract's importer (`ops`).
//! Only `engine` and `ops` touch tract; with the `tract` feature off, the
//! native executor (`native`) runs `.eim` packages (`eim`) alone. Nothing here
//! panics outward: tract runs inside `catch_unwind` at load time, and every
//! failure is a [`ModelError`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::features::FeatureSpec;

pub(crate) mod eim;
#[cfg(feature = "tract")]
mod engine;
#[cfg(feature = "tract")]
mod graph;
#[cfg(feature = "tract")]
mod inspect;
mod intent;
pub(crate) mod native;
#[cfg(feature = "tract")]
pub(crate) mod ops;
mod package;
#[cfg(feature = "tract")]
mod recurrent;
mod recurrent_options;

/// The largest model file read (256 MiB, the default model memory budget: a
/// larger file cannot fit in it anyway).
pub(crate) const MAX_MODEL_FILE: u64 = 256 << 20;

/// Reads a model file (a regular file, at most [`MAX_MODEL_FILE`] bytes);
/// `path` names it in the error.
pub(crate) fn read_model(path: &std::path::Path) -> Result<Vec<u8>, ModelError> {
    crate::limits::read_regular(path, MAX_MODEL_FILE).map_err(|e| ModelError::Io {
        path: path.to_owned(),
        why: e.to_string(),
    })
}

#[cfg(feature = "tract")]
pub use graph::{
    GraphOutput, Importer, NativeModel, OnnxGraph, OutputValues, TensorData, TensorGraph,
    TensorValue,
};
#[cfg(feature = "offline")] // for the benchmark harness
pub(crate) use inspect::declared_inputs;

/// Checks that f32 inputs of `shapes` fit in the default model memory budget.
#[cfg(feature = "offline")]
pub(crate) fn check_input_shapes(
    shapes: &[Vec<usize>],
    path: &std::path::Path,
) -> Result<(), ModelError> {
    engine::check_shapes(shapes, path, engine::MODEL_MEMORY_BUDGET)
}
#[cfg(feature = "tract")]
pub use inspect::{inspect, ModelReport, OpInfo, TensorInfo};
pub use intent::IntentModel;
#[cfg(feature = "tract")]
pub use ops::importer as onnx_importer;
pub use package::{
    ModelMetadata, ModelPackage, Normalization, META_FEATURE_NAMES, META_MODEL_VERSION,
    META_NORMALIZATION, META_SPEC_HASH, META_SPEC_VERSION,
};
#[cfg(feature = "tract")]
pub use recurrent::RecurrentModel;
pub use recurrent_options::{RecurrentOptions, META_RECURRENT};

#[cfg(feature = "tract")]
use engine::metadata_of;

/// The loaded model: scored on a feature vector at decision points, or stepped
/// once per event with its state carried.
// One per runtime, so the size difference costs nothing; a Box would add an
// indirection on every decision.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Scorer {
    /// Scored on the feature vector (and sequence) at decision points.
    Window(IntentModel),
    /// Stepped once per event, state carried.
    #[cfg(feature = "tract")]
    Stepped(RecurrentModel),
}

impl Scorer {
    /// The package metadata of the loaded model.
    pub(crate) fn metadata(&self) -> &ModelMetadata {
        match self {
            Scorer::Window(m) => m.metadata(),
            #[cfg(feature = "tract")]
            Scorer::Stepped(m) => m.metadata(),
        }
    }
}

/// Loads the configured model as whichever kind it declares.
pub(crate) fn load_scorer(opts: &ModelOptions, spec: &FeatureSpec) -> Result<Scorer, ModelError> {
    let bytes = read_model(&opts.path)?;
    load_scorer_bytes(&bytes, opts, spec)
}

/// Loads a model file's bytes (a live update) as whichever kind it declares;
/// `opts.path` names it in errors.
pub(crate) fn load_scorer_bytes(
    bytes: &[u8],
    opts: &ModelOptions,
    spec: &FeatureSpec,
) -> Result<Scorer, ModelError> {
    // Without tract every model is a package (an ONNX file is refused there).
    #[cfg(not(feature = "tract"))]
    return IntentModel::from_bytes(bytes, &opts.path, opts, spec).map(Scorer::Window);
    #[cfg(feature = "tract")]
    {
        if eim::is_eim(bytes) {
            return IntentModel::from_bytes(bytes, &opts.path, opts, spec).map(Scorer::Window);
        }
        let meta = metadata_of(bytes, &opts.path)?;
        match recurrent::declared(opts, &meta, &opts.path)? {
            Some(rec) => RecurrentModel::from_bytes(bytes, opts, spec, &rec).map(Scorer::Stepped),
            None => IntentModel::from_bytes(bytes, &opts.path, opts, spec).map(Scorer::Window),
        }
    }
}

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
    pub recurrent: Option<crate::model::recurrent_options::RecurrentOptions>,
    /// The most memory (MiB) the model's declared tensors may take; a file
    /// declaring more is refused before anything is allocated (default 256).
    #[serde(default = "default_memory_mb")]
    pub max_memory_mb: u64,
}

fn default_memory_mb() -> u64 {
    MAX_MODEL_FILE >> 20
}

fn yes() -> bool {
    true
}

impl ModelOptions {
    /// `max_memory_mb` in bytes.
    pub(crate) fn memory_budget(&self) -> u64 {
        self.max_memory_mb.saturating_mul(1 << 20)
    }

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
            max_memory_mb: default_memory_mb(),
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
    /// The native executor (or a `.eim` package) cannot take this model.
    #[error("model {path}: not native: {why}")]
    NotNative {
        /// The model path.
        path: PathBuf,
        /// The first node without a native kernel, or what else is missing.
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
    /// The native executor failed while running a plan (a kernel panicked
    /// on a plan it should have refused); the plan is not run again.
    #[error("model: the native executor failed: {0}")]
    Native(String),
    /// The bytes are not a usable `.eim` package.
    #[error("model {path}: not a valid .eim package: {why}")]
    Package {
        /// The model path.
        path: PathBuf,
        /// What is wrong with the package, and the fix.
        why: String,
    },
    /// The model produced a score that is not a probability.
    #[error("model produced {0}, which is not a probability in [0, 1]")]
    BadScore(f32),
    /// The file declares tensors larger than the memory budget, or
    /// attributes no engine should be handed: refused before anything is
    /// allocated.
    #[error("model {path}: refused: {why}")]
    Refused {
        /// The model path.
        path: PathBuf,
        /// What is too large or malformed, and the limit.
        why: String,
    },
    /// tract panicked; the model is treated as unusable.
    #[error("model {path}: the engine panicked while loading ({why}); the model is not usable")]
    Panic {
        /// The model path.
        path: PathBuf,
        /// The panic message.
        why: String,
    },
}

/// A two-feature spec with a sequence of `seq` events, for the model tests.
#[cfg(test)]
fn test_spec(seq: usize) -> FeatureSpec {
    FeatureSpec::from_json(&format!(
        r#"{{"version":"t","sequence_length":{seq},"features":[{{"name":"a","kind":"home_visible"}},{{"name":"b","kind":"home_visible"}}]}}"#
    ))
    .unwrap()
}
