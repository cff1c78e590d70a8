//! The device's own history: what this device did before, folded in as it
//! leaves the live windows, so a monitor alerts only when the stream strays
//! from the reference profile *and* from the device itself. A user who
//! differs from the training population (another app, another country)
//! differs from the start and stays consistent with their own past; a
//! broken producer changes the stream against both.
//!
//! Each history halves once it holds `history_windows` windows' worth, so
//! it follows a slow change of habits and forgets it at the same pace. A
//! monitor's history is frozen while its alert stands: a break does not
//! teach the device that it is normal.

use super::profile::{MAX_BINS, PSI_FLOOR};
use super::state::*;
use crate::event::EventType;

/// What the device's own history says about a monitor's value.
pub(super) enum Own {
    /// Not enough history yet: a crossing is held.
    Unknown,
    /// The value judged against the device's own history, on the same
    /// scale and threshold as the profile's.
    Value(f64),
}

impl Monitor {
    /// Judges monitor `i` at `value` against the profile's `threshold`, and
    /// against the device's own history: an alert needs both to cross;
    /// either recovering recovers it. `own` is asked only when it can
    /// matter (the profile crossed, or the alert stands).
    pub(super) fn decide(
        &mut self,
        i: usize,
        value: f64,
        threshold: f64,
        above: bool,
        own: impl FnOnce(&Self) -> Own,
    ) {
        let crossed = |v: f64| if above { v >= threshold } else { v < threshold };
        let alerting = self.s.flags[i].alerting;
        if !self.cfg.own_history || (!crossed(value) && !alerting) {
            self.hold(i, false);
            self.judge(i, value, threshold, above);
            return;
        }
        match own(self) {
            Own::Unknown if alerting => self.judge(i, value, threshold, above),
            Own::Unknown => {
                self.s.flags[i].value = Some(value);
                self.hold(i, true);
            }
            Own::Value(o) => {
                let both = if above { value.min(o) } else { value.max(o) };
                self.hold(i, !alerting && !crossed(o));
                self.judge(i, both, threshold, above);
                self.s.flags[i].value = Some(value);
                self.s.flags[i].own = Some(o);
            }
        }
    }

    /// Marks monitor `i` as crossed against the profile but not against the
    /// device's own history (or before it had one); counts each such episode.
    pub(super) fn hold(&mut self, i: usize, on: bool) {
        let f = &mut self.s.flags[i];
        if on && !f.holding {
            f.held += 1;
        }
        f.holding = on;
    }

    /// The history size, in points, past which a column's history halves.
    fn history_cap(&self, window: usize) -> f32 {
        (self.cfg.history_windows * window as f64) as f32
    }

    /// The monitor of histogram column `c` (a feature, or the score).
    pub(super) fn monitor_of_column(&self, c: usize) -> usize {
        let (score_i, ..) = layout(self.cols - 1);
        if c == self.cols - 1 {
            score_i
        } else {
            c
        }
    }

    /// A decision point's bin in column `c` left the window.
    pub(super) fn own_point(&mut self, c: usize, bin: u8) {
        if bin == NO_BIN || self.s.flags[self.monitor_of_column(c)].alerting {
            return;
        }
        let cap = self.history_cap(self.s.ts.len());
        let o = &mut self.s.own;
        o.bins[c * MAX_BINS + bin as usize] += 1.0;
        o.points[c] += 1.0;
        if o.points[c] >= cap {
            o.points[c] *= 0.5;
            o.bins[c * MAX_BINS..(c + 1) * MAX_BINS]
                .iter_mut()
                .for_each(|v| *v *= 0.5);
        }
    }

    /// An event of type index `t` left the event window. The event mix is
    /// one history: frozen while any event-rate alert stands.
    pub(super) fn own_event(&mut self, t: usize) {
        let (_, e0, ..) = layout(self.cols - 1);
        if self.s.flags[e0..e0 + EventType::ALL.len()]
            .iter()
            .any(|f| f.alerting)
        {
            return;
        }
        let cap = self.history_cap(self.s.events.len());
        let o = &mut self.s.own;
        o.events[t] += 1.0;
        o.events_n += 1.0;
        if o.events_n >= cap {
            o.events_n *= 0.5;
            o.events.iter_mut().for_each(|v| *v *= 0.5);
        }
    }

    /// A value of watched field `k` left its ring (`zero`: it was zero).
    pub(super) fn own_field(&mut self, k: usize, zero: bool) {
        let (_, fields_i) = joint_and_fields(self.cols - 1);
        if self.s.flags[fields_i + k].alerting {
            return;
        }
        let cap = self.history_cap(32);
        let o = &mut self.s.own;
        o.zeros[k] += f32::from(u8::from(zero));
        o.values[k] += 1.0;
        if o.values[k] >= cap {
            o.values[k] *= 0.5;
            o.zeros[k] *= 0.5;
        }
    }

    /// A point's joint surprise left its ring.
    pub(super) fn own_surprise(&mut self, surprise: f32) {
        let (joint_i, _) = joint_and_fields(self.cols - 1);
        if self.s.flags[joint_i].alerting {
            return;
        }
        let cap = f64::from(self.history_cap(self.s.ts.len()));
        let o = &mut self.s.own;
        o.surprise_sum += f64::from(surprise);
        o.surprise_n += 1.0;
        if o.surprise_n >= cap {
            o.surprise_n *= 0.5;
            o.surprise_sum *= 0.5;
        }
    }

    /// A gap of event type index `t` ended at `gap` events.
    pub(super) fn own_gap(&mut self, t: usize, gap: u64) {
        let g0 = gaps_start(self.cols - 1);
        if !self.s.flags[g0 + t].alerting {
            self.s.own.gaps[t] = self.s.own.gaps[t].max(gap);
        }
    }

    /// Decision points of history a distribution needs before the window
    /// is judged against it: a window's worth. Fewer would compare the
    /// window with the device's first hours, which are unlike any later
    /// ones (nothing has happened yet, so every `since_*` is long).
    fn min_history(&self) -> f32 {
        self.s.ts.len() as f32
    }

    /// PSI of column `c`'s live window against the device's own history,
    /// once that holds [`Self::min_history`] points.
    pub(super) fn own_psi(&self, c: usize, bins: usize) -> Own {
        let o = &self.s.own;
        if o.points[c] < self.min_history() {
            return Own::Unknown;
        }
        let live = &self.counts[c * MAX_BINS..c * MAX_BINS + bins];
        let hist = &o.bins[c * MAX_BINS..c * MAX_BINS + bins];
        let n_live = f64::from(live.iter().sum::<u32>().max(1));
        let n_hist = f64::from(o.points[c]);
        let v = live
            .iter()
            .zip(hist)
            .map(|(&a, &e)| {
                let a = (f64::from(a) / n_live).max(PSI_FLOOR);
                let e = (f64::from(e) / n_hist).max(PSI_FLOOR);
                (a - e) * (a / e).ln()
            })
            .sum();
        Own::Value(v)
    }

    /// The share of event type `t` in the live window over its share in the
    /// device's history (infinite for a type the device never sent).
    pub(super) fn own_event_ratio(&self, t: usize) -> Own {
        let o = &self.s.own;
        let n = self.s.events.len() as f32;
        if o.events_n < n {
            return Own::Unknown;
        }
        let own_share = f64::from(o.events[t]) / f64::from(o.events_n);
        let live = f64::from(self.ev_counts[t]) / f64::from(n);
        Own::Value(if own_share > 0.0 {
            live / own_share
        } else {
            f64::INFINITY
        })
    }

    /// The live zero share `share` of field `k`, as the device's history
    /// sees it: no crossing when the device itself often sent zeros. A field
    /// going to zero is a broken producer's mark, not a population's: before
    /// the device has 32 values of history the profile alone decides.
    pub(super) fn own_zero_share(&self, k: usize, share: f64) -> Own {
        let o = &self.s.own;
        if o.values[k] < 32.0 {
            return Own::Value(share);
        }
        let own = f64::from(o.zeros[k]) / f64::from(o.values[k]);
        Own::Value(if own < self.cfg.zero_share / 2.0 {
            share
        } else {
            0.0
        })
    }

    /// The window's mean joint surprise `mean`, shifted by how much more
    /// surprising this device has always been than the reference itself.
    pub(super) fn own_joint(&self, mean: f64) -> Own {
        let o = &self.s.own;
        let expected = self.reference.as_ref().map_or(0.0, |r| r.expected_surprise);
        if o.surprise_n < f64::from(self.min_history()) {
            return Own::Unknown;
        }
        let typical = o.surprise_sum / o.surprise_n;
        Own::Value(mean - (typical - expected).max(0.0))
    }

    /// A run of feature `c` (`run` points above the training maximum), as
    /// the device's history sees it: counted only past its own longest run
    /// times `gap_margin`.
    pub(super) fn own_range(&self, c: usize, run: u32) -> Own {
        // The runs cover the device's whole life, window included: a
        // quarter of a window of it is evidence enough (a window is days of
        // use for a light user).
        if self.s.own.points[c] + (self.s.len as f32) < self.min_history() / 4.0 {
            return Own::Unknown;
        }
        let limit = (f64::from(self.s.own.runs[c]) * self.cfg.gap_margin).ceil();
        Own::Value(if f64::from(run) >= limit {
            f64::from(run)
        } else {
            0.0
        })
    }

    /// The gap, in events, past which type `t`'s gap alert fires: the
    /// profile's, or past the device's own longest gap so far; `None` for a
    /// type this device never sent (it cannot stop what it never started).
    pub(super) fn gap_alert_at(&self, t: usize) -> Option<u64> {
        let profile = self.gap_limit[t];
        if !self.cfg.own_history {
            return Some(profile);
        }
        if self.s.last_of[t] == 0 {
            return None;
        }
        let own = (self.s.own.gaps[t] as f64 * self.cfg.gap_margin).ceil() as u64;
        Some(profile.max(own))
    }

    /// Per judged feature (and the score): PSI of the device's history and
    /// live window together against the reference profile: how far this
    /// device stands from the training population (not an alert).
    pub(super) fn profile_distance(&self) -> Vec<(String, f64, f64)> {
        let Some(r) = &self.reference else {
            return Vec::new();
        };
        (0..self.cols)
            .filter(|&c| self.judged[self.monitor_of_column(c)])
            .filter_map(|c| {
                let bins = r.freq[c].len();
                let span = c * MAX_BINS..c * MAX_BINS + bins;
                let sum: Vec<f64> = self.counts[span.clone()]
                    .iter()
                    .zip(&self.s.own.bins[span])
                    .map(|(&a, &h)| f64::from(a) + f64::from(h))
                    .collect();
                let n: f64 = sum.iter().sum();
                (n > 0.0).then(|| {
                    let psi = sum
                        .iter()
                        .zip(r.freq[c].iter())
                        .map(|(&x, &e)| {
                            let a = (x / n).max(PSI_FLOOR);
                            let e = e.max(PSI_FLOOR);
                            (a - e) * (a / e).ln()
                        })
                        .sum();
                    (self.names[self.monitor_of_column(c)].clone(), n, psi)
                })
            })
            .collect()
    }
}
