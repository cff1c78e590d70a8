//! The `monitor` section of the config, and what a monitor watches.

use serde::{Deserialize, Serialize};

/// What a monitor watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorKind {
    /// A feature's distribution against the reference (PSI).
    Drift,
    /// The score's distribution against the reference (PSI).
    ScoreDrift,
    /// An event type's share of events against the reference mix.
    EventRate,
    /// Refreshes in the last hour against the limit.
    RefreshRate,
    /// The decision path's p99 latency with the model.
    ModelLatency,
    /// The share of failed model calls.
    ModelErrors,
    /// A forward jump of the event clock.
    Clock,
}

impl MonitorKind {
    /// Every kind, in index order.
    pub const ALL: [MonitorKind; 7] = [
        MonitorKind::Drift,
        MonitorKind::ScoreDrift,
        MonitorKind::EventRate,
        MonitorKind::RefreshRate,
        MonitorKind::ModelLatency,
        MonitorKind::ModelErrors,
        MonitorKind::Clock,
    ];

    /// The name in reasons: `monitor:<kind>:<name>`.
    pub fn name(self) -> &'static str {
        match self {
            MonitorKind::Drift => "drift",
            MonitorKind::ScoreDrift => "score_drift",
            MonitorKind::EventRate => "event_rate",
            MonitorKind::RefreshRate => "refresh_rate",
            MonitorKind::ModelLatency => "model_latency",
            MonitorKind::ModelErrors => "model_errors",
            MonitorKind::Clock => "clock",
        }
    }

    /// The reason text without the monitor's name.
    pub fn reason(self) -> &'static str {
        match self {
            MonitorKind::Drift => "monitor:drift",
            MonitorKind::ScoreDrift => "monitor:score_drift",
            MonitorKind::EventRate => "monitor:event_rate",
            MonitorKind::RefreshRate => "monitor:refresh_rate",
            MonitorKind::ModelLatency => "monitor:model_latency",
            MonitorKind::ModelErrors => "monitor:model_errors",
            MonitorKind::Clock => "monitor:clock",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The `monitor` section of the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    /// Whether the monitors run (default false).
    #[serde(default)]
    pub enabled: bool,
    /// Decision points in the rolling window of features and score (60).
    #[serde(default = "d_window_points")]
    pub window_points: usize,
    /// Points older than this leave the window too (none: by count only).
    #[serde(default)]
    pub window_s: Option<f64>,
    /// PSI at or above this is drift (0.25).
    #[serde(default = "d_psi")]
    pub psi_threshold: f64,
    /// Features not judged for drift (their histograms are still kept).
    #[serde(default)]
    pub ignore_features: Vec<String>,
    /// Events in the rolling window of the event mix (400).
    #[serde(default = "d_event_window")]
    pub event_window: usize,
    /// Event types below this reference share are not judged vanished (0.03).
    #[serde(default = "d_min_share")]
    pub event_min_share: f64,
    /// Observed share / reference share below this: the type vanished (0.1).
    #[serde(default = "d_low")]
    pub event_low: f64,
    /// Observed share / reference share above this: it exploded (6).
    #[serde(default = "d_high")]
    pub event_high: f64,
    /// Refreshes in any hour above this raise `refresh_rate` (default: the
    /// policy's `budget_per_hour`; 0 or no budget: off).
    #[serde(default)]
    pub max_refreshes_per_hour: Option<u32>,
    /// The decision path's p99 with the model above this (ms) raises
    /// `model_latency` (50).
    #[serde(default = "d_latency")]
    pub latency_p99_ms: f64,
    /// Failed model calls above this share of the window's calls raise
    /// `model_errors` (0.05), once the window holds `min_model_calls` (20).
    #[serde(default = "d_error_rate")]
    pub error_rate: f64,
    /// See `error_rate`.
    #[serde(default = "d_min_calls")]
    pub min_model_calls: usize,
    /// A forward jump of the event clock larger than this (s) raises `clock` (30 days).
    #[serde(default = "d_jump")]
    pub max_clock_jump_s: f64,
    /// A monitor recovers when its value returns within this share of the
    /// threshold (0.8: PSI below 0.2 for a 0.25 threshold).
    #[serde(default = "d_recover")]
    pub recover: f64,
    /// A numeric event field whose last 32 values are zero this often
    /// raises `drift:<field>` (0.25), unless training saw it half as often.
    #[serde(default = "d_zero_share")]
    pub zero_share: f64,
    /// With the profile's natural PSIs: a feature (or the score) drifts at
    /// the larger of `psi_threshold` and its natural PSI times this (1.5).
    #[serde(default = "d_psi_margin")]
    pub psi_margin: f64,
    /// With the profile's natural ranges: an event type vanished below its
    /// lowest training ratio times this, and exploded above its highest
    /// divided by it (0.5).
    #[serde(default = "d_margin")]
    pub event_margin: f64,
    /// A type of at least `event_min_share` vanished when more events than
    /// its natural longest gap times this pass without it (1.25).
    #[serde(default = "d_gap_margin")]
    pub gap_margin: f64,
    /// A feature above its training maximum for more consecutive decision
    /// points than the natural longest run times `gap_margin`, and at least
    /// this many, raises `drift:<feature>_range` (4).
    #[serde(default = "d_min_run")]
    pub min_range_run: u32,
    /// The joint surprise threshold is the profile's times this (1.0).
    #[serde(default = "d_one")]
    pub surprise_factor: f64,
    /// While an alert of one of these kinds stands, the model is set aside
    /// and the rules decide (`fallback:monitor`). Default: `model_errors`.
    #[serde(default = "d_fallback")]
    pub fallback: Vec<MonitorKind>,
    /// Judge each device also against its own history (true): a drift,
    /// event-mix, gap, range or zero-share alert then needs the stream to
    /// stray from the reference profile *and* from what this device did
    /// before, so an alert means "this device's stream changed", not "this
    /// app's users differ from the training data" (which the stats'
    /// `profile_distance` and the fleet tools report). Until a device has
    /// enough history (a window's worth of decision points or events that
    /// left the window; for runs, a quarter of a window seen), such
    /// crossings are held, not raised; zero-share and gap alerts then use
    /// the profile alone.
    #[serde(default = "d_true")]
    pub own_history: bool,
    /// How many windows' worth each own history holds before it halves (8):
    /// longer remembers more of a device's habits and adapts more slowly.
    #[serde(default = "d_history_windows")]
    pub history_windows: f64,
}

fn d_window_points() -> usize {
    60
}
fn d_psi() -> f64 {
    0.25
}
fn d_event_window() -> usize {
    400
}
fn d_min_share() -> f64 {
    0.03
}
fn d_low() -> f64 {
    0.1
}
fn d_high() -> f64 {
    6.0
}
fn d_latency() -> f64 {
    50.0
}
fn d_error_rate() -> f64 {
    0.05
}
fn d_min_calls() -> usize {
    20
}
fn d_jump() -> f64 {
    30.0 * 86_400.0
}
fn d_recover() -> f64 {
    0.8
}
fn d_min_run() -> u32 {
    4
}
fn d_gap_margin() -> f64 {
    1.25
}
fn d_psi_margin() -> f64 {
    1.5
}
fn d_margin() -> f64 {
    0.5
}
fn d_zero_share() -> f64 {
    0.25
}
fn d_one() -> f64 {
    1.0
}
fn d_true() -> bool {
    true
}
fn d_history_windows() -> f64 {
    8.0
}
fn d_fallback() -> Vec<MonitorKind> {
    vec![MonitorKind::ModelErrors]
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            enabled: false,
            window_points: d_window_points(),
            window_s: None,
            psi_threshold: d_psi(),
            ignore_features: Vec::new(),
            event_window: d_event_window(),
            event_min_share: d_min_share(),
            event_low: d_low(),
            event_high: d_high(),
            max_refreshes_per_hour: None,
            latency_p99_ms: d_latency(),
            error_rate: d_error_rate(),
            min_model_calls: d_min_calls(),
            max_clock_jump_s: d_jump(),
            recover: d_recover(),
            zero_share: d_zero_share(),
            event_margin: d_margin(),
            psi_margin: d_psi_margin(),
            gap_margin: d_gap_margin(),
            min_range_run: d_min_run(),
            surprise_factor: d_one(),
            fallback: d_fallback(),
            own_history: d_true(),
            history_windows: d_history_windows(),
        }
    }
}

impl MonitorConfig {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        let pos = |v: f64| v.is_finite() && v > 0.0;
        if !(8..=4096).contains(&self.window_points) {
            return Err(("monitor.window_points", "must be in 8..=4096".into()));
        }
        if self
            .window_s
            .is_some_and(|s| !pos(s) || s > crate::limits::MAX_DURATION_S)
        {
            return Err((
                "monitor.window_s",
                "must be a positive number of seconds".into(),
            ));
        }
        if !(16..=65_536).contains(&self.event_window) {
            return Err(("monitor.event_window", "must be in 16..=65536".into()));
        }
        for (field, v) in [
            ("monitor.psi_threshold", self.psi_threshold),
            ("monitor.event_high", self.event_high),
            ("monitor.latency_p99_ms", self.latency_p99_ms),
            ("monitor.max_clock_jump_s", self.max_clock_jump_s),
            ("monitor.surprise_factor", self.surprise_factor),
            ("monitor.psi_margin", self.psi_margin),
            ("monitor.gap_margin", self.gap_margin),
        ] {
            if !pos(v) {
                return Err((field, format!("must be a positive number, got {v}")));
            }
        }
        for (field, v) in [
            ("monitor.event_min_share", self.event_min_share),
            ("monitor.event_low", self.event_low),
            ("monitor.error_rate", self.error_rate),
            ("monitor.recover", self.recover),
            ("monitor.zero_share", self.zero_share),
            ("monitor.event_margin", self.event_margin),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err((field, format!("must be in [0, 1], got {v}")));
            }
        }
        if !(self.history_windows.is_finite() && (2.0..=1000.0).contains(&self.history_windows)) {
            return Err((
                "monitor.history_windows",
                format!("must be in [2, 1000], got {}", self.history_windows),
            ));
        }
        if self.min_model_calls == 0 || self.min_model_calls > self.window_points {
            return Err((
                "monitor.min_model_calls",
                "must be in 1..=window_points".into(),
            ));
        }
        Ok(())
    }
}
