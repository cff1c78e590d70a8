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
    #[error("usage: {0}")]
    Usage(String),
}
