//! The device's own history as it is kept and saved: plain data, folded in
//! and judged by `own`.

use serde::{Deserialize, Serialize};

use super::profile::{FIELDS, MAX_BINS};
use crate::event::EventType;

// Serde needs literal array lengths: these must follow the event types and fields.
const _: () = assert!(EventType::ALL.len() == 13 && FIELDS.len() == 3);

/// The own history (saved in snapshots).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OwnSaved {
    /// Per column and bin (as the live counts): decision points that left
    /// the window, decayed.
    pub(super) bins: Box<[f32]>,
    /// Per column: their total.
    pub(super) points: Box<[f32]>,
    /// Per event type: events that left the event window, decayed; and their total.
    pub(super) events: [f32; 13],
    pub(super) events_n: f32,
    /// Per watched field: zeros, and values, that left its 32-value ring.
    pub(super) zeros: [f32; 3],
    pub(super) values: [f32; 3],
    /// The joint surprise of points that left its ring: sum and count.
    pub(super) surprise_sum: f64,
    pub(super) surprise_n: f64,
    /// Per event type: the longest gap (in events) this device has had
    /// outside an alert.
    pub(super) gaps: [u64; 13],
    /// Per feature: the longest run above the training maximum outside an alert.
    pub(super) runs: Box<[u32]>,
}

impl OwnSaved {
    pub(super) fn new(cols: usize) -> OwnSaved {
        OwnSaved {
            bins: vec![0.0; cols * MAX_BINS].into_boxed_slice(),
            points: vec![0.0; cols].into_boxed_slice(),
            events: [0.0; EventType::ALL.len()],
            events_n: 0.0,
            zeros: [0.0; FIELDS.len()],
            values: [0.0; FIELDS.len()],
            surprise_sum: 0.0,
            surprise_n: 0.0,
            gaps: [0; EventType::ALL.len()],
            runs: vec![0; cols.saturating_sub(1)].into_boxed_slice(),
        }
    }

    /// Whether the sizes fit monitors of `cols` columns, and every count is
    /// a finite, non-negative number (a restored snapshot).
    pub(super) fn fits(&self, cols: usize) -> bool {
        let ok = |v: f32| v.is_finite() && v >= 0.0;
        self.bins.len() == cols * MAX_BINS
            && self.points.len() == cols
            && self.runs.len() == cols.saturating_sub(1)
            && self.bins.iter().chain(self.points.iter()).all(|&v| ok(v))
            && self
                .events
                .iter()
                .chain(&self.zeros)
                .chain(&self.values)
                .all(|&v| ok(v))
            && ok(self.events_n)
            && self.surprise_sum.is_finite()
            && self.surprise_n.is_finite()
            && self.surprise_n >= 0.0
    }
}
