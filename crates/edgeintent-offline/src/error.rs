//! The offline tools' error: the device library's (config, spec, model,
//! events, snapshots, updates) plus what only offline work meets: files,
//! traces on disk, inputs with nothing to work on, evaluations asked
//! something impossible, benchmarks.

use edgeintent::{ConfigError, EventError, ModelError, SpecError, TraceError, UpdateError};

/// Anything that can go wrong in offline work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The device library refused something (a config, a model, an event...).
    #[error(transparent)]
    Runtime(#[from] edgeintent::Error),
    /// A trace file cannot be read, or has a bad line.
    #[error("{path}: {source}")]
    TraceFile {
        /// The trace file.
        path: String,
        /// What is wrong, and on which line.
        #[source]
        source: TraceError,
    },
    /// An input holds nothing that the requested work could use.
    #[error("{input}: no {missing}, so there is nothing to {task}")]
    NothingTo {
        /// The input (a file, or "the traces").
        input: String,
        /// What it lacks.
        missing: &'static str,
        /// What could not be done.
        task: &'static str,
    },
    /// A file could not be read or written.
    #[error("{path}: {why}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        why: String,
    },
    /// The work asked for cannot be done as asked.
    #[error(transparent)]
    Offline(#[from] OfflineError),
}

/// Every layer error of the device library converts through its `Error`.
macro_rules! through_runtime {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::Runtime(e.into())
            }
        }
    )*};
}
through_runtime!(
    ConfigError,
    EventError,
    ModelError,
    SpecError,
    TraceError,
    UpdateError,
    edgeintent::snapshot::SnapshotError,
    edgeintent::Misuse
);

/// Why offline work cannot proceed, apart from bad files and configs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OfflineError {
    /// An evaluation's first candidate must be the configured policy.
    #[error("the first candidate must be the configured policy (PolicyKind::Ours)")]
    FirstCandidateNotOurs,
    /// A threshold to sweep lies outside [0, 1].
    #[error("sweep threshold {0} is outside [0, 1]")]
    SweepOutOfRange(f32),
    /// An updates file to compare arms of has no staged roll-out.
    #[error("no staged roll-out to compare: no package in the updates has rollout arms")]
    NoRolloutArms,
    /// Summed counts were given for another number of candidates.
    #[error("{tallies} tallies for {candidates} candidates: give one tally per candidate, in the candidates' order")]
    TallyCount {
        /// Tallies given.
        tallies: usize,
        /// Candidates given.
        candidates: usize,
    },
    /// A threshold to sweep is not a valid policy threshold.
    #[error("threshold {threshold}: {source}")]
    SweepThreshold {
        /// The threshold asked for.
        threshold: f32,
        /// Why the policy refuses it.
        #[source]
        source: edgeintent::PolicyError,
    },
    /// The benchmark's rows do not fit the model.
    #[error("bench rows: {0}")]
    BenchRows(String),
    /// A benchmark needs at least one timed run.
    #[error("a benchmark needs at least one timed run")]
    NoIterations,
    /// Comparing with ONNX Runtime was asked of a build without it.
    #[error("comparing with ONNX Runtime needs a build with the `ort-compare` feature (cargo build --release --features ort-compare)")]
    OrtNotBuilt,
    /// The ONNX Runtime library to compare with does not exist.
    #[error("ONNX Runtime library {path}: no such file (use site-packages/onnxruntime/capi/libonnxruntime.so.* of the onnxruntime wheel)")]
    OrtLibMissing {
        /// The path given.
        path: std::path::PathBuf,
    },
    /// ONNX Runtime failed.
    #[error("onnxruntime: {what}: {why}")]
    Ort {
        /// What it was doing.
        what: &'static str,
        /// Its message.
        why: String,
    },
}
