//! On-device monitoring: the reference profile a model package carries
//! (fixed-bin histograms of every feature and of the score, and the event
//! mix of the training data), and streaming monitors that compare the live
//! stream with it: the population stability index per feature and for the
//! score over a rolling window of decision points, the share of each event
//! type, refreshes per hour, model latency and errors, and jumps in the
//! event clock. A monitor that crosses its threshold raises one alert, and
//! another only after it has recovered. Everything is preallocated: O(1) per
//! event, O(features) per decision point, no allocation.

use serde::{Deserialize, Serialize};

use crate::event::EventType;

/// Metadata key (in ONNX `metadata_props`) holding the reference profile.
pub const META_REFERENCE_PROFILE: &str = "edgeintent.reference_profile";

/// The reference-profile format this build reads.
pub const PROFILE_VERSION: u32 = 1;

/// The most bins a histogram may have.
pub const MAX_BINS: usize = 32;

/// Bin frequencies are floored at this before the PSI's logarithm, so an
/// empty bin costs a bounded amount instead of infinity.
const PSI_FLOOR: f64 = 1e-4;

/// A fixed-bin histogram: `edges` (ascending) split the line into
/// `edges.len() + 1` bins, each closed on the right (`x <= edges[0]` is bin 0);
/// `freq` is each bin's share of the training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Histogram {
    /// Bin edges, ascending.
    pub edges: Vec<f32>,
    /// Share of rows per bin (sums to 1).
    pub freq: Vec<f64>,
}

impl Histogram {
    /// The bin of `x` (NaN falls in the last bin).
    pub fn bin(&self, x: f32) -> usize {
        if x.is_nan() {
            return self.edges.len();
        }
        self.edges.partition_point(|&e| e < x)
    }

    fn check(&self, what: &str) -> Result<(), String> {
        if self.freq.len() != self.edges.len() + 1 || self.freq.len() > MAX_BINS {
            return Err(format!(
                "{what}: {} edges need {} frequencies (at most {MAX_BINS} bins), got {}",
                self.edges.len(),
                self.edges.len() + 1,
                self.freq.len()
            ));
        }
        if !self.edges.iter().all(|e| e.is_finite()) || self.edges.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(format!(
                "{what}: edges must be finite and strictly ascending"
            ));
        }
        let total: f64 = self.freq.iter().sum();
        if self.freq.iter().any(|f| !(f.is_finite() && *f >= 0.0)) || (total - 1.0).abs() > 1e-3 {
            return Err(format!(
                "{what}: frequencies must be >= 0 and sum to 1 (they sum to {total})"
            ));
        }
        Ok(())
    }
}

/// One feature's reference histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureHistogram {
    /// The feature's name in the spec.
    pub name: String,
    /// Its histogram over the training rows.
    #[serde(flatten)]
    pub histogram: Histogram,
}

/// What the training data looked like, as the model package stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceProfile {
    /// [`PROFILE_VERSION`].
    pub version: u32,
    /// Training rows it was computed from.
    pub rows: u64,
    /// One histogram per feature, in spec order.
    pub features: Vec<FeatureHistogram>,
    /// The model's score on the training rows.
    #[serde(default)]
    pub score: Option<Histogram>,
    /// Each event type's share of the training events, by name.
    #[serde(default)]
    pub events: std::collections::BTreeMap<String, f64>,
    /// Share of zeros of each numeric event field (`scroll.dy_px`,
    /// `custom.value`, `search.query_len`) in the training events.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, f64>,
    /// The joint surprise of a window of decision points: its mean
    /// `-ln(reference share of each feature's bin)` summed over features.
    #[serde(default)]
    pub surprise: Option<Surprise>,
    /// How far the training users' own windows strayed from the reference.
    #[serde(default)]
    pub natural: Option<Natural>,
}

/// How far individual training users' windows strayed from the population's
/// reference: a device is judged against the worst of them, since one user
/// is not the population.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Natural {
    /// Decision points per window (the device's window then has this many).
    pub window_points: usize,
    /// Events per window of the event mix (likewise).
    pub event_window: usize,
    /// The highest window PSI per feature, and `score`.
    pub psi: std::collections::BTreeMap<String, f64>,
    /// The lowest and highest share / reference share per event type.
    pub events: std::collections::BTreeMap<String, [f64; 2]>,
    /// The most consecutive events without each type.
    #[serde(default)]
    pub gaps: std::collections::BTreeMap<String, u32>,
    /// The most consecutive decision points with a feature above its
    /// training maximum (the histogram's last edge).
    #[serde(default)]
    pub runs: std::collections::BTreeMap<String, u32>,
}

/// The reference for the joint surprise of a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Surprise {
    /// Decision points per window.
    pub window: usize,
    /// The highest window mean among the training users.
    pub threshold: f64,
}

/// The numeric event fields whose zeros are watched, in index order.
pub const FIELDS: [&str; 3] = ["scroll.dy_px", "custom.value", "search.query_len"];

impl ReferenceProfile {
    /// Parses a profile and checks it against the feature names, in order.
    pub fn parse(text: &str, names: &[&str]) -> Result<ReferenceProfile, String> {
        let p: ReferenceProfile =
            serde_json::from_str(text).map_err(|e| format!("not a reference profile: {e}"))?;
        if p.version != PROFILE_VERSION {
            return Err(format!(
                "version {} is not supported (this build reads {PROFILE_VERSION})",
                p.version
            ));
        }
        let got: Vec<&str> = p.features.iter().map(|f| f.name.as_str()).collect();
        if got != names {
            return Err(format!("its features {got:?} are not the spec's {names:?}"));
        }
        for f in &p.features {
            f.histogram.check(&f.name)?;
        }
        if let Some(s) = &p.score {
            s.check("score")?;
        }
        for (name, share) in &p.fields {
            if !FIELDS.contains(&name.as_str()) {
                return Err(format!(
                    "fields: unknown field {name:?} (known: {FIELDS:?})"
                ));
            }
            if !(share.is_finite() && (0.0..=1.0).contains(share)) {
                return Err(format!("fields.{name}: a share in [0, 1], got {share}"));
            }
        }
        if let Some(n) = &p.natural {
            if !(8..=4096).contains(&n.window_points) || !(16..=65_536).contains(&n.event_window) {
                return Err(
                    "natural: window_points in 8..=4096, event_window in 16..=65536".into(),
                );
            }
            let finite = n.psi.values().all(|v| v.is_finite() && *v >= 0.0)
                && n.events
                    .values()
                    .all(|[lo, hi]| lo.is_finite() && hi.is_finite() && 0.0 <= *lo && lo <= hi);
            if !finite {
                return Err("natural: PSIs >= 0 and event ranges 0 <= low <= high".into());
            }
        }
        if let Some(sp) = &p.surprise {
            if !((8..=4096).contains(&sp.window) && sp.threshold.is_finite() && sp.threshold > 0.0)
            {
                return Err("surprise: window in 8..=4096 and a positive threshold".into());
            }
        }
        for (name, share) in &p.events {
            if EventType::from_name(name).is_none() {
                return Err(format!("events: unknown event type {name:?}"));
            }
            if !(share.is_finite() && (0.0..=1.0).contains(share)) {
                return Err(format!("events.{name}: a share in [0, 1], got {share}"));
            }
        }
        Ok(p)
    }
}

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
        if self.min_model_calls == 0 || self.min_model_calls > self.window_points {
            return Err((
                "monitor.min_model_calls",
                "must be in 1..=window_points".into(),
            ));
        }
        Ok(())
    }
}

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

/// The reference, laid out for the hot path.
#[derive(Debug, Clone)]
struct Reference {
    edges: Vec<Box<[f32]>>,
    freq: Vec<Box<[f64]>>,
    /// Per column: its edges padded to [`MAX_BINS`] with `+inf`, so a bin is
    /// a count of edges below the value over a fixed width (vectorised).
    padded: Vec<[f32; MAX_BINS]>,
    /// At `column * MAX_BINS + bin`: `max(freq, PSI_FLOOR)` and its
    /// logarithm, for PSI, and `-ln(max(freq, 1e-3))`, the bin's surprise.
    floored: Box<[f64]>,
    ln_freq: Box<[f64]>,
    surprise_of: Box<[f64]>,
    /// Reference share per event type index.
    events: [f64; EventType::ALL.len()],
    /// Reference share of zeros per watched field.
    fields: [f64; FIELDS.len()],
    /// Window and threshold of the joint surprise.
    surprise: Option<(usize, f64)>,
}

const NO_BIN: u8 = u8::MAX;

/// Per-monitor alert state.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Flag {
    alerting: bool,
    value: Option<f64>,
    alerts: u64,
}

/// The state that changes over time (saved in snapshots).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MonitorSaved {
    bins: Box<[u8]>,
    ts: Box<[i64]>,
    latency_us: Box<[u32]>,
    model: Box<[u8]>,
    head: usize,
    len: usize,
    events: Box<[u8]>,
    ev_head: usize,
    ev_len: usize,
    refreshes: Box<[i64]>,
    rf_head: usize,
    rf_len: usize,
    flags: Box<[Flag]>,
    last_ts: Option<i64>,
    since_check: u32,
    /// The last 32 values of each watched field: bit set = zero.
    field_bits: [u32; 3],
    field_n: [u8; 3],
    surprise: Box<[f32]>,
    sp_head: usize,
    sp_len: usize,
    /// Events seen, and the count at each type's last event.
    seen: u64,
    last_of: [u64; 13],
    /// Consecutive decision points each feature was above its training maximum.
    runs: Box<[u32]>,
}

impl MonitorSaved {
    /// The sum of the joint-surprise ring.
    fn surprise_sum(&self) -> f64 {
        self.surprise.iter().map(|&v| f64::from(v)).sum()
    }
}

/// The streaming monitors of one runtime.
#[derive(Debug, Clone)]
pub(crate) struct Monitor {
    cfg: MonitorConfig,
    reference: Option<Reference>,
    /// Features plus the score: histogram columns.
    cols: usize,
    judged: Box<[bool]>,
    names: Vec<String>,
    max_refreshes: Option<u32>,
    counts: Box<[u32]>,
    ev_counts: [u32; EventType::ALL.len()],
    s: MonitorSaved,
    scratch: Box<[u32]>,
    /// `ln(c)` for every count `c` a window can hold (PSI without logarithms).
    ln_count: Box<[f64]>,
    /// Model calls in the window, derived from `s` (latency and errors).
    calls: CallWindow,
    /// Per feature: the run above its training maximum that crosses its
    /// range monitor (`u32::MAX`: not judged).
    run_limit: Box<[u32]>,
    /// Alerting monitors whose kind sets the model aside, and alerting range
    /// monitors: derived from the flags, kept as they change.
    alerting_fallback: u32,
    alerting_ranges: u32,
    /// The sum of the joint-surprise ring (derived; exact once a lap).
    sp_sum: f64,
    fired: [Option<Alert>; 8],
    /// Per monitor: the threshold (for event types, the vanish threshold).
    thresholds: Box<[f64]>,
    /// Per event type: the explode threshold.
    explode: [f64; EventType::ALL.len()],
    /// Per event type: the gap (in events) that raises its gap alert; 0: not judged.
    gap_limit: [u64; EventType::ALL.len()],
}

/// Monitor indices: one per feature (drift), the score, one per event type,
/// then refresh rate, latency, errors, clock.
fn layout(features: usize) -> (usize, usize, usize, usize, usize, usize, usize) {
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
fn ranges_start(features: usize) -> usize {
    gaps_start(features) + EventType::ALL.len()
}

/// The first event-gap monitor's index (one per event type).
fn gaps_start(features: usize) -> usize {
    joint_and_fields(features).1 + FIELDS.len()
}

/// The joint-surprise monitor's index, and the first field monitor's.
fn joint_and_fields(features: usize) -> (usize, usize) {
    let clock = layout(features).5;
    (clock + 1, clock + 2)
}

impl Monitor {
    /// Monitors for `names` (the spec's features), with the model package's
    /// `profile` when it has one; `budget` is the policy's hourly budget.
    pub(crate) fn new(
        cfg: &MonitorConfig,
        names: &[&str],
        profile: Option<&ReferenceProfile>,
        budget: u32,
    ) -> Monitor {
        let f = names.len();
        let cols = f + 1;
        let (score_i, events_i, _, _, _, _, total) = layout(f);
        let reference = profile.map(|p| {
            let mut events = [0.0; EventType::ALL.len()];
            for (name, share) in &p.events {
                if let Some(t) = EventType::from_name(name) {
                    events[t.index()] = *share;
                }
            }
            let mut edges: Vec<Box<[f32]>> = p
                .features
                .iter()
                .map(|h| h.histogram.edges.clone().into())
                .collect();
            let mut freq: Vec<Box<[f64]>> = p
                .features
                .iter()
                .map(|h| h.histogram.freq.clone().into())
                .collect();
            match &p.score {
                Some(s) => {
                    edges.push(s.edges.clone().into());
                    freq.push(s.freq.clone().into());
                }
                None => {
                    edges.push(Box::new([]));
                    freq.push(Box::new([1.0]));
                }
            }
            let mut fields = [0.0; FIELDS.len()];
            for (i, f) in FIELDS.iter().enumerate() {
                fields[i] = p.fields.get(*f).copied().unwrap_or(0.0);
            }
            let surprise = p.surprise.as_ref().map(|sp| (sp.window, sp.threshold));
            // Logarithms of fixed shares, once: a decision point then takes none.
            let table = |f: &dyn Fn(f64) -> f64| -> Box<[f64]> {
                let mut t = vec![0.0; freq.len() * MAX_BINS];
                for (c, col) in freq.iter().enumerate() {
                    for (b, &e) in col.iter().enumerate() {
                        t[c * MAX_BINS + b] = f(e);
                    }
                }
                t.into_boxed_slice()
            };
            let floored = table(&|e| e.max(PSI_FLOOR));
            let ln_freq = table(&|e| e.max(PSI_FLOOR).ln());
            let padded = edges
                .iter()
                .map(|col| {
                    let mut p = [f32::INFINITY; MAX_BINS];
                    p[..col.len()].copy_from_slice(col);
                    p
                })
                .collect();
            let surprise_of = table(&|e| -e.max(1e-3).ln());
            Reference {
                edges,
                freq,
                padded,
                floored,
                ln_freq,
                surprise_of,
                events,
                fields,
                surprise,
            }
        });
        let mut judged = vec![false; total].into_boxed_slice();
        if let Some(r) = &reference {
            for (i, name) in names.iter().enumerate() {
                judged[i] = !cfg.ignore_features.iter().any(|n| n == name);
            }
            judged[score_i] = profile.is_some_and(|p| p.score.is_some());
            for t in EventType::ALL {
                // Any type training saw can explode; only common ones can vanish.
                judged[events_i + t.index()] = r.events[t.index()] > 0.0;
            }
        }
        let max_refreshes = cfg
            .max_refreshes_per_hour
            .or((budget > 0).then_some(budget))
            .filter(|&m| m > 0);
        let (_, _, refresh_i, latency_i, errors_i, clock_i, _) = layout(f);
        judged[refresh_i] = max_refreshes.is_some();
        judged[latency_i] = true;
        judged[errors_i] = true;
        judged[clock_i] = true;
        let (joint_i, fields_i) = joint_and_fields(f);
        if let Some(r) = &reference {
            judged[joint_i] = r.surprise.is_some();
            for k in 0..FIELDS.len() {
                judged[fields_i + k] = r.fields[k] < cfg.zero_share / 2.0;
            }
        }
        let sp_window = reference
            .as_ref()
            .and_then(|r| r.surprise)
            .map_or(0, |(w, _)| w);
        let mut out_names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        out_names.push("score".into());
        out_names.extend(EventType::ALL.iter().map(|t| t.name().to_owned()));
        out_names.extend(["per_hour", "p99", "rate", "jump", "joint"].map(String::from));
        out_names.extend(FIELDS.iter().map(|f| (*f).to_owned()));
        out_names.extend(EventType::ALL.iter().map(|t| format!("{}_gap", t.name())));
        out_names.extend(names.iter().map(|n| format!("{n}_range")));
        let natural = profile.and_then(|p| p.natural.as_ref());
        let w = natural.map_or(cfg.window_points, |n| n.window_points);
        let event_window = natural.map_or(cfg.event_window, |n| n.event_window);
        let mut thresholds = vec![0.0; total].into_boxed_slice();
        let mut explode = [cfg.event_high; EventType::ALL.len()];
        for (i, name) in names.iter().enumerate() {
            let nat = natural
                .and_then(|n| n.psi.get(*name))
                .copied()
                .unwrap_or(0.0);
            thresholds[i] = cfg.psi_threshold.max(nat * cfg.psi_margin);
        }
        let nat_score = natural
            .and_then(|n| n.psi.get("score"))
            .copied()
            .unwrap_or(0.0);
        thresholds[score_i] = cfg.psi_threshold.max(nat_score * cfg.psi_margin);
        for t in EventType::ALL {
            let range = natural.and_then(|n| n.events.get(t.name()));
            thresholds[events_i + t.index()] =
                range.map_or(cfg.event_low, |[lo, _]| lo * cfg.event_margin);
            explode[t.index()] =
                range.map_or(cfg.event_high, |[_, hi]| hi / cfg.event_margin.max(1e-9));
        }
        {
            let (_, _, refresh_i, latency_i, errors_i, clock_i, _) = layout(f);
            let (joint_i, fields_i) = joint_and_fields(f);
            thresholds[refresh_i] = max_refreshes.map_or(0.0, |m| f64::from(m) + 1.0);
            thresholds[latency_i] = cfg.latency_p99_ms;
            thresholds[errors_i] = cfg.error_rate;
            thresholds[clock_i] = cfg.max_clock_jump_s;
            thresholds[joint_i] = reference
                .as_ref()
                .and_then(|r| r.surprise)
                .map_or(0.0, |(_, t)| t * cfg.surprise_factor);
            for k in 0..FIELDS.len() {
                thresholds[fields_i + k] = cfg.zero_share;
            }
            let g0 = gaps_start(f);
            for t in EventType::ALL {
                let gap = natural.and_then(|n| n.gaps.get(t.name())).copied();
                let common = reference
                    .as_ref()
                    .is_some_and(|r| r.events[t.index()] >= cfg.event_min_share);
                thresholds[g0 + t.index()] =
                    gap.map_or(0.0, |g| (f64::from(g) * cfg.gap_margin).ceil());
                judged[g0 + t.index()] = common && gap.is_some();
            }
            let r0 = ranges_start(f);
            for (i, name) in names.iter().enumerate() {
                let run = natural.and_then(|n| n.runs.get(*name)).copied();
                let has_top = profile.is_some_and(|p| !p.features[i].histogram.edges.is_empty());
                thresholds[r0 + i] = run.map_or(0.0, |r| {
                    (f64::from(r) * cfg.gap_margin)
                        .ceil()
                        .max(f64::from(cfg.min_range_run))
                });
                judged[r0 + i] = has_top && run.is_some() && judged[i];
            }
        }
        let g0 = gaps_start(f);
        let mut gap_limit = [0u64; EventType::ALL.len()];
        for t in EventType::ALL {
            if judged[g0 + t.index()] {
                gap_limit[t.index()] = thresholds[g0 + t.index()].max(1.0) as u64;
            }
        }
        let r0 = ranges_start(f);
        let run_limit = (0..f)
            .map(|c| match judged[r0 + c] {
                true => thresholds[r0 + c].ceil().clamp(0.0, f64::from(u32::MAX)) as u32,
                false => u32::MAX,
            })
            .collect();
        Monitor {
            gap_limit,
            thresholds,
            explode,
            cols,
            judged,
            names: out_names,
            max_refreshes,
            counts: vec![0; cols * MAX_BINS].into_boxed_slice(),
            ev_counts: [0; EventType::ALL.len()],
            s: MonitorSaved {
                bins: vec![NO_BIN; w * cols].into_boxed_slice(),
                ts: vec![0; w].into_boxed_slice(),
                latency_us: vec![0; w].into_boxed_slice(),
                model: vec![0; w].into_boxed_slice(),
                head: 0,
                len: 0,
                events: vec![0; event_window].into_boxed_slice(),
                ev_head: 0,
                ev_len: 0,
                refreshes: vec![0; max_refreshes.map_or(0, |m| m as usize + 1)].into_boxed_slice(),
                rf_head: 0,
                rf_len: 0,
                flags: vec![Flag::default(); total].into_boxed_slice(),
                last_ts: None,
                since_check: 0,
                field_bits: [0; FIELDS.len()],
                field_n: [0; FIELDS.len()],
                surprise: vec![0.0; sp_window].into_boxed_slice(),
                sp_head: 0,
                sp_len: 0,
                seen: 0,
                last_of: [0; EventType::ALL.len()],
                runs: vec![0; f].into_boxed_slice(),
            },
            scratch: vec![0; w].into_boxed_slice(),
            ln_count: (0..=w).map(|c| (c as f64).ln()).collect(),
            calls: CallWindow::default(),
            run_limit,
            alerting_fallback: 0,
            alerting_ranges: 0,
            sp_sum: 0.0,
            fired: [None; 8],
            reference,
            cfg: cfg.clone(),
        }
    }

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
    fn set_alerting(&mut self, i: usize, on: bool) {
        if self.s.flags[i].alerting != on {
            self.s.flags[i].alerting = on;
            self.count_alerting();
        }
    }

    /// Recounts the alerting monitors that set the model aside, and the
    /// alerting range monitors (after a change or a restore: both rare).
    fn count_alerting(&mut self) {
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
    fn judge(&mut self, i: usize, value: f64, threshold: f64, above: bool) {
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
            self.s.field_bits[k] = self.s.field_bits[k] << 1 | u32::from(is_zero);
            self.s.field_n[k] = self.s.field_n[k].saturating_add(1).min(32);
            let (_, fields_i) = joint_and_fields(self.cols - 1);
            if self.s.field_n[k] == 32 && self.judged[fields_i + k] {
                let share = f64::from(self.s.field_bits[k].count_ones()) / 32.0;
                self.judge(fields_i + k, share, self.thresholds[fields_i + k], true);
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
        self.s.last_of[ty.index()] = self.s.seen;
        let g0 = gaps_start(self.cols - 1);
        if self.s.flags[g0 + ty.index()].alerting {
            self.judge(g0 + ty.index(), 0.0, self.thresholds[g0 + ty.index()], true);
        }
        for t in 0..EventType::ALL.len() {
            let gap = self.s.seen - self.s.last_of[t];
            if gap == self.gap_limit[t] && gap != 0 {
                self.judge(g0 + t, gap as f64, self.thresholds[g0 + t], true);
            }
        }
        let n = self.s.events.len();
        let mut evicted = None;
        if self.s.ev_len == n {
            let old = self.s.events[self.s.ev_head];
            self.ev_counts[old as usize] -= 1;
            evicted = Some(old as usize);
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
            if self.s.flags[i].alerting {
                let back =
                    ratio >= low / self.cfg.recover.max(1e-9) && ratio <= high * self.cfg.recover;
                if back {
                    self.set_alerting(i, false);
                }
            } else if ratio < low && refs[t] >= self.cfg.event_min_share {
                self.judge(i, ratio, low, false);
            } else if ratio > high {
                self.judge(i, ratio, high, true);
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
            }
            self.calls.remove(self.s.model[old], self.s.latency_us[old]);
            self.s.len -= 1;
        }
        let row = self.s.head;
        let mut joint = None;
        let mut ranges_to_judge = false;
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
                self.s.runs[c] = if above {
                    self.s.runs[c].saturating_add(1)
                } else {
                    0
                };
                crossed |= self.s.runs[c] >= self.run_limit[c];
                surprise += r.surprise_of[c * MAX_BINS + b];
            }
            ranges_to_judge = crossed || self.alerting_ranges > 0;
            if let Some((w, _)) = r.surprise {
                let at = self.s.sp_head;
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
        if let Some(mean) = joint {
            let (joint_i, _) = joint_and_fields(cols - 1);
            self.judge(joint_i, mean, self.thresholds[joint_i], true);
        }
        if ranges_to_judge {
            // Only a crossing, or a run while alerting (it may recover),
            // reaches `judge`; stats read the runs themselves.
            let r0 = ranges_start(cols - 1);
            for c in 0..cols - 1 {
                let i = r0 + c;
                if self.judged[i]
                    && (self.s.runs[c] >= self.run_limit[c] || self.s.flags[i].alerting)
                {
                    let run = f64::from(self.s.runs[c]);
                    self.judge(i, run, self.thresholds[i], true);
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

    fn check_window(&mut self) {
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
                    self.judge(i, v, self.thresholds[i], true);
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
    fn nth_latency_by_scan(&mut self, k: usize) -> u32 {
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
                }
            })
            .collect();
        let histograms = match &self.reference {
            None => Vec::new(),
            Some(r) => (0..self.cols)
                .map(|c| LiveHistogram {
                    name: self.names[c].clone(),
                    counts: self.counts[c * MAX_BINS..c * MAX_BINS + r.freq[c].len()].to_vec(),
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
        }
    }

    fn threshold(&self, i: usize) -> f64 {
        self.thresholds[i]
    }

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

/// What the model did at a decision point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ModelCall {
    /// Not consulted.
    Skipped = 0,
    /// Ran and scored.
    Ran = 1,
    /// Failed.
    Failed = 2,
}

fn kind_of(i: usize, features: usize) -> MonitorKind {
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

/// The bin of `x` among `n` ascending edges padded with `+inf`: how many
/// edges lie below it (NaN: the last bin). Counted over the fixed width
/// without branches: a binary search over a few edges mispredicts.
#[inline(always)]
fn bin_of(padded: &[f32; MAX_BINS], n: usize, x: f32) -> usize {
    if x.is_nan() {
        return n;
    }
    padded.iter().map(|&e| u32::from(e < x)).sum::<u32>() as usize
}

/// The population stability index of `counts` (out of `total`) against
/// reference shares floored at [`PSI_FLOOR`] (`floored`, and their
/// logarithms `ln_freq`); `ln_count[c]` is `ln(c)`.
fn psi(counts: &[u32], total: u32, floored: &[f64], ln_freq: &[f64], ln_count: &[f64]) -> f64 {
    let inv_n = 1.0 / f64::from(total.max(1));
    let ln_n = ln_count[total.max(1) as usize];
    let ln_floor = PSI_FLOOR.ln();
    let at_least = |v: f64, floor: f64| if v > floor { v } else { floor };
    counts
        .iter()
        .zip(floored.iter().zip(ln_freq))
        .map(|(&c, (&e, &ln_e))| {
            let a = at_least(f64::from(c) * inv_n, PSI_FLOOR);
            // ln(max(c / n, floor)) = max(ln c - ln n, ln floor): ln is monotone.
            let ln_a = at_least(ln_count[c as usize] - ln_n, ln_floor);
            (a - e) * (ln_a - ln_e)
        })
        .sum()
}

/// Latency exact to the microsecond below this; slower calls are counted
/// apart and a quantile among them falls back to a scan of the window.
const EXACT_LATENCY_US: usize = 1024;

/// The window's model calls (ran or failed): how many, how many failed,
/// and a histogram of their latencies, kept as points enter and leave, so
/// a p99 needs no sort.
#[derive(Debug, Clone)]
struct CallWindow {
    calls: u32,
    failed: u32,
    /// Calls per latency in µs, below [`EXACT_LATENCY_US`].
    by_us: Box<[u32]>,
    slower: u32,
}

impl Default for CallWindow {
    fn default() -> Self {
        CallWindow {
            calls: 0,
            failed: 0,
            by_us: vec![0; EXACT_LATENCY_US].into_boxed_slice(),
            slower: 0,
        }
    }
}

impl CallWindow {
    fn slot(&mut self, latency_us: u32) -> &mut u32 {
        match self.by_us.get_mut(latency_us as usize) {
            Some(n) => n,
            None => &mut self.slower,
        }
    }

    fn add(&mut self, model: u8, latency_us: u32) {
        if model == ModelCall::Skipped as u8 {
            return;
        }
        self.calls += 1;
        self.failed += u32::from(model == ModelCall::Failed as u8);
        *self.slot(latency_us) += 1;
    }

    fn remove(&mut self, model: u8, latency_us: u32) {
        if model == ModelCall::Skipped as u8 {
            return;
        }
        self.calls -= 1;
        self.failed -= u32::from(model == ModelCall::Failed as u8);
        *self.slot(latency_us) -= 1;
    }

    /// The `k`-th smallest latency (from 0), when it is below the exact limit.
    fn nth_smallest(&self, k: usize) -> Option<u32> {
        let mut seen = 0usize;
        for (us, &n) in self.by_us.iter().enumerate() {
            seen += n as usize;
            if seen > k {
                return Some(us as u32);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> ReferenceProfile {
        let h = |edges: Vec<f32>| {
            let n = edges.len() + 1;
            Histogram {
                edges,
                freq: vec![1.0 / n as f64; n],
            }
        };
        ReferenceProfile {
            version: 1,
            rows: 1000,
            features: vec![FeatureHistogram {
                name: "x".into(),
                histogram: h(vec![0.25, 0.5, 0.75]),
            }],
            score: Some(h(vec![0.5])),
            events: [("scroll".to_string(), 0.5), ("click".to_string(), 0.5)].into(),
            fields: Default::default(),
            surprise: None,
            natural: None,
        }
    }

    #[test]
    fn a_profile_is_checked_against_the_spec() {
        let text = serde_json::to_string(&profile()).unwrap();
        assert!(ReferenceProfile::parse(&text, &["x"]).is_ok());
        assert!(ReferenceProfile::parse(&text, &["y"])
            .unwrap_err()
            .contains("not the spec's"));
        let mut bad = profile();
        bad.features[0].histogram.edges = vec![0.5, 0.25, 0.75];
        let e = ReferenceProfile::parse(&serde_json::to_string(&bad).unwrap(), &["x"]).unwrap_err();
        assert!(e.contains("ascending"), "{e}");
    }

    #[test]
    fn drift_alerts_once_and_again_only_after_recovering() {
        let cfg = MonitorConfig {
            enabled: true,
            window_points: 40,
            ..MonitorConfig::default()
        };
        let p = profile();
        let mut m = Monitor::new(&cfg, &["x"], Some(&p), 0);
        let mut alerts = Vec::new();
        fn feed(m: &mut Monitor, alerts: &mut Vec<(i64, MonitorKind)>, t: i64, x: f32) {
            m.on_decision_point(t, &[x], None, 1000, ModelCall::Skipped);
            alerts.extend(m.take_alerts().map(|a| (t, a.kind)));
        }
        // In line with the reference: uniform over the four bins.
        for t in 0..200 {
            feed(&mut m, &mut alerts, t, (t % 4) as f32 * 0.25 + 0.1);
        }
        assert!(alerts.is_empty(), "{alerts:?}");
        // A producer breaks: every value 0.
        for t in 200..260 {
            feed(&mut m, &mut alerts, t, 0.0);
        }
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].1, MonitorKind::Drift);
        assert!(
            alerts[0].0 < 230,
            "within the window's first half: {alerts:?}"
        );
        assert!(m.stats().monitors[0].alerting);
        // Recovers, then breaks again: a second alert.
        for t in 260..400 {
            feed(&mut m, &mut alerts, t, (t % 4) as f32 * 0.25 + 0.1);
        }
        assert!(!m.stats().monitors[0].alerting);
        for t in 400..460 {
            feed(&mut m, &mut alerts, t, 0.9);
        }
        assert_eq!(alerts.len(), 2, "{alerts:?}");
    }

    #[test]
    fn a_vanished_event_type_and_a_clock_jump_alert() {
        let cfg = MonitorConfig {
            enabled: true,
            event_window: 100,
            ..MonitorConfig::default()
        };
        let mut m = Monitor::new(&cfg, &["x"], Some(&profile()), 0);
        for t in 0..300 {
            let ty = if t % 2 == 0 {
                EventType::Scroll
            } else {
                EventType::Click
            };
            m.on_event(t, ty, &crate::event::EventKind::AppForeground);
        }
        let early: Vec<Alert> = m.take_alerts().collect();
        assert!(
            early.is_empty(),
            "{early:?} {:?}",
            early.iter().map(|a| m.name(a.monitor)).collect::<Vec<_>>()
        );
        for t in 300..400 {
            m.on_event(
                t,
                EventType::Scroll,
                &crate::event::EventKind::AppForeground,
            );
        }
        let a: Vec<Alert> = m.take_alerts().collect();
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(
            (a[0].kind, m.name(a[0].monitor)),
            (MonitorKind::EventRate, "click")
        );
        m.on_event(
            400 + 40 * 86_400_000,
            EventType::Scroll,
            &crate::event::EventKind::AppForeground,
        );
        let a: Vec<Alert> = m.take_alerts().collect();
        assert_eq!(a[0].kind, MonitorKind::Clock);
    }

    #[test]
    fn failing_model_calls_set_the_model_aside_until_they_recover() {
        let cfg = MonitorConfig {
            enabled: true,
            window_points: 40,
            ..MonitorConfig::default()
        };
        let mut m = Monitor::new(&cfg, &["x"], None, 10);
        for t in 0..40 {
            m.on_decision_point(t, &[0.0], Some(0.5), 1000, ModelCall::Ran);
        }
        assert!(!m.model_set_aside());
        for t in 40..50 {
            m.on_decision_point(t, &[0.0], None, 1000, ModelCall::Failed);
        }
        assert!(m.model_set_aside());
        assert_eq!(
            m.take_alerts().next().map(|a| a.kind),
            Some(MonitorKind::ModelErrors)
        );
        for t in 50..200 {
            m.on_decision_point(t, &[0.0], Some(0.5), 1000, ModelCall::Ran);
        }
        assert!(!m.model_set_aside());
        // Eleven refreshes within an hour against a budget of 10.
        for k in 0..11 {
            m.on_refresh(k * 60_000);
        }
        assert_eq!(
            m.take_alerts().next().map(|a| a.kind),
            Some(MonitorKind::RefreshRate)
        );
    }

    /// The counts kept as points enter and leave (a full window overwriting
    /// its oldest row in place, or points leaving by age) are those a
    /// recount of the window's rows gives, as a restore computes them.
    #[test]
    fn window_counts_match_a_recount_of_its_rows() {
        for window_s in [None, Some(3.0)] {
            let cfg = MonitorConfig {
                window_points: 16,
                window_s,
                ..MonitorConfig::default()
            };
            let mut m = Monitor::new(&cfg, &["x"], Some(&profile()), 0);
            let mut t = 0;
            for k in 0..500u32 {
                // Uneven gaps, so the age limit evicts several points at once.
                t += i64::from(1 + (k * 7919) % 1300);
                let x = (k * 37 % 100) as f32 / 100.0;
                let score = (k % 3 != 0).then_some((k * 13 % 100) as f32 / 100.0);
                m.on_decision_point(t, &[x], score, 1000, ModelCall::Ran);
                let saved = m.s.clone();
                let kept = m.counts.clone();
                m.restore(saved).unwrap();
                assert_eq!(m.counts, kept, "point {k}, window_s {window_s:?}");
            }
        }
    }

    proptest::proptest! {
        /// The call window's p99 (histogram, scan past its range) is the
        /// sort's, and PSI from the log tables is the direct formula's.
        #[test]
        fn window_quantiles_and_psi_match_their_plain_forms(
            calls in proptest::collection::vec((0u8..3, 0u32..1500), 1..300),
            evict in 0usize..300,
        ) {
            let mut m = Monitor::new(&MonitorConfig::default(), &["x"], None, 0);
            let mut kept = Vec::new();
            for (i, &(model, us)) in calls.iter().enumerate() {
                m.calls.add(model, us);
                if i < evict {
                    m.calls.remove(model, us);
                } else if model != ModelCall::Skipped as u8 {
                    kept.push(us);
                }
            }
            proptest::prop_assert_eq!(m.calls.calls as usize, kept.len());
            kept.sort_unstable();
            for (k, &want) in kept.iter().enumerate() {
                match m.calls.nth_smallest(k) {
                    Some(v) => proptest::prop_assert_eq!(v, want),
                    None => proptest::prop_assert!(want as usize >= EXACT_LATENCY_US),
                }
            }

            let counts: Vec<u32> = calls.iter().map(|&(_, us)| us % 7).take(6).collect();
            let total: u32 = counts.iter().sum();
            let freq = [0.5, 0.2, 0.0, 0.1, 0.15, 0.05];
            let freq = &freq[..counts.len()];
            let ln_freq: Vec<f64> = freq.iter().map(|e: &f64| e.max(PSI_FLOOR).ln()).collect();
            let ln_count: Vec<f64> = (0..=total.max(1)).map(|c| (c as f64).ln()).collect();
            let plain: f64 = counts.iter().zip(freq).map(|(&c, &e)| {
                let a = (f64::from(c) / f64::from(total.max(1))).max(PSI_FLOOR);
                let e = e.max(PSI_FLOOR);
                (a - e) * (a / e).ln()
            }).sum();
            let floored: Vec<f64> = freq.iter().map(|e: &f64| e.max(PSI_FLOOR)).collect();
            let fast = psi(&counts, total, &floored, &ln_freq, &ln_count);
            proptest::prop_assert!((fast - plain).abs() <= 1e-12 * plain.abs().max(1.0), "{} vs {}", fast, plain);
        }

        /// The fixed-width bin count is the profile's own binary search.
        #[test]
        fn padded_bins_match_the_histogram(
            edges in proptest::collection::btree_set(-1000i32..1000, 0..MAX_BINS),
            x in proptest::prop_oneof![proptest::strategy::Strategy::prop_map(-1100i32..1100, |v| v as f32 / 10.0), proptest::strategy::Just(f32::NAN), proptest::strategy::Just(f32::INFINITY)],
        ) {
            let edges: Vec<f32> = edges.into_iter().map(|e| e as f32 / 10.0).collect();
            let h = Histogram { freq: vec![0.0; edges.len() + 1], edges: edges.clone() };
            let mut padded = [f32::INFINITY; MAX_BINS];
            padded[..edges.len()].copy_from_slice(&edges);
            proptest::prop_assert_eq!(bin_of(&padded, edges.len(), x), h.bin(x));
        }
    }
}
