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
    /// Times it crossed against the reference profile while the device's
    /// own history explained it (or before the device had one): no alert.
    pub held: u64,
    /// Its latest value against the device's own history, where judged so.
    pub own_value: Option<f64>,
}

/// A histogram of the live window, for a server to aggregate across devices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveHistogram {
    /// The feature (or `score`).
    pub name: String,
    /// Counts per reference bin in the window.
    pub counts: Vec<u32>,
    /// The device's own history per reference bin (decayed counts of the
    /// points that left the window): a longer sample of this device.
    pub history: Vec<f32>,
}

/// How far one device stands from the reference profile: its own history
/// and live window together, per feature. A population that differs from
/// the training data shows here (and summed over a fleet), not as alerts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileDistance {
    /// The feature (or `score`).
    pub name: String,
    /// Decision points behind the figure (decayed history plus window).
    pub points: f64,
    /// Population stability index against the reference.
    pub psi: f64,
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
    /// This device's distance from the reference profile, per judged feature.
    pub profile_distance: Vec<ProfileDistance>,
}
