//! edgeintent: an on-device runtime that decides, from the user's own
//! real-time behaviour, when the homepage should fetch fresh recommendations.
//!
//! Events flow one way: [`Producer::push`] → ingest channel → incremental
//! features → the intent model (ONNX, run with tract) → the refresh gate →
//! [`Decision`]s with their reasons.
//!
//! ```no_run
//! use edgeintent::{Config, Event, EventKind, Runtime};
//!
//! let mut rt = Runtime::builder()
//!     .config(Config::from_file("models/config.json")?)
//!     .build()?;
//! let producer = rt.producer(); // clone it into any thread
//! producer.push(Event { ts_ms: 1_700_000_000_000, kind: EventKind::AppForeground })?;
//! rt.pump();
//! while let Some(decision) = rt.poll() {
//!     println!("{}", decision.to_json());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod config;
pub mod context;
mod decision;
mod dedup;
mod error;
mod event;
mod features;
mod geo;
mod hash;
mod ingest;
pub mod limits;
mod metrics;
mod model;
pub mod monitor;
mod panics;
mod policy;
mod runtime;
pub mod snapshot;
mod triggers;
pub mod update;

pub use config::{Config, ConfigError, IngestConfig};
pub use context::{ContextConfig, ContextPart};
pub use decision::{Action, AlertDetail, Decision, FallbackCause, Reason};
pub use dedup::{DedupConfig, DedupError, SlotArbiter, SlotSettings, Strategy};
pub use error::{Error, Misuse};
pub use event::{
    parse_line, Event, EventError, EventKind, EventType, FeedbackKind, Parsed, RecItem, TraceError,
    TraceReader, MAX_LINE_BYTES,
};
pub use features::{
    CyclicPart, FeatureDef, FeatureKind, FeatureSpec, FeatureState, SpecError, Weight, OTHER_PAGE,
};
pub use geo::{
    distance_m, Coverage, FenceDef, FenceIndex, FenceZone, GeoError, GeoStats, GeofenceConfig,
    Nearest, SamplingConfig,
};
pub use ingest::{Producer, PushError};
#[cfg(feature = "tract")]
pub use model::RecurrentModel;
#[cfg(feature = "tract")]
pub use model::{check_input_shapes, declared_inputs, inspect, ModelReport, OpInfo, TensorInfo};
#[cfg(feature = "tract")]
pub use model::{
    onnx_importer, GraphOutput, Importer, NativeModel, OnnxGraph, OutputValues, TensorData,
    TensorGraph, TensorValue,
};
pub use model::{
    InputOptions, IntentModel, ModelError, ModelMetadata, ModelOptions, ModelPackage,
    Normalization, OutputKind, OutputOptions, META_FEATURE_NAMES, META_MODEL_VERSION,
    META_NORMALIZATION, META_SPEC_HASH, META_SPEC_VERSION,
};
pub use model::{RecurrentOptions, META_RECURRENT};
pub use policy::{Buckets, PolicyConfig, PolicyError};
pub use runtime::{
    ClockStats, DecisionCallback, DecisionPoint, ModelStatus, PointRecord, Runtime, RuntimeBuilder,
    Stats, UpdateOutcome, UpdateStats, VersionInForce, Worker, WorkerClock,
};
pub use update::{Manifest, Rollout, RolloutArm, UpdateError, UpdateKind, UpdatesConfig};

/// The Rust examples of the guides (`docs/`), compiled by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/embedding.md")]
pub struct GuideDoctests;

pub use triggers::{default_triggers, TriggerAction, TriggerError, TriggerRule, TriggerWhen};
