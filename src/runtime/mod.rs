//! The one public entry point: wires ingest → features → model → policy and
//! hands decisions to the host (poll or callback). The only module that knows
//! all the others. Per event and per decision it allocates nothing in steady
//! state; time comes from events (or `tick`), never from the clock.

use std::collections::VecDeque;
use std::time::Instant;

use crate::config::Config;
use crate::context::{Activity, ContextLog};
use crate::decision::{Action, Decision, Reason, REASON_COUNT};
use crate::dedup::SlotArbiter;
use crate::error::{Error, Misuse};
use crate::event::{Event, EventError, EventKind};
use crate::features::FeatureState;
use crate::geo::{Coverage, FenceZone, Geo, GeoEvent};
use crate::ingest::{Ingest, Producer};
use crate::metrics::LatencyHistogram;
use crate::model::Scorer;
use crate::monitor::{ModelCall, Monitor};
use crate::policy::{RefreshGate, Score};
use crate::triggers::{TriggerAction, Triggers};

use clock::Admit;

mod builder;
mod clock;
mod output;
mod persist;
mod stats;
mod update;
mod worker;

pub use builder::RuntimeBuilder;
pub use stats::{ClockStats, ModelStatus, Stats};
pub use update::{UpdateOutcome, UpdateStats, VersionInForce};
pub use worker::Worker;
pub(crate) use worker::WorkerClock;

/// Ticks further behind than this are skipped rather than run (see `run_ticks`).
const MAX_TICK_CATCHUP_MS: i64 = 3_600_000;

/// A moment at which the runtime considers refreshing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionPoint {
    /// The app came to the foreground.
    Foreground,
    /// The homepage was viewed.
    HomeView,
    /// A periodic tick while the homepage is shown.
    Tick,
}

impl DecisionPoint {
    /// Name used in featurized data.
    pub fn name(self) -> &'static str {
        match self {
            DecisionPoint::Foreground => "foreground",
            DecisionPoint::HomeView => "home_view",
            DecisionPoint::Tick => "tick",
        }
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

/// A callback receiving every decision as it is made.
pub type DecisionCallback = Box<dyn FnMut(&Decision) + Send>;
/// A crate-internal observer of feature rows at decision points (featurize).
/// Arguments: time, decision point, features, last-N event-type ids.
pub(crate) type RowSink = Box<dyn FnMut(i64, DecisionPoint, &[f32], &[f32]) + Send>;

#[derive(Debug, Clone, Default)]
struct Counters {
    processed: u64,
    rejected: u64,
    decision_points: u64,
    ticks: u64,
    suppressed: u64,
    model_calls: u64,
    model_errors: u64,
    decisions_dropped: u64,
    ticks_skipped: u64,
    restored_under_other_model: u64,
    by_reason: [u64; REASON_COUNT],
    by_action: [u64; Action::ALL.len()],
}

/// The on-device intent runtime for one user.
///
/// Feed it events (from any thread through a [`Producer`], then [`Runtime::pump`];
/// or directly with [`Runtime::process`]); take decisions with [`Runtime::poll`]
/// or a callback. See the crate docs for a full example.
pub struct Runtime {
    features: FeatureState,
    feature_buf: Box<[f32]>,
    seq_buf: Box<[f32]>,
    model: Option<Scorer>,
    model_status: ModelStatus,
    gate: RefreshGate,
    bucket: Option<usize>,
    triggers: Triggers,
    geo: Option<Geo>,
    arbiter: SlotArbiter,
    ingest: Ingest,
    decisions: VecDeque<Decision>,
    decision_capacity: usize,
    on_decision: Option<DecisionCallback>,
    row_sink: Option<RowSink>,
    tick_ms: i64,
    next_tick_ms: Option<i64>,
    clock: clock::EventClock,
    counters: Counters,
    latency: LatencyHistogram,
    last_model_error: Option<String>,
    activity: Activity,
    contexts: ContextLog,
    monitor: Option<Box<Monitor>>,
    updates: update::Updates,
    generation: u32,
    config: Config,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("model", &self.model_status)
            .field("newest_ms", &self.clock.newest_ms())
            .finish_non_exhaustive()
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
            let (model, status) = builder::load_model(&config, without_model)?;
            (config, model, status)
        };
        let parts = builder::Parts {
            on_decision: self.on_decision.take(),
            row_sink: self.row_sink.take(),
            ingest: Ingest::new(config.ingest().channel_capacity),
            user_id: user_id.map(str::to_owned),
            forced_arm,
            without_model,
        };
        *self = builder::assemble(config, model, status, parts);
        self.apply_stored_updates();
        Ok(())
    }

    /// The validated config in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A new handle for pushing events from any thread.
    pub fn producer(&self) -> Producer {
        self.ingest.producer()
    }

    /// Processes every event waiting in the channel; returns how many were taken.
    /// Rejected events are counted in [`Stats::events_rejected`]. With
    /// `context.enabled`, poll before 64 more refreshes are decided: the
    /// runtime keeps the contexts of the last 64 (the C ABI's
    /// `ei_poll_decision` processes the channel in batches for that reason).
    pub fn pump(&mut self) -> usize {
        let mut n = 0;
        while let Some(event) = self.ingest.try_recv() {
            let _ = self.process(event);
            n += 1;
        }
        n
    }

    /// Folds one event into the state and makes any decisions it causes.
    /// Periodic ticks due before the event run first.
    ///
    /// An event with impossible values, or older than the newest accepted one by
    /// more than `ingest.max_clock_skew_ms`, is rejected with an error and
    /// changes nothing. An event more than `ingest.max_forward_jump_ms` ahead
    /// is held (`Ok`) until the next event: one near it confirms the jump and
    /// both are processed; one back near the clock shows it an outlier, and it
    /// is dropped (counted as rejected). The third refused event in a row
    /// that agrees with the two before it on an earlier time re-anchors the
    /// clock there and is processed.
    pub fn process(&mut self, event: Event) -> Result<(), EventError> {
        if let Err(e) = event.validate() {
            return Err(self.rejected(e));
        }
        match self.clock.admit(event) {
            Admit::Now(e) => self.process_admitted(e),
            Admit::Held => {}
            Admit::Confirmed(held, e) => {
                self.process_admitted(held);
                self.process_admitted(e);
            }
            Admit::Behind(err) => return Err(self.rejected(err)),
            Admit::Reanchored { event, reset } => {
                if reset {
                    self.forget_times();
                }
                self.next_tick_ms = None;
                self.process_admitted(event);
            }
        }
        Ok(())
    }

    fn rejected(&mut self, e: EventError) -> EventError {
        self.counters.rejected += 1;
        if self.counters.rejected.is_power_of_two() {
            log::warn!(target: "edgeintent", "event rejected ({} so far): {e}", self.counters.rejected);
        }
        e
    }

    /// After the clock re-anchored far back: the timers, windows and
    /// debounces stamped under the old clock would hold their marks for as
    /// long as it was ahead, so they start over (learned content, fences and
    /// counters stay).
    fn forget_times(&mut self) {
        self.features = FeatureState::new(self.config.features());
        self.gate.forget_times();
        self.triggers = crate::triggers::Triggers::new(self.config.triggers());
        self.activity = Activity::default();
        self.monitor = monitor_for(&self.config, self.model.as_ref());
    }

    /// Processes an event the clock admitted.
    fn process_admitted(&mut self, event: Event) {
        // Within the allowed skew, time does not go backwards.
        let now = self.clock.advance(event.ts_ms);
        self.run_ticks(now);
        // The event's type, computed once for every component below.
        let ty = event.kind.event_type();
        self.features.update_typed(&event, ty, now);
        if self.config.context().enabled {
            self.activity.on_event(now, &event.kind);
        }
        if let Some(m) = self.monitor.as_mut() {
            m.on_event(now, ty, &event.kind);
            if m.has_alerts() {
                self.emit_alerts(now);
            }
        }
        self.counters.processed += 1;
        #[cfg(feature = "tract")]
        if let Some(Scorer::Stepped(m)) = self.model.as_mut() {
            // One step per event; decision points then read the carried score.
            self.counters.model_calls += 1;
            if let Err(e) = m.step(ty.sequence_id()) {
                self.counters.model_errors += 1;
                if self.counters.model_errors.is_power_of_two() {
                    log::warn!(target: "edgeintent", "model step failed ({} so far), deciding by rules: {e}", self.counters.model_errors);
                }
                self.last_model_error = Some(e.to_string());
            }
        }
        if let Some(fired) = self.triggers.fire(now, ty, &event.kind) {
            match fired.action {
                TriggerAction::Refresh => {
                    let d = self.gate.trigger(now, fired.ty);
                    self.features.note_refresh(now);
                    self.emit(d);
                }
                TriggerAction::MarkStale => {
                    self.gate
                        .mark_stale(now, fired.ty, fired.not_before_ms, None)
                }
                TriggerAction::RefreshSlot => {
                    let slot = match &event.kind {
                        EventKind::Feedback { item, .. } | EventKind::Click { item, .. } => {
                            self.arbiter.slot_showing(item)
                        }
                        _ => None,
                    };
                    self.gate
                        .mark_stale(now, fired.ty, fired.not_before_ms, slot)
                }
            }
        }
        match &event.kind {
            EventKind::AppForeground => {
                self.gate.session_start();
                self.decision_point(now, DecisionPoint::Foreground)
            }
            EventKind::PageView { page } if page == "home" => {
                self.decision_point(now, DecisionPoint::HomeView)
            }
            _ => {}
        }
        if !self.features.home_visible() {
            self.next_tick_ms = None;
        }
        match event.kind {
            EventKind::Recommendations { slot, items } => {
                if !self.arbiter.recommendations(now, &slot, items) {
                    log::debug!(target: "edgeintent", "recommendations for slot {slot:?} refused: the slot table is full (dedup.max_slots)");
                    return; // slot table full: refused and counted
                }
                // The slot that received the list first, then any that lost an entity to it.
                let own = self.arbiter.slot_id(&slot);
                let others = (0..self.arbiter.slot_count()).filter(|&id| Some(id) != own);
                for id in own.into_iter().chain(others) {
                    if Some(id) != own && !self.arbiter.is_changed(id) {
                        continue;
                    }
                    self.emit(Decision {
                        slot: Some(id),
                        ..Decision::new(now, Action::Show, Reason::Dedup)
                    });
                }
            }
            EventKind::Exposure { slot, items } => self.arbiter.exposed(&slot, &items),
            EventKind::Location {
                lat,
                lon,
                accuracy_m,
                speed_mps,
            } => self.location_fix(now, lat, lon, accuracy_m, speed_mps),
            EventKind::Click { slot, item } => {
                self.arbiter.exposed(&slot, std::slice::from_ref(&item))
            }
            _ => {}
        }
    }

    fn location_fix(&mut self, now: i64, lat: f64, lon: f64, acc: f64, speed: Option<f64>) {
        // Taken out for the call so its events can go through `emit`.
        let Some(mut geo) = self.geo.take() else {
            return;
        };
        geo.on_fix(now, lat, lon, acc, speed, |e| {
            let (action, reason, fence, interval_s) = match e {
                GeoEvent::Enter(i) => (Action::FetchCard, Reason::GeofenceEnter, Some(i), None),
                GeoEvent::Exit(i) => (Action::ReclaimCard, Reason::GeofenceExit, Some(i), None),
                GeoEvent::CoverageExit => {
                    (Action::RequestCoverage, Reason::CoverageExit, None, None)
                }
                GeoEvent::Interval(s) => {
                    (Action::SetLocationInterval, Reason::Sampling, None, Some(s))
                }
            };
            self.emit(Decision {
                fence,
                interval_s,
                ..Decision::new(now, action, reason)
            });
        });
        self.geo = Some(geo);
    }

    /// Installs a new coverage circle from the server (after a
    /// `request_coverage` decision). An error leaves the old one in place.
    pub fn set_coverage(&mut self, lat: f64, lon: f64, radius_m: f64) -> Result<(), Error> {
        let geo = self.geo.as_mut().ok_or(Misuse::NoGeofence)?;
        Ok(geo.set_coverage(Coverage { lat, lon, radius_m })?)
    }

    /// The coverage circle in use (`None` without geofencing or before the first).
    pub fn coverage(&self) -> Option<Coverage> {
        self.geo.as_ref().and_then(Geo::coverage)
    }

    /// Whether a `request_coverage` decision is waiting for [`Runtime::set_coverage`].
    pub fn coverage_requested(&self) -> bool {
        self.geo.as_ref().is_some_and(Geo::coverage_requested)
    }

    /// Seconds until the next location fix is wanted (`None` without geofencing).
    pub fn location_interval_s(&self) -> Option<f64> {
        self.geo.as_ref().map(Geo::interval_s)
    }

    /// Where the device is relative to a fence, by id.
    pub fn fence_zone(&self, id: &str) -> Option<FenceZone> {
        self.geo.as_ref()?.zone_of(id)
    }

    /// Every fence not outside, with its zone (index order), for offline views.
    #[cfg(feature = "offline")]
    pub(crate) fn fences_not_outside(&self) -> Vec<(String, FenceZone)> {
        let Some(geo) = self.geo.as_ref() else {
            return Vec::new();
        };
        (0..)
            .map_while(|i| geo.zone(i).map(|z| (i, z)))
            .filter(|(_, z)| *z != FenceZone::Outside)
            .map(|(i, z)| (geo.fence_id(i).to_owned(), z))
            .collect()
    }

    /// The items a slot shows now, after de-duplication.
    pub fn shown(&self, slot: &str) -> impl Iterator<Item = &str> {
        self.arbiter.shown(slot)
    }

    /// Advances time to `now_ms` without an event, running the periodic ticks due
    /// by then. Hosts call it when [`Runtime::next_wakeup_ms`] comes due. A
    /// time before the newest event does nothing; one further ahead of it
    /// than `ingest.max_forward_jump_ms` is refused and changes nothing
    /// (unless it confirms an event held as such a jump, which is processed).
    pub fn tick(&mut self, now_ms: i64) -> Result<(), EventError> {
        match self.clock.tick(now_ms) {
            Ok(Some(held)) => self.process_admitted(held),
            Ok(None) => {}
            Err(e) => return Err(self.rejected(e)),
        }
        if self.clock.newest_ms().is_some_and(|n| now_ms < n) {
            return Ok(());
        }
        self.clock.advance(now_ms);
        self.run_ticks(now_ms);
        Ok(())
    }

    /// When the runtime next wants [`Runtime::tick`] called (ms, event clock).
    pub fn next_wakeup_ms(&self) -> Option<i64> {
        self.next_tick_ms
    }

    fn run_ticks(&mut self, now_ms: i64) {
        // A clock jump (or a far-future timestamp) must not replay millions of
        // ticks: only the last hour of missed ticks is run, the rest skipped.
        if let Some(t) = self
            .next_tick_ms
            .filter(|&t| now_ms.saturating_sub(t) > MAX_TICK_CATCHUP_MS)
        {
            let skip = (now_ms.saturating_sub(t) - MAX_TICK_CATCHUP_MS) / self.tick_ms.max(1);
            self.counters.ticks_skipped += skip as u64;
            log::info!(target: "edgeintent", "clock jumped {} ms ahead: {skip} ticks skipped", now_ms.saturating_sub(t));
            self.next_tick_ms = Some(t.saturating_add(skip.saturating_mul(self.tick_ms.max(1))));
        }
        while let Some(t) = self.next_tick_ms {
            if t > now_ms || !self.features.home_visible() {
                break;
            }
            self.counters.ticks += 1;
            self.decision_point(t, DecisionPoint::Tick);
            // Time only moves forward: a tick that did not advance the next
            // one (saturated arithmetic) must not run again.
            if self.next_tick_ms.is_some_and(|n| n <= t) {
                self.next_tick_ms = None;
            }
        }
    }

    fn decision_point(&mut self, now_ms: i64, point: DecisionPoint) {
        let started = Instant::now();
        self.counters.decision_points += 1;
        if let Some(sink) = self.row_sink.as_mut() {
            self.features.write(now_ms, &mut self.feature_buf);
            self.features.write_sequence(&mut self.seq_buf);
            sink(now_ms, point, &self.feature_buf, &self.seq_buf);
        }
        if self.gate.cooling_down(now_ms) {
            self.counters.suppressed += 1;
        }
        // Disjoint field borrows: the gate asks for a score only when it matters.
        let features = &mut self.features;
        let feature_buf = &mut self.feature_buf;
        let seq_buf = &mut self.seq_buf;
        let model = &mut self.model;
        let counters = &mut self.counters;
        let last_error = &mut self.last_model_error;
        let visible = point != DecisionPoint::Tick;
        let set_aside = self.monitor.as_ref().is_some_and(|m| m.model_set_aside());
        let mut call = ModelCall::Skipped;
        let mut observed = None;
        let decision = self.gate.decide(now_ms, visible, || {
            let s = Self::score_now(
                model,
                features,
                feature_buf,
                seq_buf,
                counters,
                last_error,
                now_ms,
            );
            (call, observed) = match s {
                Score::Value(p) => (ModelCall::Ran, Some(p)),
                Score::Failed => (ModelCall::Failed, None),
                _ => (ModelCall::Skipped, None),
            };
            // Set aside, the model still runs, so its monitors can see it recover.
            if set_aside && s != Score::NoModel {
                Score::SetAside
            } else {
                s
            }
        });
        if let Some(d) = decision {
            if d.slot.is_none() {
                self.features.note_refresh(now_ms);
            }
            self.emit(d);
        }
        self.next_tick_ms = (self.tick_ms > 0 && self.features.home_visible())
            .then(|| now_ms.saturating_add(self.tick_ms));
        let elapsed = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.latency.record(elapsed);
        if let Some(m) = self.monitor.as_mut() {
            // The score's reference covers every decision point, so the
            // monitor scores the ones the gate did not ask about (a window
            // model; a stepped one carries its score anyway).
            if call == ModelCall::Skipped {
                match Self::score_now(
                    &mut self.model,
                    &mut self.features,
                    &mut self.feature_buf,
                    &mut self.seq_buf,
                    &mut self.counters,
                    &mut self.last_model_error,
                    now_ms,
                ) {
                    Score::Value(p) => (call, observed) = (ModelCall::Ran, Some(p)),
                    Score::Failed => call = ModelCall::Failed,
                    _ => {}
                }
            }
            // A window model's scoring wrote the features as of now, before
            // any refresh bookkeeping (as training rows are cut): reuse them.
            if !matches!(self.model, Some(Scorer::Window(_))) {
                self.features.write(now_ms, &mut self.feature_buf);
            }
            m.on_decision_point(now_ms, &self.feature_buf, observed, elapsed, call);
            self.emit_alerts(now_ms);
        }
    }

    /// The model's score now: a window model runs on the current features, a
    /// stepped one reports the score it carries.
    fn score_now(
        model: &mut Option<Scorer>,
        features: &mut FeatureState,
        feature_buf: &mut [f32],
        seq_buf: &mut [f32],
        counters: &mut Counters,
        last_error: &mut Option<String>,
        now_ms: i64,
    ) -> Score {
        let model = match model.as_mut() {
            None => return Score::NoModel,
            #[cfg(feature = "tract")]
            Some(Scorer::Stepped(m)) => {
                return m.last_score().map_or(Score::Failed, Score::Value);
            }
            Some(Scorer::Window(m)) => m,
        };
        features.write(now_ms, feature_buf);
        features.write_sequence(seq_buf);
        counters.model_calls += 1;
        match model.score(feature_buf, seq_buf) {
            Ok(p) => Score::Value(p),
            Err(e) => {
                counters.model_errors += 1;
                if counters.model_errors.is_power_of_two() {
                    log::warn!(target: "edgeintent", "model failed ({} so far), deciding by rules: {e}", counters.model_errors);
                }
                // Allocates only on failure, which is not the steady state.
                *last_error = Some(e.to_string());
                Score::Failed
            }
        }
    }

    /// Turns the monitors' new alerts into `alert` decisions.
    fn emit_alerts(&mut self, now_ms: i64) {
        let Some(mut m) = self.monitor.take() else {
            return;
        };
        while let Some(a) = m.next_alert() {
            log::warn!(target: "edgeintent", "monitor alert: {}:{} = {} (threshold {})", a.kind.reason(), m.name(a.monitor), a.value, a.threshold);
            self.emit(Decision {
                alert: Some(crate::decision::AlertDetail {
                    monitor: a.monitor,
                    value: a.value,
                    threshold: a.threshold,
                }),
                ..Decision::new(now_ms, Action::Alert, Reason::Monitor(a.kind))
            });
        }
        self.monitor = Some(m);
    }

    fn emit(&mut self, mut d: Decision) {
        d.generation = self.generation;
        if d.action == Action::Refresh {
            if let Some(m) = self.monitor.as_mut() {
                m.on_refresh(d.ts_ms);
            }
            if self.config.context().enabled {
                d.context = Some(
                    self.contexts
                        .record(d.ts_ms, d.reason, d.score, &self.activity),
                );
                if d.slot.is_none() {
                    self.activity.note_refresh(d.ts_ms);
                }
            }
        }
        self.counters.by_reason[d.reason.index()] += 1;
        self.counters.by_action[Action::ALL.iter().position(|a| *a == d.action).unwrap_or(0)] += 1;
        if let Some(cb) = self.on_decision.as_mut() {
            cb(&d);
            return;
        }
        // `>=`: a live update may have lowered the capacity.
        while self.decisions.len() >= self.decision_capacity {
            self.decisions.pop_front();
            self.counters.decisions_dropped += 1;
            if self.counters.decisions_dropped.is_power_of_two() {
                log::warn!(target: "edgeintent", "decision queue full ({} decisions dropped so far): poll more often or raise ingest.decision_queue", self.counters.decisions_dropped);
            }
        }
        self.decisions.push_back(d);
    }

    /// Takes the oldest decision not yet taken.
    pub fn poll(&mut self) -> Option<Decision> {
        self.decisions.pop_front()
    }

    /// Decisions waiting for [`Runtime::poll`].
    pub(crate) fn queued_decisions(&self) -> usize {
        self.decisions.len()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureSpec;
    use crate::policy::PolicyConfig;

    fn config() -> Config {
        let spec = FeatureSpec::from_json(
            r#"{"version":"t","features":[{"name":"v","kind":"home_visible"},{"name":"r","kind":"since_refresh"}]}"#,
        )
        .unwrap();
        Config::rules_only(spec)
            .with_policy(PolicyConfig {
                cooldown_s: 10.0,
                tick_interval_s: 30.0,
                fallback_interval_s: 60.0,
                max_staleness_s: 600.0,
                threshold: 0.5,
                ..PolicyConfig::default()
            })
            .unwrap()
    }

    fn ev(ts_ms: i64, kind: EventKind) -> Event {
        Event { ts_ms, kind }
    }

    fn home() -> EventKind {
        EventKind::PageView {
            page: "home".into(),
        }
    }

    fn drain(rt: &mut Runtime) -> Vec<(i64, &'static str)> {
        std::iter::from_fn(|| rt.poll())
            .map(|d| (d.ts_ms, d.reason.as_str()))
            .collect()
    }

    #[test]
    fn rules_refresh_on_staleness_then_fallback_ticks_while_home_is_shown() {
        let mut rt = Runtime::builder().config(config()).build().unwrap();
        rt.process(ev(0, EventKind::AppForeground)).unwrap();
        rt.process(ev(1_000, home())).unwrap();
        // Ticks at 31 s, 61 s (fallback due: 61 s since refresh at 0), 91 s, 121 s.
        rt.process(ev(125_000, EventKind::Search { query_len: None }))
            .unwrap();
        assert_eq!(
            drain(&mut rt),
            vec![
                (0, "staleness"),
                (61_000, "fallback:no_model"),
                (121_000, "fallback:no_model")
            ]
        );
        let s = rt.stats();
        assert_eq!(s.ticks, 4);
        assert_eq!(s.decision_points, 6);
        assert_eq!(s.model, ModelStatus::None);
    }

    #[test]
    fn no_ticks_while_the_homepage_is_hidden() {
        let mut rt = Runtime::builder().config(config()).build().unwrap();
        rt.process(ev(0, EventKind::AppForeground)).unwrap();
        rt.process(ev(
            1_000,
            EventKind::PageView {
                page: "orders".into(),
            },
        ))
        .unwrap();
        rt.process(ev(500_000, EventKind::Search { query_len: None }))
            .unwrap();
        assert_eq!(rt.stats().ticks, 0);
        assert_eq!(rt.next_wakeup_ms(), None);
        rt.process(ev(500_500, EventKind::AppBackground)).unwrap();
        rt.process(ev(900_000, EventKind::AppForeground)).unwrap();
        assert_eq!(rt.stats().ticks, 0, "resumed on a non-home page");
    }

    #[test]
    fn pull_to_refresh_always_refreshes() {
        let mut rt = Runtime::builder().config(config()).build().unwrap();
        rt.process(ev(0, EventKind::AppForeground)).unwrap();
        rt.process(ev(
            500,
            EventKind::PullToRefresh {
                page: "home".into(),
            },
        ))
        .unwrap();
        assert_eq!(
            drain(&mut rt),
            vec![(0, "staleness"), (500, "trigger:pull_to_refresh")]
        );
        assert_eq!(rt.last_refresh_ms(), Some(500));
    }

    #[test]
    fn events_beyond_the_clock_skew_are_rejected_and_change_nothing() {
        let mut rt = Runtime::builder().config(config()).build().unwrap();
        rt.process(ev(100_000, EventKind::AppForeground)).unwrap();
        rt.process(ev(97_000, home())).unwrap();
        let err = rt
            .process(ev(50_000, EventKind::AppBackground))
            .unwrap_err();
        assert!(matches!(
            err,
            EventError::ClockSkew {
                behind_ms: 50_000,
                ..
            }
        ));
        let bad = ev(
            100_000,
            EventKind::Scroll {
                page: "home".into(),
                dy_px: f64::INFINITY,
            },
        );
        assert!(rt.process(bad).is_err());
        let s = rt.stats();
        assert_eq!((s.events_processed, s.events_rejected), (2, 2));
        assert_eq!(rt.next_wakeup_ms(), Some(130_000), "still on home");
    }

    #[test]
    fn pushed_events_are_processed_by_pump() {
        let mut rt = Runtime::builder().config(config()).build().unwrap();
        let p = rt.producer();
        p.push(ev(0, EventKind::AppForeground)).unwrap();
        p.push(ev(1, home())).unwrap();
        assert_eq!(rt.pump(), 2);
        let s = rt.stats();
        assert_eq!(
            (s.events_pushed, s.events_processed, s.decisions),
            (2, 2, 1)
        );
    }

    #[test]
    fn worker_delivers_decisions_through_the_callback() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let rt = Runtime::builder()
            .config(config())
            .on_decision(move |d| {
                let _ = tx.send(*d);
            })
            .build()
            .unwrap();
        let worker = rt.spawn_worker().unwrap();
        let p = worker.producer();
        p.push(ev(0, EventKind::AppForeground)).unwrap();
        p.push(ev(
            5,
            EventKind::PullToRefresh {
                page: "home".into(),
            },
        ))
        .unwrap();
        let rt = worker.stop().unwrap();
        assert_eq!(rt.stats().events_processed, 2);
        let reasons: Vec<_> = rx.try_iter().map(|d| d.reason.as_str()).collect();
        assert_eq!(reasons, ["staleness", "trigger:pull_to_refresh"]);
    }

    #[test]
    fn a_clock_jump_runs_at_most_an_hour_of_ticks() {
        let mut rt = Runtime::builder().config(config()).build().unwrap();
        rt.process(ev(0, EventKind::AppForeground)).unwrap();
        rt.process(ev(1_000, home())).unwrap();
        let year = 365 * 86_400_000;
        rt.process(ev(year, EventKind::Search { query_len: None }))
            .unwrap();
        assert_eq!(rt.stats().clock.jumps_held, 1, "held until confirmed");
        assert_eq!(rt.stats().ticks, 0);
        rt.process(ev(year + 1, EventKind::Search { query_len: None }))
            .unwrap();
        let s = rt.stats();
        assert!(s.ticks <= 121, "{}", s.ticks);
        assert!(s.ticks_skipped > 1_000_000, "{}", s.ticks_skipped);
        assert_eq!(rt.next_wakeup_ms().map(|t| t > year - 30_000), Some(true));
    }

    #[test]
    fn a_far_future_outlier_neither_silences_the_runtime_nor_survives_a_snapshot() {
        let mut rt = Runtime::builder().config(config()).build().unwrap();
        rt.process(ev(0, EventKind::AppForeground)).unwrap();
        rt.process(ev(1_000, home())).unwrap();
        let y2199 = 7_226_582_400_000;
        rt.process(ev(y2199, EventKind::AppBackground)).unwrap();
        let snap = rt.snapshot().unwrap();
        rt.process(ev(
            2_000,
            EventKind::PullToRefresh {
                page: "home".into(),
            },
        ))
        .unwrap();
        assert_eq!(rt.stats().clock.outliers_dropped, 1);
        assert_eq!(rt.last_refresh_ms(), Some(2_000));
        assert!(matches!(rt.tick(y2199), Err(EventError::ClockJump { .. })));
        // The snapshot taken while the outlier was held never saw it.
        let mut back = Runtime::builder().config(config()).build().unwrap();
        back.restore(&snap).unwrap();
        back.process(ev(
            3_000,
            EventKind::PullToRefresh {
                page: "home".into(),
            },
        ))
        .unwrap();
        assert_eq!(back.last_refresh_ms(), Some(3_000));
    }

    #[test]
    fn a_clock_trusted_far_ahead_re_anchors_after_three_agreeing_events() {
        let mut rt = Runtime::builder().config(config()).build().unwrap();
        let y2199 = 7_226_582_400_000;
        // The first event is trusted as it comes: nothing to compare it with.
        rt.process(ev(y2199, EventKind::AppForeground)).unwrap();
        for t in [10_000, 11_000] {
            assert!(rt
                .process(ev(t, EventKind::Search { query_len: None }))
                .is_err());
        }
        rt.process(ev(
            12_000,
            EventKind::PullToRefresh {
                page: "home".into(),
            },
        ))
        .unwrap();
        let s = rt.stats();
        assert_eq!((s.clock.reanchors, s.events_rejected), (1, 2));
        assert_eq!(rt.last_refresh_ms(), Some(12_000), "timers started over");
        rt.process(ev(13_000, home())).unwrap();
        assert_eq!(rt.stats().events_processed, 3);
    }

    #[test]
    fn worker_without_callback_is_a_usage_error() {
        let rt = Runtime::builder().config(config()).build().unwrap();
        assert!(matches!(
            rt.spawn_worker(),
            Err(Error::Misuse(crate::error::Misuse::WorkerWithoutCallback))
        ));
    }

    #[test]
    fn a_config_changed_in_code_is_checked_like_a_file() {
        let bad = PolicyConfig {
            threshold: 1.5,
            ..config().policy().clone()
        };
        let err = config().with_policy(bad).unwrap_err();
        assert!(err.to_string().contains("policy.threshold"), "{err}");
    }
}
