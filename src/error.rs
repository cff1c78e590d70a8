//! The crate's error type: one variant per layer, each wrapping that layer's
//! own enum, so callers can match on what went wrong without parsing strings.

use crate::config::ConfigError;
use crate::event::{EventError, TraceError};
use crate::features::SpecError;
use crate::model::ModelError;
use crate::snapshot::SnapshotError;

/// Anything that can go wrong in edgeintent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The config file is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A feature spec is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The model cannot be used.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// An event is invalid.
    #[error(transparent)]
    Event(#[from] EventError),
    /// A trace has a bad line.
    #[error(transparent)]
    Trace(#[from] TraceError),
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
    /// A snapshot could not be written or used.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The API was used in a way that cannot work (wrong order, missing setting).
    #[error(transparent)]
    Misuse(#[from] Misuse),
    /// A geofence setting (such as a coverage circle from the server) is invalid.
    #[error(transparent)]
    Geo(#[from] crate::geo::GeoError),
    /// A live update was refused (the running version stays in force).
    #[error(transparent)]
    Update(#[from] crate::update::UpdateError),
    /// The worker thread could not be started.
    #[error("cannot start the worker thread: {0}")]
    WorkerThread(#[source] std::io::Error),
    /// Offline work (evaluation, benchmarks) cannot proceed.
    #[cfg(feature = "offline")]
    #[error(transparent)]
    Offline(#[from] OfflineError),
}

/// Ways of calling the API that cannot work, apart from bad data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// `RuntimeBuilder::build` without a config.
    #[error("no config: call RuntimeBuilder::config or RuntimeBuilder::config_file")]
    NoConfig,
    /// `Runtime::spawn_worker` without a decision callback.
    #[error("a worker needs RuntimeBuilder::on_decision to deliver its decisions")]
    WorkerWithoutCallback,
    /// The worker thread panicked, so its runtime is lost.
    #[error("the worker thread panicked; its runtime is lost")]
    WorkerPanicked,
    /// `Runtime::set_coverage` on a runtime configured without geofencing.
    #[error("set_coverage needs a `geofence` section in the config")]
    NoGeofence,
}

/// Why offline work (`edgeintent::offline`) cannot proceed, apart from bad
/// files and configs. It lives here, beside the other layers' errors, so the
/// error module needs nothing from `offline`.
#[cfg(feature = "offline")]
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
        source: crate::policy::PolicyError,
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
