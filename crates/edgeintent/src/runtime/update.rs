//! Live updates: a verified package is checked like a fresh load on the side,
//! stored where the host said, and only then swapped in, between two events.
//! Any failure leaves the running version in force.

use std::path::PathBuf;
use std::sync::Arc;

use super::state::{monitor_for, Runtime};
use super::types::ModelStatus;
use super::versions::{Labels, UpdateOutcome, UpdateStats, HISTORY, SHIPPED};
use crate::config::Config;
use crate::dedup::SlotArbiter;
use crate::features::FeatureState;
use crate::geo::Geo;
use crate::model::{load_scorer, load_scorer_bytes, ModelOptions, Scorer};
use crate::policy::RefreshGate;
use crate::snapshot::Persist;
use crate::triggers::Triggers;
use crate::update::{
    parse_app_version, read_package, verify, version_at_least, Manifest, UpdateError, UpdateKind,
};

/// The model a candidate config runs with.
// Built once per update, moved once: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum ModelChoice {
    Keep,
    Replace(Option<Scorer>, ModelStatus),
}

/// A verified update's candidate state, built on the side.
#[allow(clippy::large_enum_variant)]
enum Candidate {
    Config(Box<Config>, ModelChoice),
    Model(Option<Scorer>, ModelStatus, Option<Arc<[u8]>>),
}

impl Runtime {
    /// Applies a config update package from the server (see
    /// [`Runtime::update`]); a model package is refused.
    pub fn update_config(&mut self, package: &[u8]) -> Result<UpdateOutcome, UpdateError> {
        self.apply_update(Some(UpdateKind::Config), package, true)
    }

    /// Applies a model update package from the server (see [`Runtime::update`]);
    /// a config package is refused.
    pub fn update_model(&mut self, package: &[u8]) -> Result<UpdateOutcome, UpdateError> {
        self.apply_update(Some(UpdateKind::Model), package, true)
    }

    /// Applies an update package of either kind, between two events: its
    /// signature is checked against the keys pinned in the app's config
    /// (`updates.public_keys`), its payload against the manifest's SHA-256,
    /// and the new config or model like a fresh load (spec hash, names,
    /// operators, one test run of the model). Feature state, timers and dedup
    /// lists are kept unless the feature spec changes, which needs the
    /// manifest's `reset_state`. The package is stored in `updates.dir`
    /// first, so it is in force again after a restart. On any error the
    /// running version stays in force and the error says why.
    pub fn update(&mut self, package: &[u8]) -> Result<UpdateOutcome, UpdateError> {
        self.apply_update(None, package, true)
    }

    /// The versions in force and the update counters.
    pub fn versions(&self) -> UpdateStats {
        let u = &self.updates;
        UpdateStats {
            enabled: u.enabled(),
            generation: self.generation,
            config: u.config.clone(),
            model: u.model.clone(),
            accepted: u.accepted,
            refused: u.refused,
            last_error: u.last_error.clone(),
        }
    }

    fn apply_update(
        &mut self,
        expected: Option<UpdateKind>,
        bytes: &[u8],
        store: bool,
    ) -> Result<UpdateOutcome, UpdateError> {
        let result = self.try_update(expected, bytes, store);
        match &result {
            Ok(outcome) => {
                self.updates.accepted += 1;
                log::info!(target: "edgeintent", "update accepted: {outcome:?}");
            }
            Err(e) => {
                self.updates.refused += 1;
                self.updates.last_error = Some(e.to_string());
                log::warn!(target: "edgeintent", "update refused, the running version stays in force: {e}");
            }
        }
        result
    }

    /// Applies the packages kept in `updates.dir` (at start-up).
    pub(crate) fn apply_stored_updates(&mut self) {
        for kind in [UpdateKind::Config, UpdateKind::Model] {
            for seen in [false, true] {
                let Some(path) = self.updates.file(kind, seen) else {
                    return;
                };
                let bytes = match read_package(&path) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => {
                        self.updates.refused += 1;
                        self.updates.last_error = Some(format!("{}: {e}", path.display()));
                        log::warn!(target: "edgeintent", "stored update {} unreadable: {e}", path.display());
                        continue;
                    }
                };
                if let Err(e) = self.apply_update(Some(kind), &bytes, false) {
                    log::warn!(target: "edgeintent", "stored update {} not applied: {e}", path.display());
                }
            }
        }
    }

    fn try_update(
        &mut self,
        expected: Option<UpdateKind>,
        bytes: &[u8],
        store: bool,
    ) -> Result<UpdateOutcome, UpdateError> {
        if !self.updates.enabled() {
            return Err(UpdateError::NotConfigured);
        }
        let verified = verify(bytes, &self.updates.keys)?;
        let m = verified.manifest;
        if let Some(k) = expected.filter(|k| *k != m.kind) {
            return Err(UpdateError::WrongKind {
                expected: k.name(),
                got: m.kind.name(),
            });
        }
        let in_force = self.updates.state(m.kind).sequence;
        if m.sequence <= in_force {
            return Err(UpdateError::Stale {
                kind: m.kind.name(),
                version: m.version.clone(),
                sequence: m.sequence,
                in_force,
            });
        }
        if let Some(min) = &m.min_app_version {
            let ok = self.updates.app_version.as_ref().is_some_and(|(_, app)| {
                parse_app_version(min).is_ok_and(|min| version_at_least(app, &min))
            });
            if !ok {
                return Err(UpdateError::AppTooOld {
                    version: m.version.clone(),
                    min: min.clone(),
                    app: self.updates.app_version.as_ref().map_or_else(
                        || "unknown (updates.app_version is not set)".into(),
                        |(v, _)| v.clone(),
                    ),
                });
            }
        }
        let arm = match &m.rollout {
            None => None,
            Some(r) => {
                let forced = self
                    .updates
                    .forced_arm
                    .as_deref()
                    .and_then(|a| r.arm_named(a));
                let arm = match (forced, self.updates.user_id.as_deref()) {
                    (Some(a), _) => a,
                    (None, Some(id)) => r.arm_of(id),
                    (None, None) => return Err(UpdateError::NoUser(m.version.clone())),
                };
                Some(arm.clone())
            }
        };
        if let Some(a) = arm.as_ref().filter(|a| !a.apply) {
            if store {
                self.updates.store(&m, bytes, true)?;
            }
            let st = self.updates.state(m.kind);
            st.sequence = m.sequence;
            st.arm = Some(a.name.clone());
            st.rollout = Some(m.version.clone());
            self.next_generation();
            return Ok(UpdateOutcome::NotInArm {
                kind: m.kind,
                version: m.version,
                arm: a.name.clone(),
            });
        }
        let candidate = self.candidate(&m, verified.payload)?;
        if store {
            self.updates.store(&m, bytes, false)?;
        }
        match candidate {
            Candidate::Config(cfg, model) => self.install_config(*cfg, model, m.reset_state),
            Candidate::Model(scorer, status, bytes) => {
                self.model = scorer;
                self.model_status = status;
                self.last_model_error = None;
                self.updates.model_bytes = bytes;
            }
        }
        // Another config or model: another reference, another window.
        self.monitor = monitor_for(&self.config, self.model.as_ref());
        let st = self.updates.state(m.kind);
        st.sequence = m.sequence;
        st.version = if m.rollback {
            SHIPPED.into()
        } else {
            m.version.clone()
        };
        if let Some(a) = arm {
            st.arm = Some(a.name);
            st.rollout = Some(m.version.clone());
        }
        self.next_generation();
        Ok(if m.rollback {
            UpdateOutcome::RolledBack { kind: m.kind }
        } else {
            UpdateOutcome::Applied {
                kind: m.kind,
                version: m.version,
            }
        })
    }

    fn next_generation(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        let u = &mut self.updates;
        if u.history.len() == HISTORY {
            u.history.pop_front();
        }
        u.history.push_back((
            self.generation,
            Labels {
                config: u.config.clone(),
                model: u.model.clone(),
            },
        ));
    }

    /// Builds what the update would put in force, touching nothing.
    fn candidate(&mut self, m: &Manifest, payload: &[u8]) -> Result<Candidate, UpdateError> {
        let version = m.version.clone();
        let model_err = |why: String| UpdateError::Model {
            version: version.clone(),
            why,
        };
        match m.kind {
            UpdateKind::Config => {
                let cfg = if m.rollback {
                    self.updates.shipped.clone()
                } else {
                    self.delivered_config(m, payload)?
                };
                let (from, to) = (self.config.features().hash(), cfg.features().hash());
                if from != to && !m.reset_state {
                    return Err(UpdateError::SpecChange {
                        version: m.version.clone(),
                        from,
                        to,
                    });
                }
                let same_model = cfg.model() == self.config.model() && from == to;
                let choice = if self.updates.without_model || same_model {
                    ModelChoice::Keep
                } else {
                    let (mut scorer, status) = match &self.updates.model_bytes {
                        Some(bytes) => {
                            let opts = update_options(&cfg, &self.updates.model.version);
                            let s =
                                load_scorer_bytes(bytes, &opts, cfg.features()).map_err(|e| {
                                    model_err(format!(
                                        "the model update in force does not fit this config: {e}"
                                    ))
                                })?;
                            loaded(s, &opts)
                        }
                        None => own_model(&cfg).map_err(|e| model_err(e.to_string()))?,
                    };
                    self.smoke_test(scorer.as_mut(), cfg.features())
                        .map_err(model_err)?;
                    ModelChoice::Replace(scorer, status)
                };
                Ok(Candidate::Config(Box::new(cfg), choice))
            }
            UpdateKind::Model => {
                if self.updates.without_model {
                    return Ok(Candidate::Model(None, ModelStatus::None, None));
                }
                let (mut scorer, status, bytes) = if m.rollback {
                    let (s, status) =
                        own_model(&self.config).map_err(|e| model_err(e.to_string()))?;
                    (s, status, None)
                } else {
                    let opts = update_options(&self.config, &m.version);
                    let s = load_scorer_bytes(payload, &opts, self.config.features())
                        .map_err(|e| model_err(e.to_string()))?;
                    let (s, status) = loaded(s, &opts);
                    (s, status, Some(Arc::from(payload)))
                };
                self.smoke_test(scorer.as_mut(), self.config.features())
                    .map_err(model_err)?;
                Ok(Candidate::Model(scorer, status, bytes))
            }
        }
    }

    /// A delivered config, checked like the app's own plus what a live
    /// update cannot change.
    fn delivered_config(&self, m: &Manifest, payload: &[u8]) -> Result<Config, UpdateError> {
        let err = |why: String| UpdateError::Config {
            version: m.version.clone(),
            why,
        };
        let text = std::str::from_utf8(payload).map_err(|e| err(format!("not UTF-8: {e}")))?;
        let mut doc: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| err(format!("config JSON does not parse: {e}")))?;
        let obj = doc
            .as_object_mut()
            .ok_or_else(|| err("a config is a JSON object".into()))?;
        // What the server leaves out stays as it is: the feature spec, the
        // model section, or just the model's file (it lives on the device).
        if !obj.contains_key("features") {
            let spec =
                serde_json::to_value(self.config.features()).map_err(|e| err(e.to_string()))?;
            obj.insert("features".into(), spec);
        }
        if let Some(opts) = self.config.model() {
            let path = std::path::absolute(&opts.path).unwrap_or_else(|_| opts.path.clone());
            let path = serde_json::Value::String(path.display().to_string());
            match obj.get_mut("model") {
                None => {
                    let mut section = serde_json::to_value(opts).map_err(|e| err(e.to_string()))?;
                    section["path"] = path;
                    obj.insert("model".into(), section);
                }
                Some(serde_json::Value::Object(section)) if !section.contains_key("path") => {
                    section.insert("path".into(), path);
                }
                Some(_) => {}
            }
        }
        let shipped = &self.updates.shipped;
        let cfg = Config::from_json(
            &doc.to_string(),
            shipped.base_dir(),
            &format!("update {}", m.version),
        )
        .map_err(|e| err(e.to_string()))?;
        if cfg.updates().is_some_and(|u| Some(u) != shipped.updates()) {
            return Err(err(
                "a delivered config cannot change `updates`: the pinned keys and the package folder come with the app build"
                    .into(),
            ));
        }
        if cfg.ingest().channel_capacity != self.config.ingest().channel_capacity {
            return Err(err(
                "ingest.channel_capacity cannot change in a live update (the channel is in use); ship it with the app"
                    .into(),
            ));
        }
        cfg.with_updates(shipped.updates().cloned())
            .map_err(|e| err(e.to_string()))
    }

    /// Runs a window model once on the current features: a model that loads
    /// but cannot run is refused before it is swapped in.
    fn smoke_test(
        &self,
        scorer: Option<&mut Scorer>,
        spec: &crate::features::FeatureSpec,
    ) -> Result<(), String> {
        let Some(Scorer::Window(m)) = scorer else {
            return Ok(());
        };
        let now = self.clock.newest_ms().unwrap_or(0);
        // On a copy: the test run must not move the live state.
        let mut state = if spec.hash() == self.config.features().hash() {
            self.features.clone()
        } else {
            FeatureState::new(spec)
        };
        let mut feat = vec![0.0; state.len()];
        let mut seq = vec![0.0; state.sequence_len()];
        state.write(now, &mut feat);
        state.write_sequence(&mut seq);
        match m.score(&feat, &seq) {
            Ok(p) if p.is_finite() => Ok(()),
            Ok(p) => Err(format!("the model loads but scored {p} on a test run")),
            Err(e) => Err(format!("the model loads but fails to run: {e}")),
        }
    }

    /// Puts a checked config in force, carrying state over where its shape
    /// allows (everything is reset with `reset`).
    fn install_config(&mut self, cfg: Config, model: ModelChoice, reset: bool) {
        let (threshold, bucket) = cfg.policy().threshold_for(self.updates.user_id.as_deref());
        let mut gate = RefreshGate::new(cfg.policy(), threshold);
        if !reset {
            gate.carry_from(&self.gate);
        }
        self.gate = gate;
        self.bucket = bucket;
        if reset || cfg.triggers() != self.config.triggers() {
            self.triggers = Triggers::new(cfg.triggers());
        }
        if reset || cfg.geofence() != self.config.geofence() {
            self.geo = cfg.geofence().map(Geo::new);
        }
        if reset || cfg.dedup() != self.config.dedup() {
            let mut arbiter = SlotArbiter::new(cfg.dedup().clone());
            if !reset && arbiter.restore_state(self.arbiter.save_state()).is_err() {
                log::info!(target: "edgeintent", "the new dedup settings do not fit the current lists; they start empty");
                arbiter = SlotArbiter::new(cfg.dedup().clone());
            }
            self.arbiter = arbiter;
        }
        if reset || cfg.features().hash() != self.config.features().hash() {
            self.features = FeatureState::new(cfg.features());
            self.feature_buf = vec![0.0; self.features.len()].into_boxed_slice();
            self.seq_buf = vec![0.0; self.features.sequence_len()].into_boxed_slice();
        }
        if let ModelChoice::Replace(scorer, status) = model {
            self.model = scorer;
            self.model_status = status;
            self.last_model_error = None;
        }
        self.tick_ms = (cfg.policy().tick_interval_s * 1000.0).round() as i64;
        self.clock.set_bounds(
            cfg.ingest().max_clock_skew_ms,
            cfg.ingest().max_forward_jump_ms,
        );
        self.decision_capacity = cfg.ingest().decision_queue;
        self.decisions
            .reserve(self.decision_capacity.saturating_sub(self.decisions.len()));
        self.config = cfg;
    }
}

/// A loaded scorer, and the status that names its file.
fn loaded(s: Scorer, opts: &ModelOptions) -> (Option<Scorer>, ModelStatus) {
    (
        Some(s),
        ModelStatus::Loaded(opts.path.display().to_string()),
    )
}

/// The model a config names itself (none without a `model` section).
fn own_model(cfg: &Config) -> Result<(Option<Scorer>, ModelStatus), crate::model::ModelError> {
    match cfg.model() {
        None => Ok((None, ModelStatus::None)),
        Some(opts) => Ok(loaded(load_scorer(opts, cfg.features())?, opts)),
    }
}

/// The model options for a delivered model: the config's own (output,
/// inputs, checks), named after the update in messages.
fn update_options(cfg: &Config, version: &str) -> ModelOptions {
    let mut opts = cfg
        .model()
        .cloned()
        .unwrap_or_else(|| ModelOptions::for_path(""));
    opts.path = PathBuf::from(format!("update:{version}"));
    opts
}
