//! Decisions out: every decision gets its generation and, for a refresh,
//! its context for the cloud; it goes to the callback or the bounded queue
//! that `poll` drains. Monitor alerts become `alert` decisions here.

use super::state::Runtime;
use crate::decision::{Action, AlertDetail, Decision, Reason};

impl Runtime {
    /// Turns the monitors' new alerts into `alert` decisions.
    pub(super) fn emit_alerts(&mut self, now_ms: i64) {
        let Some(mut m) = self.monitor.take() else {
            return;
        };
        while let Some(a) = m.next_alert() {
            log::warn!(target: "edgeintent", "monitor alert: {}:{} = {} (threshold {})", a.kind.reason(), m.name(a.monitor), a.value, a.threshold);
            self.emit(Decision {
                alert: Some(AlertDetail {
                    monitor: a.monitor,
                    value: a.value,
                    threshold: a.threshold,
                }),
                ..Decision::new(now_ms, Action::Alert, Reason::Monitor(a.kind))
            });
        }
        self.monitor = Some(m);
    }

    pub(super) fn emit(&mut self, mut d: Decision) {
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
    pub fn queued_decisions(&self) -> usize {
        self.decisions.len()
    }
}
