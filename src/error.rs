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
