//! The monitors' state in snapshots: saved as is, restored after checks.

use super::profile::MAX_BINS;
use super::state::*;
use super::window::CallWindow;
use crate::event::EventType;

impl Monitor {
    pub(crate) fn save(&self) -> MonitorSaved {
        self.s.clone()
    }

    /// Installs saved state; the counts are rebuilt from the rings.
    pub(crate) fn restore(&mut self, s: MonitorSaved) -> Result<(), &'static str> {
        let w = self.s.ts.len();
        let sizes_ok = s.bins.len() == self.s.bins.len()
            && s.ts.len() == w
            && s.latency_us.len() == w
            && s.model.len() == w
            && s.events.len() == self.s.events.len()
            && s.refreshes.len() == self.s.refreshes.len()
            && s.flags.len() == self.s.flags.len()
            && s.surprise.len() == self.s.surprise.len();
        if !sizes_ok {
            return Err("monitor window sizes");
        }
        let in_ring = |head: usize, len: usize, cap: usize| len <= cap && (cap == 0 || head < cap);
        if !in_ring(s.head, s.len, w)
            || !in_ring(s.ev_head, s.ev_len, s.events.len())
            || !in_ring(s.rf_head, s.rf_len, s.refreshes.len())
            || !in_ring(s.sp_head, s.sp_len, s.surprise.len())
            || s.field_n.iter().any(|&n| n > 32)
            || s.last_of.iter().any(|&l| l > s.seen)
            || s.runs.len() != self.s.runs.len()
            || !s.own.fits(self.cols)
        {
            return Err("monitor ring positions");
        }
        let bins_ok = match &self.reference {
            None => true,
            Some(r) => s.bins.chunks(self.cols).all(|row| {
                row.iter()
                    .zip(&r.freq)
                    .all(|(&b, f)| b == NO_BIN || (b as usize) < f.len())
            }),
        };
        if !bins_ok || s.events.iter().any(|&t| t as usize >= EventType::ALL.len()) {
            return Err("monitor bins");
        }
        let mut counts = vec![0u32; self.counts.len()].into_boxed_slice();
        for k in 1..=s.len {
            let row = (s.head + w - k) % w;
            for c in 0..self.cols {
                let b = s.bins[row * self.cols + c];
                if b != NO_BIN {
                    counts[c * MAX_BINS + b as usize] += 1;
                }
            }
        }
        let mut ev_counts = [0u32; EventType::ALL.len()];
        let n = s.events.len();
        for k in 1..=s.ev_len {
            ev_counts[s.events[(s.ev_head + n - k) % n] as usize] += 1;
        }
        let mut calls = CallWindow::default();
        for k in 1..=s.len {
            let row = (s.head + w - k) % w;
            calls.add(s.model[row], s.latency_us[row]);
        }
        self.counts = counts;
        self.ev_counts = ev_counts;
        self.calls = calls;
        self.sp_sum = s.surprise_sum();
        self.s = s;
        self.count_alerting();
        Ok(())
    }
}
