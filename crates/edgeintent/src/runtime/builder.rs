//! Building a runtime: the config is validated once here, the model loaded.

use std::collections::VecDeque;
use std::path::PathBuf;

use super::clock::EventClock;
use super::state::{monitor_for, Runtime};
use super::types::{Counters, DecisionCallback, ModelStatus, PointObserver, PointRecord};
use super::versions::Updates;
use crate::config::Config;
use crate::context::{Activity, ContextLog};
use crate::decision::Decision;
use crate::dedup::SlotArbiter;
use crate::error::{Error, Misuse};
use crate::features::FeatureState;
use crate::geo::Geo;
use crate::ingest::Ingest;
use crate::metrics::LatencyHistogram;
use crate::model::{load_scorer, Scorer};
use crate::policy::RefreshGate;
use crate::triggers::Triggers;

/// Configures and builds a [`Runtime`].
///
/// ```no_run
/// use edgeintent::{Config, Runtime};
/// let mut rt = Runtime::builder()
///     .config(Config::from_file("models/config.json")?)
///     .build()?;
/// # Ok::<(), edgeintent::Error>(())
/// ```
#[derive(Default)]
pub struct RuntimeBuilder {
    config: Option<Config>,
    config_file: Option<PathBuf>,
    without_model: bool,
    on_decision: Option<DecisionCallback>,
    observer: Option<PointObserver>,
    user_id: Option<String>,
    forced_arm: Option<String>,
}

impl RuntimeBuilder {
    /// The user's id: with `policy.buckets`, a stable hash of it picks the
    /// user's A/B bucket and threshold.
    pub fn user_id(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(id.into());
        self
    }

    /// Puts this device in the named arm of every staged roll-out that has
    /// one, whatever its user hash says: for QA devices, and for rehearsing a
    /// roll-out offline (`replay --updates --arm`).
    pub fn force_arm(mut self, arm: impl Into<String>) -> Self {
        self.forced_arm = Some(arm.into());
        self
    }

    /// Uses this config.
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// Reads the config from a file at build time.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// Ignores the configured model: the rules decide.
    pub fn without_model(mut self) -> Self {
        self.without_model = true;
        self
    }

    /// Delivers each decision to `f` as it is made, instead of queueing it for
    /// [`Runtime::poll`]. Required for [`Runtime::spawn_worker`].
    pub fn on_decision(mut self, f: impl FnMut(&Decision) + Send + 'static) -> Self {
        self.on_decision = Some(Box::new(f));
        self
    }

    /// Hands `f` a [`PointRecord`] at every decision point, after the
    /// decision: the features as the model saw them and its score (with an
    /// observer, the model scores every point). This is how training rows
    /// are cut (`edgeintent featurize`) and timelines drawn, so training and
    /// serving compute features the same way.
    pub fn on_decision_point(mut self, f: impl FnMut(&PointRecord<'_>) + Send + 'static) -> Self {
        self.observer = Some(Box::new(f));
        self
    }

    /// Validates everything and loads the model. A model that fails to load is an
    /// error when `model.required` is true; otherwise the runtime uses its rules.
    pub fn build(self) -> Result<Runtime, Error> {
        let config = match (self.config, self.config_file) {
            (Some(c), _) => {
                c.validate("given to RuntimeBuilder::config")?;
                c
            }
            (None, Some(p)) => Config::from_file(p)?,
            (None, None) => return Err(Misuse::NoConfig.into()),
        };
        let (model, model_status) = load_model(&config, self.without_model)?;
        let parts = Parts {
            on_decision: self.on_decision,
            observer: self.observer,
            ingest: Ingest::new(config.ingest().channel_capacity),
            user_id: self.user_id,
            forced_arm: self.forced_arm,
            without_model: self.without_model,
        };
        let mut rt = assemble(config, model, model_status, parts);
        // Updates accepted before a restart are in force again.
        rt.apply_stored_updates();
        Ok(rt)
    }
}

impl Runtime {
    /// Starts configuring a runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Starts over, as a fresh build for `user_id` would, but without
    /// loading the model again: every state learned from events (features,
    /// timers, dedup lists, monitors, counters, queued decisions) is
    /// forgotten; the config and model in force stay, or the shipped ones
    /// when a live update had replaced them. The decision callback stays;
    /// producers made before no longer reach this runtime. For offline work
    /// over many users' logs with one runtime (the Python package, Spark).
    /// An error leaves the runtime as it was.
    pub fn restart(&mut self, user_id: Option<&str>) -> Result<(), Error> {
        let forced_arm = self.updates.forced_arm().map(str::to_owned);
        let without_model = self.updates.without_model();
        let (config, model, status) = if self.generation == 0 {
            #[cfg(feature = "tract")]
            if let Some(Scorer::Stepped(m)) = self.model.as_mut() {
                m.reset()?;
            }
            (
                self.config.clone(),
                self.model.take(),
                self.model_status.clone(),
            )
        } else {
            let config = self.updates.shipped().clone();
            let (model, status) = load_model(&config, without_model)?;
            (config, model, status)
        };
        let parts = Parts {
            on_decision: self.on_decision.take(),
            observer: self.observer.take(),
            ingest: Ingest::new(config.ingest().channel_capacity),
            user_id: user_id.map(str::to_owned),
            forced_arm,
            without_model,
        };
        *self = assemble(config, model, status, parts);
        self.apply_stored_updates();
        Ok(())
    }
}

/// The config's model, unless the rules are to decide alone. A model that
/// fails to load is an error when `model.required` is true.
pub(super) fn load_model(
    config: &Config,
    without_model: bool,
) -> Result<(Option<Scorer>, ModelStatus), Error> {
    Ok(match (&config.model(), without_model) {
        (Some(opts), false) => match load_scorer(opts, config.features()) {
            Ok(m) => (
                Some(m),
                ModelStatus::Loaded(opts.path.display().to_string()),
            ),
            Err(e) if opts.required => return Err(e.into()),
            Err(e) => {
                log::warn!(target: "edgeintent", "model {} did not load, deciding by rules (model.required is false): {e}", opts.path.display());
                (None, ModelStatus::Failed(e.to_string()))
            }
        },
        _ => (None, ModelStatus::None),
    })
}

/// What a runtime keeps from the host besides its config and model.
pub(super) struct Parts {
    pub(super) on_decision: Option<DecisionCallback>,
    pub(super) observer: Option<PointObserver>,
    pub(super) ingest: Ingest,
    pub(super) user_id: Option<String>,
    pub(super) forced_arm: Option<String>,
    pub(super) without_model: bool,
}

/// A runtime that has seen no event yet.
pub(super) fn assemble(
    config: Config,
    model: Option<Scorer>,
    model_status: ModelStatus,
    parts: Parts,
) -> Runtime {
    let features = FeatureState::new(config.features());
    let (threshold, bucket) = config.policy().threshold_for(parts.user_id.as_deref());
    let updates = Updates::new(
        &config,
        parts.user_id,
        parts.forced_arm,
        parts.without_model,
    );
    let monitor = monitor_for(&config, model.as_ref());
    Runtime {
        gate: RefreshGate::new(config.policy(), threshold),
        bucket,
        triggers: Triggers::new(config.triggers()),
        geo: config.geofence().map(Geo::new),
        feature_buf: vec![0.0; features.len()].into_boxed_slice(),
        seq_buf: vec![0.0; features.sequence_len()].into_boxed_slice(),
        features,
        model,
        model_status,
        arbiter: SlotArbiter::new(config.dedup().clone()),
        ingest: parts.ingest,
        decisions: VecDeque::with_capacity(config.ingest().decision_queue),
        decision_capacity: config.ingest().decision_queue,
        on_decision: parts.on_decision,
        observer: parts.observer,
        tick_ms: (config.policy().tick_interval_s * 1000.0).round() as i64,
        next_tick_ms: None,
        clock: EventClock::new(
            config.ingest().max_clock_skew_ms,
            config.ingest().max_forward_jump_ms,
        ),
        counters: Counters::default(),
        latency: LatencyHistogram::new(),
        last_model_error: None,
        activity: Activity::default(),
        contexts: ContextLog::new(),
        monitor,
        updates,
        generation: 0,
        config,
    }
}
