//! The reference profile a model package carries: fixed-bin histograms of
//! every feature and of the score, the event mix of the training data, how
//! far single training users strayed (`natural`), the joint surprise.

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
pub(super) const PSI_FLOOR: f64 = 1e-4;

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
