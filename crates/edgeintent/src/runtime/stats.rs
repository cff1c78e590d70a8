//! The runtime's observable counters.

use std::collections::BTreeMap;

use serde::Serialize;

use super::state::Runtime;
use super::types::ModelStatus;
use super::versions::UpdateStats;
use crate::decision::{Action, Reason, REASON_COUNT};
use crate::geo::GeoStats;

/// Observable counters (a snapshot; see [`Runtime::stats`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Events accepted by producers' `push`.
    pub events_pushed: u64,
    /// Events dropped because the channel was full.
    pub events_dropped_full: u64,
    /// JSON events refused by [`crate::Producer::push_json`] (bad JSON or values).
    pub events_invalid: u64,
    /// JSON events of an unknown `type`, skipped.
    pub events_unknown: u64,
    /// Events folded into the state.
    pub events_processed: u64,
    /// Events rejected (impossible values, clock skew), and ticks refused.
    pub events_rejected: u64,
    /// Events held now (0 or 1), waiting for the next event to confirm a
    /// jump: every pushed event is processed, rejected, unknown or held.
    pub events_held: u64,
    /// How the events' clock judged event times (far jumps held, outliers
    /// dropped, re-anchors).
    pub clock: ClockStats,
    /// Decision points reached (foreground, home views, ticks).
    pub decision_points: u64,
    /// Of those, periodic ticks.
    pub ticks: u64,
    /// Ticks skipped after a jump of more than an hour in event time.
    pub ticks_skipped: u64,
    /// Decision points skipped because of the cooldown.
    pub suppressed_by_cooldown: u64,
    /// Refreshes held back by the hourly budget.
    pub suppressed_by_budget: u64,
    /// Trigger matches ignored by their debounce window.
    pub triggers_debounced: u64,
    /// Stale marks received (notifications, dislikes, ...).
    pub stale_marks: u64,
    /// Stale marks folded into a refresh made for another reason.
    pub stale_marks_absorbed: u64,
    /// `recommendations` events refused because `dedup.max_slots` slots were taken.
    pub dedup_slots_refused: u64,
    /// Candidates dropped past `dedup.max_candidates` in one event.
    pub dedup_candidates_dropped: u64,
    /// Slot places that slots off screen for `dedup.window_s` gave to new slots.
    pub dedup_slots_recycled: u64,
    /// The score threshold in use.
    pub threshold: f32,
    /// The A/B bucket of the user, when buckets are configured and a user id given.
    pub bucket: Option<usize>,
    /// Model invocations.
    pub model_calls: u64,
    /// Model invocations that failed (the rules decided instead).
    pub model_errors: u64,
    /// The last model failure, if any.
    pub last_model_error: Option<String>,
    /// Decisions made.
    pub decisions: u64,
    /// Decisions dropped because nobody polled them.
    pub decisions_dropped: u64,
    /// Decisions by action name.
    pub decisions_by_action: BTreeMap<String, u64>,
    /// Decisions by reason text.
    pub decisions_by_reason: BTreeMap<String, u64>,
    /// Decision points timed (the sample behind the percentiles).
    pub decision_latency_samples: u64,
    /// Median time of the decision path (features → model → policy), ns.
    pub decision_latency_p50_ns: Option<u64>,
    /// 99th percentile of the same, ns.
    pub decision_latency_p99_ns: Option<u64>,
    /// The decision-path latency histogram: `[upper bound ns, count]` of each
    /// non-empty log-linear bucket (8 per power of two).
    pub decision_latency_histogram: Vec<[u64; 2]>,
    /// Decisions the rules made because the model was missing or failed.
    pub fallback_decisions: u64,
    /// Whether a model is in use.
    pub model: ModelStatus,
    /// Geofence counters, when geofencing is configured.
    pub geofence: Option<GeoStats>,
    /// Snapshots restored under another model than the one they were made
    /// under (their monitors started over).
    pub snapshots_under_other_model: u64,
    /// The config and model versions in force, roll-out arms, update counters.
    pub updates: UpdateStats,
    /// The monitors, their values and the live histograms (with `monitor.enabled`).
    pub monitor: Option<crate::monitor::MonitorStats>,
}

/// The events' clock's judgements (see [`Runtime::process`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClockStats {
    /// Events more than `ingest.max_forward_jump_ms` ahead, held for the next event.
    pub jumps_held: u64,
    /// Held events the next event showed to be outliers; dropped and counted
    /// in `events_rejected`.
    pub outliers_dropped: u64,
    /// Times a third refused event in a row re-anchored the clock to its time.
    pub reanchors: u64,
}

impl Runtime {
    /// Decision points held back by the cooldown and by the budget, without
    /// building the whole [`Stats`] (the timeline asks after every event).
    pub fn suppressed(&self) -> (u64, u64) {
        (
            self.counters.suppressed,
            self.gate.counters().suppressed_by_budget,
        )
    }

    /// A snapshot of every counter.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        let by_reason = (0..REASON_COUNT)
            .filter(|&i| c.by_reason[i] > 0)
            .filter_map(|i| Some((Reason::from_index(i)?.as_str().to_owned(), c.by_reason[i])))
            .collect();
        let by_action = Action::ALL
            .iter()
            .zip(c.by_action)
            .filter(|(_, n)| *n > 0)
            .map(|(a, n)| (a.name().to_owned(), n))
            .collect();
        Stats {
            events_pushed: self.ingest.pushed(),
            events_dropped_full: self.ingest.dropped_full(),
            events_invalid: self.ingest.invalid(),
            events_unknown: self.ingest.unknown(),
            events_processed: c.processed,
            // Outliers the clock dropped were accepted, then refused.
            events_rejected: c.rejected + self.clock.counters().outliers,
            events_held: u64::from(self.clock.holds()),
            clock: {
                let k = self.clock.counters();
                ClockStats {
                    jumps_held: k.held,
                    outliers_dropped: k.outliers,
                    reanchors: k.reanchors,
                }
            },
            decision_points: c.decision_points,
            ticks: c.ticks,
            ticks_skipped: c.ticks_skipped,
            suppressed_by_cooldown: self.suppressed().0,
            suppressed_by_budget: self.suppressed().1,
            triggers_debounced: self.triggers.debounced(),
            stale_marks: self.gate.counters().stale_marks,
            stale_marks_absorbed: self.gate.counters().marks_absorbed,
            dedup_slots_refused: self.arbiter.limited().0,
            dedup_candidates_dropped: self.arbiter.limited().1,
            dedup_slots_recycled: self.arbiter.recycled(),
            threshold: self.gate.threshold(),
            bucket: self.bucket,
            model_calls: c.model_calls,
            model_errors: c.model_errors,
            last_model_error: self.last_model_error.clone(),
            decisions: c.by_reason.iter().sum(),
            decisions_dropped: c.decisions_dropped,
            decisions_by_action: by_action,
            decisions_by_reason: by_reason,
            decision_latency_samples: self.latency.count(),
            decision_latency_p50_ns: self.latency.quantile(0.5),
            decision_latency_p99_ns: self.latency.quantile(0.99),
            decision_latency_histogram: self.latency.buckets(),
            fallback_decisions: (0..REASON_COUNT)
                .filter(|&i| matches!(Reason::from_index(i), Some(Reason::Fallback(_))))
                .map(|i| c.by_reason[i])
                .sum(),
            model: self.model_status.clone(),
            geofence: self.geo.as_ref().map(|g| g.stats()),
            snapshots_under_other_model: c.restored_under_other_model,
            updates: self.versions(),
            monitor: self.monitor.as_ref().map(|m| m.stats()),
        }
    }
}
