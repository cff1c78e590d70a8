//! The feature spec: which features a model consumes, in which order, how
//! each is computed, and the hash that names it.

use serde::{Deserialize, Serialize};

use crate::hash::fnv1a64;

use crate::event::EventType;

/// The spec file format version this build reads.
pub const SPEC_FORMAT: u32 = 1;

/// Which features a model consumes, in which order, and how each is computed.
///
/// ```
/// let spec = edgeintent::FeatureSpec::from_json(r#"{
///   "version": "demo-1",
///   "features": [
///     {"name": "scrolls_10s", "kind": "window_count", "event": "scroll", "window_s": 10},
///     {"name": "since_click", "kind": "since_last", "event": "click"}
///   ]
/// }"#).unwrap();
/// assert_eq!(spec.names().count(), 2);
/// assert!(spec.hash().starts_with("fnv1a64:"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    /// Spec file format version; this version of edgeintent reads format 1.
    #[serde(default = "default_format")]
    pub format: u32,
    /// Version label chosen by whoever edits the spec (stored in models trained on it).
    pub version: String,
    /// Offset of the user's local time from UTC, for time-of-day features.
    #[serde(default)]
    pub utc_offset_min: i32,
    /// Length of the last-N event-type sequence input (0: no sequence input).
    #[serde(default)]
    pub sequence_length: usize,
    /// The app's page vocabulary (learned from its logs by `fit`): a feature
    /// whose `page` is [`OTHER_PAGE`] matches every page not listed here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<String>,
    /// The features, in model input order.
    pub features: Vec<FeatureDef>,
}

/// The `page` a feature names to match every page outside the spec's
/// [`FeatureSpec::pages`] vocabulary (pages an app added after training).
pub const OTHER_PAGE: &str = "(other)";

/// Most pages a vocabulary may list.
pub const MAX_PAGES: usize = 256;

fn default_format() -> u32 {
    SPEC_FORMAT
}

/// One named feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDef {
    /// Column name (unique within the spec).
    pub name: String,
    /// How the value is computed.
    #[serde(flatten)]
    pub kind: FeatureKind,
}

/// How a feature is computed. Times are in seconds; durations are reported as
/// `ln(1 + seconds)`, capped, so that a model sees a bounded, smooth input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureKind {
    /// Number of matching events in the last `window_s` seconds, at a resolution
    /// of `window_s / buckets`.
    WindowCount {
        /// Event type.
        event: EventType,
        /// Only events on this page (for types that name a page).
        #[serde(default)]
        page: Option<String>,
        /// Window length in seconds.
        window_s: f64,
        /// Time buckets in the window.
        #[serde(default = "default_buckets")]
        buckets: u32,
    },
    /// `ln(1 + seconds)` since the last matching event; `ln(1 + cap_s)` if none.
    SinceLast {
        /// Event type.
        event: EventType,
        /// Only events on this page.
        #[serde(default)]
        page: Option<String>,
        /// Cap in seconds.
        #[serde(default = "default_cap")]
        cap_s: f64,
    },
    /// Exponentially decayed sum of matching events (each weighing `weight`)
    /// with half-life `half_life_s`.
    DecayedRate {
        /// Event type.
        event: EventType,
        /// Only events on this page.
        #[serde(default)]
        page: Option<String>,
        /// Half-life in seconds.
        half_life_s: f64,
        /// What each event adds.
        #[serde(default)]
        weight: Weight,
    },
    /// `ln(1 + n)` where n counts matching events since the last `reset_on` event.
    CountSince {
        /// Event type counted.
        event: EventType,
        /// Only events on this page.
        #[serde(default)]
        page: Option<String>,
        /// Event type that resets the count.
        reset_on: EventType,
    },
    /// `ln(1 + seconds)` since the session started (last `app_foreground`).
    SessionAge {
        /// Cap in seconds.
        #[serde(default = "default_cap")]
        cap_s: f64,
    },
    /// `ln(1 + seconds)` the app spent in the background before this session.
    Absence {
        /// Cap in seconds.
        #[serde(default = "default_cap")]
        cap_s: f64,
    },
    /// `ln(1 + n)` homepage views in this session.
    HomeViewsSession,
    /// `ln(1 + seconds)` since the content was last refreshed.
    SinceRefresh {
        /// Cap in seconds.
        #[serde(default = "default_cap")]
        cap_s: f64,
    },
    /// Share of the items in the latest exposure that had been exposed before (0..1).
    ExposureNovelty,
    /// 1 while the homepage is shown, else 0.
    HomeVisible,
    /// Local time of day on the unit circle.
    TimeOfDay {
        /// Which coordinate.
        part: CyclicPart,
    },
    /// Local day of week on the unit circle.
    DayOfWeek {
        /// Which coordinate.
        part: CyclicPart,
    },
    /// `ln(1 + n)` where n counts matching events since the previous home
    /// view: while the homepage is shown, the interval that ended with the
    /// view now shown plus what happened on it since; elsewhere, since the
    /// last home view. What the user did between two looks at the feed.
    IntervalCount {
        /// Event type.
        event: EventType,
        /// Only events on this page ([`OTHER_PAGE`]: pages outside the vocabulary).
        #[serde(default)]
        page: Option<String>,
    },
    /// `ln(1 + seconds)` since the previous home view (the one before the
    /// view now shown, while the homepage is shown); `ln(1 + cap_s)` if none.
    SinceHomeView {
        /// Cap in seconds.
        #[serde(default = "default_cap")]
        cap_s: f64,
    },
    /// `ln(1 + seconds)` of the mean gap between the last `events` events of
    /// this session (the user's pace); `ln(1 + cap_s)` before two events.
    MeanGap {
        /// How many recent gaps to average.
        #[serde(default = "default_gaps")]
        events: u32,
        /// Cap in seconds.
        #[serde(default = "default_gap_cap")]
        cap_s: f64,
    },
}

fn default_gaps() -> u32 {
    8
}

fn default_gap_cap() -> f64 {
    3_600.0
}

fn default_buckets() -> u32 {
    20
}

fn default_cap() -> f64 {
    86_400.0
}

/// What one event adds to a [`FeatureKind::DecayedRate`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weight {
    /// 1 per event.
    #[default]
    Count,
    /// `|dy_px| / 1000` (scroll events only).
    AbsDyKpx,
    /// The `value` of a `custom` event (0 when absent).
    Value,
}

/// A coordinate on the unit circle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CyclicPart {
    /// sin(2π · phase)
    Sin,
    /// cos(2π · phase)
    Cos,
}

/// What is wrong with a feature spec.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The JSON does not describe a spec.
    #[error("feature spec is not valid: {0}")]
    Json(String),
    /// A field holds a value the runtime cannot use.
    #[error("feature spec: feature `{feature}`: {why}")]
    Invalid {
        /// The feature's name (or `<spec>` for spec-level fields).
        feature: String,
        /// What is wrong and what is expected.
        why: String,
    },
}

impl FeatureSpec {
    /// Parses and validates a spec. Event names become [`EventType`]s here: an
    /// unknown name is an error naming the feature (with the type it most
    /// likely meant), never a silent default.
    pub fn from_json(text: &str) -> Result<FeatureSpec, SpecError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| SpecError::Json(e.to_string()))?;
        check_event_names(&value)?;
        let spec: FeatureSpec =
            serde_json::from_value(value).map_err(|e| SpecError::Json(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks names, event types and numeric parameters.
    pub fn validate(&self) -> Result<(), SpecError> {
        let spec_err = |why: String| SpecError::Invalid {
            feature: "<spec>".into(),
            why,
        };
        if self.format != SPEC_FORMAT {
            return Err(spec_err(format!(
                "format {} is not supported (this build reads format {SPEC_FORMAT})",
                self.format
            )));
        }
        if self.features.is_empty() {
            return Err(spec_err("`features` is empty".into()));
        }
        if self.sequence_length > 1024 {
            return Err(spec_err("`sequence_length` must be at most 1024".into()));
        }
        if self.utc_offset_min.abs() > 14 * 60 {
            return Err(spec_err("`utc_offset_min` must be within ±840".into()));
        }
        if self.pages.len() > MAX_PAGES {
            return Err(spec_err(format!(
                "`pages` lists {} pages; at most {MAX_PAGES}",
                self.pages.len()
            )));
        }
        for (i, p) in self.pages.iter().enumerate() {
            if p.is_empty() || p == OTHER_PAGE || self.pages[..i].contains(p) {
                return Err(spec_err(format!(
                    "`pages`: `{p}` is empty, reserved or listed twice"
                )));
            }
        }
        for (i, f) in self.features.iter().enumerate() {
            let bad = |why: String| SpecError::Invalid {
                feature: f.name.clone(),
                why,
            };
            if f.name.is_empty() {
                return Err(SpecError::Invalid {
                    feature: format!("#{i}"),
                    why: "name is empty".into(),
                });
            }
            if self.features[..i].iter().any(|g| g.name == f.name) {
                return Err(bad("name is used twice".into()));
            }
            let positive = |what: &str, v: f64| {
                if v.is_finite() && v > 0.0 {
                    Ok(())
                } else {
                    Err(bad(format!(
                        "`{what}` must be a positive number of seconds, got {v}"
                    )))
                }
            };
            match &f.kind {
                FeatureKind::WindowCount {
                    window_s, buckets, ..
                } => {
                    positive("window_s", *window_s)?;
                    if !(1..=10_000).contains(buckets) {
                        return Err(bad(format!(
                            "`buckets` must be in 1..=10000, got {buckets}"
                        )));
                    }
                    if window_s * 1000.0 < f64::from(*buckets) {
                        return Err(bad("each bucket must be at least 1 ms wide".into()));
                    }
                }
                FeatureKind::SinceLast { cap_s, .. } => positive("cap_s", *cap_s)?,
                FeatureKind::DecayedRate {
                    event,
                    half_life_s,
                    weight,
                    ..
                } => {
                    positive("half_life_s", *half_life_s)?;
                    let ok = match weight {
                        Weight::Count => true,
                        Weight::AbsDyKpx => *event == EventType::Scroll,
                        Weight::Value => *event == EventType::Custom,
                    };
                    if !ok {
                        return Err(bad(format!(
                            "weight {weight:?} does not apply to `{}` events",
                            event.name()
                        )));
                    }
                }
                FeatureKind::CountSince { .. } => {}
                FeatureKind::SessionAge { cap_s }
                | FeatureKind::Absence { cap_s }
                | FeatureKind::SinceRefresh { cap_s } => positive("cap_s", *cap_s)?,
                FeatureKind::SinceHomeView { cap_s } => positive("cap_s", *cap_s)?,
                FeatureKind::MeanGap { events, cap_s } => {
                    positive("cap_s", *cap_s)?;
                    if !(1..=64).contains(events) {
                        return Err(bad(format!("`events` must be in 1..=64, got {events}")));
                    }
                }
                FeatureKind::IntervalCount { .. }
                | FeatureKind::HomeViewsSession
                | FeatureKind::ExposureNovelty
                | FeatureKind::HomeVisible
                | FeatureKind::TimeOfDay { .. }
                | FeatureKind::DayOfWeek { .. } => {}
            }
        }
        Ok(())
    }

    /// Feature names in input order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(|f| f.name.as_str())
    }

    /// Number of features (the width of the model's feature input).
    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// True when the spec has no features (never true for a validated spec).
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// Stable hash of everything that changes what the features mean: the
    /// canonical JSON of the parsed spec (defaults filled in), hashed with
    /// 64-bit FNV-1a. Whitespace and key order of the file do not matter.
    pub fn hash(&self) -> String {
        // Serialising a plain data struct cannot fail.
        let canonical = serde_json::to_string(self).unwrap_or_default();
        format!("fnv1a64:{:016x}", fnv1a64(canonical.as_bytes()))
    }
}

/// Event names in a spec as written (`event`, `reset_on`) must be known types;
/// the error names the feature, so it can be found in a long spec.
fn check_event_names(spec: &serde_json::Value) -> Result<(), SpecError> {
    let features = spec.get("features").and_then(|f| f.as_array());
    for (i, f) in features.into_iter().flatten().enumerate() {
        for field in ["event", "reset_on"] {
            let Some(name) = f.get(field).and_then(|v| v.as_str()) else {
                continue;
            };
            if EventType::from_name(name).is_some() {
                continue;
            }
            let feature = f
                .get("name")
                .and_then(|n| n.as_str())
                .map_or_else(|| format!("#{i}"), str::to_owned);
            let hint = EventType::closest(name).map_or(String::new(), |t| {
                format!(" (did you mean `{}`?)", t.name())
            });
            return Err(SpecError::Invalid {
                feature,
                why: format!(
                    "`{field}`: unknown event type `{name}`{hint}; expected one of: {}",
                    EventType::ALL.map(|t| t.name()).join(", ")
                ),
            });
        }
    }
    Ok(())
}
