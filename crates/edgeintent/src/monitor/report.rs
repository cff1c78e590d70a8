//! What the monitors report: alerts, per-monitor states, live histograms.

use serde::Serialize;

use super::config::MonitorKind;

/// One alert a monitor raised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alert {
    /// What crossed.
    pub kind: MonitorKind,
    /// Which monitor (an index into the runtime's monitor names).
    pub monitor: u32,
    /// Its value.
    pub value: f32,
    /// The threshold it crossed.
    pub threshold: f32,
}

/// One monitor's state, as stats report it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorState {
    /// `monitor:<kind>:<name>`.
    pub reason: String,
    /// Its latest value (`null` until it can be judged).
    pub value: Option<f64>,
    /// Its threshold.
    pub threshold: f64,
    /// Whether its alert stands.
    pub alerting: bool,
    /// Alerts raised so far.
    pub alerts: u64,
}

/// A histogram of the live window, for a server to aggregate across devices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveHistogram {
    /// The feature (or `score`).
    pub name: String,
    /// Counts per reference bin in the window.
    pub counts: Vec<u32>,
}

/// The monitors in stats.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorStats {
    /// Decision points in the window now.
    pub window_points: usize,
    /// Events in the event window now.
    pub window_events: usize,
    /// Whether the model package carries a reference profile (without one,
    /// only the refresh, latency, error and clock monitors run).
    pub reference_profile: bool,
    /// Every monitor that can be judged.
    pub monitors: Vec<MonitorState>,
    /// Live histograms of every feature and the score.
    pub histograms: Vec<LiveHistogram>,
    /// Events per type in the event window.
    pub events: std::collections::BTreeMap<String, u32>,
}
