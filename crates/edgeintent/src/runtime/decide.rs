//! Decision points, in one direction: write the features, ask the gate
//! whether a score can change the answer now (cooldown, staleness), score
//! only then (or when an observer or the monitors want every point), let
//! the gate decide, emit; then the observers (the monitors, a decision-point
//! observer) read one record of what was decided. The gate never calls back.

use std::time::Instant;

use super::state::Runtime;
use super::types::{DecisionPoint, PointRecord};
use crate::model::Scorer;
use crate::monitor::ModelCall;
use crate::policy::Score;

impl Runtime {
    pub(super) fn decision_point(&mut self, now_ms: i64, point: DecisionPoint) {
        let started = Instant::now();
        self.counters.decision_points += 1;
        if self.gate.cooling_down(now_ms) {
            self.counters.suppressed += 1;
        }
        let visible = point != DecisionPoint::Tick;
        // Can a score change the answer now? Observers see every point.
        let wanted = self.gate.wants_score(now_ms);
        let observed = self.observer.is_some() || self.monitor.is_some();
        // The features as of now, before any refresh bookkeeping (as training
        // rows are cut).
        if wanted || observed {
            self.features.write(now_ms, &mut self.feature_buf);
            self.features.write_sequence(&mut self.seq_buf);
        }
        let (score, call) = if wanted || observed {
            self.score_now()
        } else {
            (Score::NotAsked, ModelCall::Skipped)
        };
        // Set aside by a monitor, the model still runs, so its monitors can
        // see it recover; the gate decides by the rules meanwhile.
        let set_aside = self.monitor.as_ref().is_some_and(|m| m.model_set_aside());
        let for_gate = match score {
            _ if !wanted => Score::NotAsked,
            Score::NoModel => Score::NoModel,
            _ if set_aside => Score::SetAside,
            s => s,
        };
        if let Some(d) = self.gate.decide(now_ms, visible, for_gate) {
            if d.slot.is_none() {
                self.features.note_refresh(now_ms);
            }
            self.emit(d);
        }
        self.next_tick_ms = (self.tick_ms > 0 && self.features.home_visible())
            .then(|| now_ms.saturating_add(self.tick_ms));
        let elapsed = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.latency.record(elapsed);
        // The observers, after the decision.
        let value = match score {
            Score::Value(p) => Some(p),
            _ => None,
        };
        if let Some(observer) = self.observer.as_mut() {
            observer(&PointRecord {
                ts_ms: now_ms,
                point,
                features: &self.feature_buf,
                sequence: &self.seq_buf,
                score: value,
            });
        }
        if let Some(m) = self.monitor.as_mut() {
            m.on_decision_point(now_ms, &self.feature_buf, value, elapsed, call);
            self.emit_alerts(now_ms);
        }
    }

    /// The model's score on the features written for this point: a window
    /// model runs on them, a stepped one reports the score it carries.
    fn score_now(&mut self) -> (Score, ModelCall) {
        let model = match self.model.as_mut() {
            None => return (Score::NoModel, ModelCall::Skipped),
            #[cfg(feature = "tract")]
            Some(Scorer::Stepped(m)) => {
                return match m.last_score() {
                    Some(p) => (Score::Value(p), ModelCall::Ran),
                    None => (Score::Failed, ModelCall::Failed),
                };
            }
            Some(Scorer::Window(m)) => m,
        };
        self.counters.model_calls += 1;
        match model.score(&self.feature_buf, &self.seq_buf) {
            Ok(p) => (Score::Value(p), ModelCall::Ran),
            Err(e) => {
                self.counters.model_errors += 1;
                if self.counters.model_errors.is_power_of_two() {
                    log::warn!(target: "edgeintent", "model failed ({} so far), deciding by rules: {e}", self.counters.model_errors);
                }
                // Allocates only on failure, which is not the steady state.
                self.last_model_error = Some(e.to_string());
                (Score::Failed, ModelCall::Failed)
            }
        }
    }
}
