//! What the monitors hold: the reference laid out for the hot path, the
//! per-monitor flags, the state that changes over time (saved in
//! snapshots), and the index layout of the monitors.

use serde::{Deserialize, Serialize};

use super::config::{MonitorConfig, MonitorKind};
use super::history::OwnSaved;
use super::profile::{FIELDS, MAX_BINS};
use super::report::Alert;
use super::window::CallWindow;
use crate::event::EventType;

/// The reference, laid out for the hot path.
#[derive(Debug, Clone)]
pub(super) struct Reference {
    pub(super) edges: Vec<Box<[f32]>>,
    pub(super) freq: Vec<Box<[f64]>>,
    /// Per column: its edges padded to [`MAX_BINS`] with `+inf`, so a bin is
    /// a count of edges below the value over a fixed width (vectorised).
    pub(super) padded: Vec<[f32; MAX_BINS]>,
    /// At `column * MAX_BINS + bin`: `max(freq, PSI_FLOOR)` and its
    /// logarithm, for PSI, and `-ln(max(freq, 1e-3))`, the bin's surprise.
    pub(super) floored: Box<[f64]>,
    pub(super) ln_freq: Box<[f64]>,
    pub(super) surprise_of: Box<[f64]>,
    /// Reference share per event type index.
    pub(super) events: [f64; EventType::ALL.len()],
    /// Reference share of zeros per watched field.
    pub(super) fields: [f64; FIELDS.len()],
    /// Window and threshold of the joint surprise.
    pub(super) surprise: Option<(usize, f64)>,
    /// The joint surprise a reference row has on average.
    pub(super) expected_surprise: f64,
}

pub(super) const NO_BIN: u8 = u8::MAX;

/// Per-monitor alert state.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(super) struct Flag {
    pub(super) alerting: bool,
    pub(super) value: Option<f64>,
    pub(super) alerts: u64,
    /// Crossed against the profile, not against the device's own history.
    pub(super) holding: bool,
    /// Such episodes so far.
    pub(super) held: u64,
    /// The value against the device's own history, when last judged so.
    pub(super) own: Option<f64>,
}

/// The state that changes over time (saved in snapshots).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MonitorSaved {
    pub(super) bins: Box<[u8]>,
    pub(super) ts: Box<[i64]>,
    pub(super) latency_us: Box<[u32]>,
    pub(super) model: Box<[u8]>,
    pub(super) head: usize,
    pub(super) len: usize,
    pub(super) events: Box<[u8]>,
    pub(super) ev_head: usize,
    pub(super) ev_len: usize,
    pub(super) refreshes: Box<[i64]>,
    pub(super) rf_head: usize,
    pub(super) rf_len: usize,
    pub(super) flags: Box<[Flag]>,
    pub(super) last_ts: Option<i64>,
    pub(super) since_check: u32,
    /// The last 32 values of each watched field: bit set = zero.
    pub(super) field_bits: [u32; 3],
    pub(super) field_n: [u8; 3],
    pub(super) surprise: Box<[f32]>,
    pub(super) sp_head: usize,
    pub(super) sp_len: usize,
    /// Events seen, and the count at each type's last event.
    pub(super) seen: u64,
    pub(super) last_of: [u64; 13],
    /// Consecutive decision points each feature was above its training maximum.
    pub(super) runs: Box<[u32]>,
    /// What this device did before.
    pub(super) own: OwnSaved,
}

impl MonitorSaved {
    /// The sum of the joint-surprise ring.
    pub(super) fn surprise_sum(&self) -> f64 {
        self.surprise.iter().map(|&v| f64::from(v)).sum()
    }
}

/// The streaming monitors of one runtime.
#[derive(Debug, Clone)]
pub(crate) struct Monitor {
    pub(super) cfg: MonitorConfig,
    pub(super) reference: Option<Reference>,
    /// Features plus the score: histogram columns.
    pub(super) cols: usize,
    pub(super) judged: Box<[bool]>,
    pub(super) names: Vec<String>,
    pub(super) max_refreshes: Option<u32>,
    pub(super) counts: Box<[u32]>,
    pub(super) ev_counts: [u32; EventType::ALL.len()],
    pub(super) s: MonitorSaved,
    pub(super) scratch: Box<[u32]>,
    /// `ln(c)` for every count `c` a window can hold (PSI without logarithms).
    pub(super) ln_count: Box<[f64]>,
    /// Model calls in the window, derived from `s` (latency and errors).
    pub(super) calls: CallWindow,
    /// Per feature: the run above its training maximum that crosses its
    /// range monitor (`u32::MAX`: not judged).
    pub(super) run_limit: Box<[u32]>,
    /// Alerting monitors whose kind sets the model aside, and alerting range
    /// monitors: derived from the flags, kept as they change.
    pub(super) alerting_fallback: u32,
    pub(super) alerting_ranges: u32,
    /// The sum of the joint-surprise ring (derived; exact once a lap).
    pub(super) sp_sum: f64,
    pub(super) fired: [Option<Alert>; 8],
    /// Per monitor: the threshold (for event types, the vanish threshold).
    pub(super) thresholds: Box<[f64]>,
    /// Per event type: the explode threshold.
    pub(super) explode: [f64; EventType::ALL.len()],
    /// Per event type: the gap (in events) that raises its gap alert; 0: not judged.
    pub(super) gap_limit: [u64; EventType::ALL.len()],
}

/// Monitor indices: one per feature (drift), the score, one per event type,
/// then refresh rate, latency, errors, clock.
pub(super) fn layout(features: usize) -> (usize, usize, usize, usize, usize, usize, usize) {
    let score = features;
    let events = score + 1;
    let refresh = events + EventType::ALL.len();
    let clock = refresh + 3;
    // Then the joint surprise and the watched fields.
    (
        score,
        events,
        refresh,
        refresh + 1,
        refresh + 2,
        clock,
        clock + 2 + FIELDS.len() + EventType::ALL.len() + features,
    )
}

/// The first out-of-range monitor's index (one per feature).
pub(super) fn ranges_start(features: usize) -> usize {
    gaps_start(features) + EventType::ALL.len()
}

/// The first event-gap monitor's index (one per event type).
pub(super) fn gaps_start(features: usize) -> usize {
    joint_and_fields(features).1 + FIELDS.len()
}

/// The joint-surprise monitor's index, and the first field monitor's.
pub(super) fn joint_and_fields(features: usize) -> (usize, usize) {
    let clock = layout(features).5;
    (clock + 1, clock + 2)
}

pub(super) fn kind_of(i: usize, features: usize) -> MonitorKind {
    let (score, events, refresh, latency, errors, clock, _) = layout(features);
    if i >= ranges_start(features) {
        return MonitorKind::Drift;
    }
    if i >= gaps_start(features) {
        return MonitorKind::EventRate;
    }
    match i {
        i if i < score => MonitorKind::Drift,
        i if i == score => MonitorKind::ScoreDrift,
        i if i >= events && i < refresh => MonitorKind::EventRate,
        i if i == refresh => MonitorKind::RefreshRate,
        i if i == latency => MonitorKind::ModelLatency,
        i if i == errors => MonitorKind::ModelErrors,
        i if i == clock => MonitorKind::Clock,
        // The joint surprise and the watched fields.
        _ => MonitorKind::Drift,
    }
}
