//! The streaming side: events, refreshes and decision points folded into
//! the windows, and the monitors judged as they change. O(1) per event,
//! O(features) per decision point, no allocation.

use super::profile::MAX_BINS;
use super::state::*;
use super::window::{bin_of, psi, ModelCall};
use crate::event::EventType;

impl Monitor {
    /// Folds in one accepted event (at `now_ms`, of type `ty`).
    pub(crate) fn on_event(&mut self, now_ms: i64, ty: EventType, kind: &crate::event::EventKind) {
        use crate::event::EventKind;
        let (_, events_i, _, _, _, clock_i, _) = layout(self.cols - 1);
        let zero = match kind {
            EventKind::Scroll { dy_px, .. } => Some((0, *dy_px == 0.0)),
            EventKind::Custom { value: Some(v), .. } => Some((1, *v == 0.0)),
            EventKind::Search { query_len: Some(q) } => Some((2, *q == 0)),
            _ => None,
        };
        if let Some((k, is_zero)) = zero {
            if self.s.field_n[k] == 32 {
                // The oldest of the last 32 values leaves for the history.
                self.own_field(k, self.s.field_bits[k] >> 31 == 1);
            }
            self.s.field_bits[k] = self.s.field_bits[k] << 1 | u32::from(is_zero);
            self.s.field_n[k] = self.s.field_n[k].saturating_add(1).min(32);
            let (_, fields_i) = joint_and_fields(self.cols - 1);
            if self.s.field_n[k] == 32 && self.judged[fields_i + k] {
                let share = f64::from(self.s.field_bits[k].count_ones()) / 32.0;
                let threshold = self.thresholds[fields_i + k];
                self.decide(fields_i + k, share, threshold, true, |m| {
                    m.own_zero_share(k, share)
                });
            }
        }
        if let Some(last) = self.s.last_ts {
            let jump_s = (now_ms - last) as f64 / 1000.0;
            if jump_s >= self.thresholds[clock_i] || self.s.flags[clock_i].alerting {
                self.judge(clock_i, jump_s, self.thresholds[clock_i], true);
            }
        }
        self.s.last_ts = Some(now_ms);
        // Gaps: events since each common type last came. Only a crossing (or
        // the type's return, which recovers it) reaches `judge`.
        self.s.seen += 1;
        // The gap this event ends (from the stream's start for a first
        // event): this device's own evidence of how long it goes without.
        let ended = self.s.seen - self.s.last_of[ty.index()];
        self.own_gap(ty.index(), ended);
        self.s.last_of[ty.index()] = self.s.seen;
        let g0 = gaps_start(self.cols - 1);
        self.hold(g0 + ty.index(), false);
        if self.s.flags[g0 + ty.index()].alerting {
            self.judge(g0 + ty.index(), 0.0, self.thresholds[g0 + ty.index()], true);
        }
        for t in 0..EventType::ALL.len() {
            let gap = self.s.seen - self.s.last_of[t];
            let profile = self.gap_limit[t];
            if profile == 0 || gap < profile {
                continue;
            }
            match self.gap_alert_at(t) {
                Some(at) if gap == at => {
                    self.judge(g0 + t, gap as f64, self.thresholds[g0 + t], true);
                }
                // Past the profile's limit, within the device's own.
                at if gap == profile && at.is_none_or(|at| at > gap) => {
                    self.s.flags[g0 + t].value = Some(gap as f64);
                    self.hold(g0 + t, true);
                }
                _ => {}
            }
        }
        let n = self.s.events.len();
        let mut evicted = None;
        if self.s.ev_len == n {
            let old = self.s.events[self.s.ev_head];
            self.ev_counts[old as usize] -= 1;
            evicted = Some(old as usize);
            self.own_event(old as usize);
        } else {
            self.s.ev_len += 1;
        }
        self.s.events[self.s.ev_head] = ty.index() as u8;
        self.ev_counts[ty.index()] += 1;
        self.s.ev_head = (self.s.ev_head + 1) % n;
        if self.s.ev_len < n {
            return;
        }
        let Some(r) = &self.reference else {
            return;
        };
        // Only the shares that changed are judged: O(1) per event.
        let shares = [Some(ty.index()), evicted];
        let refs = r.events;
        for t in shares.into_iter().flatten() {
            let i = events_i + t;
            if !self.judged[i] {
                continue;
            }
            let ratio = f64::from(self.ev_counts[t]) / n as f64 / refs[t];
            let (low, high) = (self.thresholds[i], self.explode[t]);
            // Vanished (below `low`) or exploded (above `high`); stats read
            // the ratio from the counts, so nothing else is written.
            let back =
                |r: f64| r >= low / self.cfg.recover.max(1e-9) && r <= high * self.cfg.recover;
            if self.s.flags[i].alerting {
                // Back against the profile, or against the device's own mix.
                let own_back = || match self.own_event_ratio(t) {
                    super::own::Own::Value(o) => back(o),
                    _ => false,
                };
                if back(ratio) || (self.cfg.own_history && own_back()) {
                    self.set_alerting(i, false);
                }
            } else if ratio < low && refs[t] >= self.cfg.event_min_share {
                self.decide(i, ratio, low, false, |m| m.own_event_ratio(t));
            } else if ratio > high {
                self.decide(i, ratio, high, true, |m| m.own_event_ratio(t));
            } else {
                self.hold(i, false);
            }
        }
    }

    /// A refresh was decided at `now_ms`.
    pub(crate) fn on_refresh(&mut self, now_ms: i64) {
        let Some(max) = self.max_refreshes else {
            return;
        };
        let cap = self.s.refreshes.len();
        self.s.refreshes[self.s.rf_head] = now_ms;
        self.s.rf_head = (self.s.rf_head + 1) % cap;
        self.s.rf_len = (self.s.rf_len + 1).min(cap);
        let hour_ago = now_ms - 3_600_000;
        let in_hour = (1..=self.s.rf_len)
            .map(|k| self.s.refreshes[(self.s.rf_head + cap - k) % cap])
            .take_while(|&t| t > hour_ago)
            .count();
        let (_, _, refresh_i, ..) = layout(self.cols - 1);
        // The ring holds max + 1: a full ring within the hour is over the limit.
        let _ = max;
        self.judge(refresh_i, in_hour as f64, self.thresholds[refresh_i], true);
    }

    /// Folds in one decision point: its features, the score when the model
    /// was consulted, the decision path's latency, and whether the model failed.
    pub(crate) fn on_decision_point(
        &mut self,
        now_ms: i64,
        features: &[f32],
        score: Option<f32>,
        latency_ns: u64,
        model: ModelCall,
    ) {
        let w = self.s.ts.len();
        let cols = self.cols;
        // Evict by count, and by age with `window_s`.
        let max_age = self.cfg.window_s.map(|s| (s * 1000.0) as i64);
        let filling = self.s.len < w;
        // A full window's oldest point is the row this one overwrites: its
        // bins leave the counts column by column below, as the new ones enter.
        let in_place = self.s.len == w && w > 0;
        if in_place {
            let old = self.s.head;
            self.calls.remove(self.s.model[old], self.s.latency_us[old]);
            self.s.len -= 1;
            for c in 0..cols {
                self.own_point(c, self.s.bins[old * cols + c]);
            }
        }
        while self.s.len > 0
            && max_age.is_some_and(|a| now_ms - self.s.ts[(self.s.head + w - self.s.len) % w] > a)
        {
            let old = (self.s.head + w - self.s.len) % w;
            for c in 0..cols {
                let b = self.s.bins[old * cols + c];
                if b != NO_BIN {
                    self.counts[c * MAX_BINS + b as usize] -= 1;
                }
                self.own_point(c, b);
            }
            self.calls.remove(self.s.model[old], self.s.latency_us[old]);
            self.s.len -= 1;
        }
        let row = self.s.head;
        let mut joint = None;
        let mut leaving_surprise = None;
        let mut ranges_to_judge = false;
        let r0 = ranges_start(cols - 1);
        self.s.ts[row] = now_ms;
        self.s.latency_us[row] = u32::try_from(latency_ns / 1000).unwrap_or(u32::MAX);
        self.s.model[row] = model as u8;
        self.calls.add(model as u8, self.s.latency_us[row]);
        if let Some(r) = &self.reference {
            // Per feature: its bin, its run above the training maximum (the
            // last bin), and its share of the point's joint surprise (over
            // every feature, as the profile's threshold was computed).
            let mut surprise = 0.0f64;
            let mut crossed = false;
            for (c, x) in features.iter().enumerate().take(cols - 1) {
                let edges = &r.edges[c];
                let b = bin_of(&r.padded[c], edges.len(), *x);
                let cell = &mut self.s.bins[row * cols + c];
                if in_place && *cell != NO_BIN {
                    self.counts[c * MAX_BINS + *cell as usize] -= 1;
                }
                *cell = b as u8;
                self.counts[c * MAX_BINS + b] += 1;
                let above = !edges.is_empty() && b == edges.len();
                let run = self.s.runs[c];
                if !above && run > 0 && !self.s.flags[r0 + c].alerting {
                    // A run ended outside an alert: the device's own evidence.
                    self.s.own.runs[c] = self.s.own.runs[c].max(run);
                }
                self.s.runs[c] = if above { run.saturating_add(1) } else { 0 };
                crossed |= self.s.runs[c] >= self.run_limit[c];
                surprise += r.surprise_of[c * MAX_BINS + b];
            }
            ranges_to_judge = crossed || self.alerting_ranges > 0;
            if let Some((w, _)) = r.surprise {
                let at = self.s.sp_head;
                if self.s.sp_len == w {
                    leaving_surprise = Some(self.s.surprise[at]);
                }
                let new = f64::from(surprise as f32);
                self.sp_sum += new - f64::from(self.s.surprise[at]);
                self.s.surprise[at] = surprise as f32;
                self.s.sp_head = (at + 1) % w;
                self.s.sp_len = (self.s.sp_len + 1).min(w);
                if self.s.sp_head == 0 {
                    // Once a lap, the exact sum: no rounding drift builds up.
                    self.sp_sum = self.s.surprise_sum();
                }
                if self.s.sp_len == w {
                    joint = Some(self.sp_sum / w as f64);
                }
            }
            let sc = cols - 1;
            let cell = self.s.bins[row * cols + sc];
            if in_place && cell != NO_BIN {
                self.counts[sc * MAX_BINS + cell as usize] -= 1;
            }
            match score {
                Some(p) if self.judged[sc] => {
                    let b = bin_of(&r.padded[sc], r.edges[sc].len(), p);
                    self.s.bins[row * cols + sc] = b as u8;
                    self.counts[sc * MAX_BINS + b] += 1;
                }
                _ => self.s.bins[row * cols + sc] = NO_BIN,
            }
        }
        self.s.head = (row + 1) % w;
        self.s.len += 1;
        if let Some(v) = leaving_surprise {
            self.own_surprise(v);
        }
        if let Some(mean) = joint {
            let (joint_i, _) = joint_and_fields(cols - 1);
            let threshold = self.thresholds[joint_i];
            self.decide(joint_i, mean, threshold, true, |m| m.own_joint(mean));
        }
        if ranges_to_judge {
            // Only a crossing, or a run while alerting (it may recover),
            // reaches `judge`; stats read the runs themselves.
            for c in 0..cols - 1 {
                let i = r0 + c;
                if self.judged[i]
                    && (self.s.runs[c] >= self.run_limit[c] || self.s.flags[i].alerting)
                {
                    let run = self.s.runs[c];
                    let threshold = self.thresholds[i];
                    self.decide(i, f64::from(run), threshold, true, |m| m.own_range(c, run));
                } else if self.s.flags[i].holding {
                    self.hold(i, false);
                }
            }
        }
        // PSI over every column costs O(features x bins): judged every 4th point.
        // (And at once when the window has just filled.)
        self.s.since_check += 1;
        if self.s.since_check >= 4 || (filling && self.s.len == w) {
            self.s.since_check = 0;
            self.check_window();
        }
    }

    pub(super) fn check_window(&mut self) {
        let w = self.s.ts.len();
        let n = self.s.len;
        let cols = self.cols;
        let (score_i, _, _, latency_i, errors_i, _, _) = layout(cols - 1);
        if n == w {
            if let Some(r) = self.reference.take() {
                for c in 0..cols {
                    if !self.judged[c] {
                        continue;
                    }
                    let bins = c * MAX_BINS..c * MAX_BINS + r.freq[c].len();
                    let counts = &self.counts[bins.clone()];
                    let total: u32 = counts.iter().sum();
                    // The score column counts only points where the model ran.
                    if total < (w / 2) as u32 {
                        continue;
                    }
                    let v = psi(
                        counts,
                        total,
                        &r.floored[bins.clone()],
                        &r.ln_freq[bins],
                        &self.ln_count,
                    );
                    let i = if c == cols - 1 { score_i } else { c };
                    let bins = r.freq[c].len();
                    self.decide(i, v, self.thresholds[i], true, |m| m.own_psi(c, bins));
                }
                self.reference = Some(r);
            }
        }
        // Latency and errors over the points where the model ran.
        let calls = self.calls.calls as usize;
        if calls >= self.cfg.min_model_calls && calls > 0 {
            self.judge(
                errors_i,
                f64::from(self.calls.failed) / calls as f64,
                self.thresholds[errors_i],
                true,
            );
            let k = ((calls as f64 * 0.99).ceil() as usize).clamp(1, calls) - 1;
            let p99 = match self.calls.nth_smallest(k) {
                Some(v) => v,
                None => self.nth_latency_by_scan(k),
            };
            self.judge(
                latency_i,
                f64::from(p99) / 1000.0,
                self.thresholds[latency_i],
                true,
            );
        }
    }

    /// The `k`-th smallest latency of the window's model calls, by a scan of
    /// the window: for latencies past [`CallWindow`]'s exact range.
    pub(super) fn nth_latency_by_scan(&mut self, k: usize) -> u32 {
        let w = self.s.ts.len();
        let mut calls = 0;
        for j in 1..=self.s.len {
            let row = (self.s.head + w - j) % w;
            if self.s.model[row] != ModelCall::Skipped as u8 {
                self.scratch[calls] = self.s.latency_us[row];
                calls += 1;
            }
        }
        *self.scratch[..calls]
            .select_nth_unstable(k.min(calls - 1))
            .1
    }
}
