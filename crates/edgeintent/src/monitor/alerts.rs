//! Alerts: judging a monitor's value against its threshold with recovery,
//! the alerts waiting to be emitted, whether the model is set aside, and
//! the monitors' report.

use super::profile::MAX_BINS;
use super::report::{Alert, LiveHistogram, MonitorState, MonitorStats, ProfileDistance};
use super::state::*;
use crate::event::EventType;

impl Monitor {
    /// The name of monitor `i` (a feature, `score`, an event type, ...).
    pub(crate) fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("?", String::as_str)
    }

    /// Alerts raised since the last call, oldest first.
    #[cfg(test)]
    pub(crate) fn take_alerts(&mut self) -> impl Iterator<Item = Alert> + '_ {
        self.fired.iter_mut().filter_map(Option::take)
    }

    /// Whether an alert waits to be taken.
    pub(crate) fn has_alerts(&self) -> bool {
        self.fired.iter().any(Option::is_some)
    }

    /// The oldest alert not yet taken.
    pub(crate) fn next_alert(&mut self) -> Option<Alert> {
        self.fired.iter_mut().find_map(Option::take)
    }

    /// Whether an alert of a fallback kind stands: the model is set aside.
    pub(crate) fn model_set_aside(&self) -> bool {
        self.alerting_fallback > 0
    }

    /// Sets monitor `i`'s alerting flag, keeping the derived counts.
    pub(super) fn set_alerting(&mut self, i: usize, on: bool) {
        if self.s.flags[i].alerting != on {
            self.s.flags[i].alerting = on;
            self.count_alerting();
        }
    }

    /// Recounts the alerting monitors that set the model aside, and the
    /// alerting range monitors (after a change or a restore: both rare).
    pub(super) fn count_alerting(&mut self) {
        let f = self.cols - 1;
        let r0 = ranges_start(f);
        let alerting = || {
            self.s
                .flags
                .iter()
                .enumerate()
                .filter(|(_, fl)| fl.alerting)
        };
        self.alerting_fallback = alerting()
            .filter(|(i, _)| self.cfg.fallback.contains(&kind_of(*i, f)))
            .count() as u32;
        self.alerting_ranges = alerting().filter(|(i, _)| (r0..r0 + f).contains(i)).count() as u32;
    }

    /// Judges monitor `i` at `value` against `threshold`; `above`: alert when
    /// the value is above (else below) the threshold.
    pub(super) fn judge(&mut self, i: usize, value: f64, threshold: f64, above: bool) {
        let f = self.cols - 1;
        let alerting = self.s.flags[i].alerting;
        self.s.flags[i].value = Some(value);
        let crossed = if above {
            value >= threshold
        } else {
            value < threshold
        };
        let recovered = if above {
            value < threshold * self.cfg.recover
        } else {
            // Below-threshold monitors recover at the threshold divided by the margin.
            value > threshold / self.cfg.recover.max(1e-9)
        };
        if !alerting && crossed {
            self.s.flags[i].alerts += 1;
            self.set_alerting(i, true);
            let alert = Alert {
                kind: kind_of(i, f),
                monitor: i as u32,
                value: value as f32,
                threshold: threshold as f32,
            };
            if let Some(slot) = self.fired.iter_mut().find(|s| s.is_none()) {
                *slot = Some(alert);
            }
        } else if alerting && recovered {
            self.set_alerting(i, false);
        }
    }

    pub(super) fn threshold(&self, i: usize) -> f64 {
        self.thresholds[i]
    }

    /// The monitors for stats.
    pub(crate) fn stats(&self) -> MonitorStats {
        let f = self.cols - 1;
        let monitors = (0..self.s.flags.len())
            .filter(|&i| self.judged[i])
            .map(|i| {
                let kind = kind_of(i, f);
                let g0 = gaps_start(f);
                let (_, e0, ..) = layout(f);
                let r0 = ranges_start(f);
                let value = if (g0..g0 + EventType::ALL.len()).contains(&i) {
                    Some((self.s.seen - self.s.last_of[i - g0]) as f64)
                } else if (r0..r0 + f).contains(&i) {
                    Some(f64::from(self.s.runs[i - r0]))
                } else if (e0..e0 + EventType::ALL.len()).contains(&i) {
                    let n = self.s.events.len();
                    self.reference
                        .as_ref()
                        .filter(|_| self.s.ev_len == n)
                        .map(|r| f64::from(self.ev_counts[i - e0]) / n as f64 / r.events[i - e0])
                } else {
                    self.s.flags[i].value
                };
                MonitorState {
                    reason: format!("{}:{}", kind.reason(), self.names[i]),
                    value,
                    threshold: self.threshold(i),
                    alerting: self.s.flags[i].alerting,
                    alerts: self.s.flags[i].alerts,
                    held: self.s.flags[i].held,
                    own_value: self.s.flags[i].own,
                }
            })
            .collect();
        let histograms = match &self.reference {
            None => Vec::new(),
            Some(r) => (0..self.cols)
                .map(|c| LiveHistogram {
                    name: self.names[c].clone(),
                    counts: self.counts[c * MAX_BINS..c * MAX_BINS + r.freq[c].len()].to_vec(),
                    history: self.s.own.bins[c * MAX_BINS..c * MAX_BINS + r.freq[c].len()].to_vec(),
                })
                .collect(),
        };
        MonitorStats {
            window_points: self.s.len,
            window_events: self.s.ev_len,
            reference_profile: self.reference.is_some(),
            monitors,
            histograms,
            events: EventType::ALL
                .iter()
                .filter(|t| self.ev_counts[t.index()] > 0)
                .map(|t| (t.name().to_owned(), self.ev_counts[t.index()]))
                .collect(),
            profile_distance: self
                .profile_distance()
                .into_iter()
                .map(|(name, points, psi)| ProfileDistance { name, points, psi })
                .collect(),
        }
    }
}
