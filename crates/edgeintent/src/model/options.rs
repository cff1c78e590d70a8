//! How to use a model file: the `model` section of the runtime config.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::MAX_MODEL_FILE;

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
    pub recurrent: Option<super::recurrent_options::RecurrentOptions>,
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
