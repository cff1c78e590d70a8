//! Why a model cannot be used, and the one way model files are read.

use std::path::PathBuf;

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
