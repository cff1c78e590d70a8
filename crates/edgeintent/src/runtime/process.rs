//! Events in: each event is checked against the events' clock, folded into
//! the features, stepped through a recurrent model, matched against the
//! triggers, and handed to the decision points, the fences and the de-dup
//! arbiter it concerns. Ticks run as time passes.

use super::clock::Admit;
use super::state::Runtime;
use super::types::DecisionPoint;
use crate::context::Activity;
use crate::decision::{Action, Decision, Reason};
use crate::error::{Error, Misuse};
use crate::event::{Event, EventError, EventKind};
use crate::features::FeatureState;
use crate::geo::{Coverage, FenceZone, Geo, GeoEvent};
#[cfg(feature = "tract")]
use crate::model::Scorer;
use crate::triggers::{TriggerAction, Triggers};

/// Ticks further behind than this are skipped rather than run (see `run_ticks`).
const MAX_TICK_CATCHUP_MS: i64 = 3_600_000;

impl Runtime {
    /// Processes every event waiting in the channel; returns how many were taken.
    /// Rejected events are counted in [`crate::Stats::events_rejected`]. With
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
        self.triggers = Triggers::new(self.config.triggers());
        self.activity = Activity::default();
        self.monitor = super::state::monitor_for(&self.config, self.model.as_ref());
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

    /// Every fence the device is not outside of, with its zone (index order).
    pub fn fences_not_outside(&self) -> Vec<(String, FenceZone)> {
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
}
