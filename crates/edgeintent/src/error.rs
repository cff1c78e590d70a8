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
