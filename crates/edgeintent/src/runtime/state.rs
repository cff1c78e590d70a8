//! What a runtime holds, by concern: its input (the channel and the events'
//! clock), the features and the model, the deciders (gate, triggers,
//! fences, the de-dup arbiter), what it hands out (decisions and their
//! contexts), what watches it (counters, latency, monitors), and the config
//! and updates in force. The behaviour lives beside it, one concern a file:
//! `process` (events), `decide` (decision points), `emit` (decisions out),
//! `update`, `persist`, `stats`, `builder`, `worker`.

use std::collections::VecDeque;

use super::clock::EventClock;
use super::types::{Counters, DecisionCallback, ModelStatus, PointObserver};
use super::versions::Updates;
use crate::config::Config;
use crate::context::{Activity, ContextLog};
use crate::decision::Decision;
use crate::dedup::SlotArbiter;
use crate::features::FeatureState;
use crate::geo::Geo;
use crate::ingest::{Ingest, Producer};
use crate::metrics::LatencyHistogram;
use crate::model::Scorer;
use crate::monitor::Monitor;
use crate::policy::RefreshGate;
use crate::triggers::Triggers;

/// The on-device intent runtime for one user.
///
/// Feed it events (from any thread through a [`Producer`], then [`Runtime::pump`];
/// or directly with [`Runtime::process`]); take decisions with [`Runtime::poll`]
/// or a callback. See the crate docs for a full example.
pub struct Runtime {
    pub(super) features: FeatureState,
    pub(super) feature_buf: Box<[f32]>,
    pub(super) seq_buf: Box<[f32]>,
    pub(super) model: Option<Scorer>,
    pub(super) model_status: ModelStatus,
    pub(super) gate: RefreshGate,
    pub(super) bucket: Option<usize>,
    pub(super) triggers: Triggers,
    pub(super) geo: Option<Geo>,
    pub(super) arbiter: SlotArbiter,
    pub(super) ingest: Ingest,
    pub(super) decisions: VecDeque<Decision>,
    pub(super) decision_capacity: usize,
    pub(super) on_decision: Option<DecisionCallback>,
    pub(super) observer: Option<PointObserver>,
    pub(super) tick_ms: i64,
    pub(super) next_tick_ms: Option<i64>,
    pub(super) clock: EventClock,
    pub(super) counters: Counters,
    pub(super) latency: LatencyHistogram,
    pub(super) last_model_error: Option<String>,
    pub(super) activity: Activity,
    pub(super) contexts: ContextLog,
    pub(super) monitor: Option<Box<Monitor>>,
    pub(super) updates: Updates,
    pub(super) generation: u32,
    pub(super) config: Config,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("model", &self.model_status)
            .field("newest_ms", &self.clock.newest_ms())
            .finish_non_exhaustive()
    }
}

/// The monitors a config asks for, with the model package's reference
/// profile when the model has one (checked when the model loaded).
pub(crate) fn monitor_for(config: &Config, model: Option<&Scorer>) -> Option<Box<Monitor>> {
    let cfg = config.monitor();
    if !cfg.enabled {
        return None;
    }
    let names: Vec<&str> = config.features().names().collect();
    let profile = model
        .and_then(|m| m.metadata().get(crate::monitor::META_REFERENCE_PROFILE))
        .and_then(|t| crate::monitor::ReferenceProfile::parse(t, &names).ok());
    Some(Box::new(Monitor::new(
        cfg,
        &names,
        profile.as_ref(),
        config.policy().budget_per_hour,
    )))
}

impl Runtime {
    /// The validated config in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A new handle for pushing events from any thread.
    pub fn producer(&self) -> Producer {
        self.ingest.producer()
    }

    /// When content was last refreshed (by any decision), on the event clock.
    pub fn last_refresh_ms(&self) -> Option<i64> {
        self.gate.last_refresh_ms()
    }

    /// Whether a model is in use.
    pub fn model_status(&self) -> &ModelStatus {
        &self.model_status
    }
}
