//! The `geofence` section of the config: coverage, fences, sampling, and their validation.

use serde::{Deserialize, Serialize};

/// The `geofence` section of the runtime config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeofenceConfig {
    /// The coverage circle the server gave; `None` until it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    /// Points of interest.
    #[serde(default)]
    pub fences: Vec<FenceDef>,
    /// Seconds the "inside" condition must hold before ENTER.
    #[serde(default = "default_dwell_enter")]
    pub dwell_enter_s: f64,
    /// Seconds the "outside" condition must hold before EXIT.
    #[serde(default = "default_dwell_exit")]
    pub dwell_exit_s: f64,
    /// Extra metres beyond the radius before a fix counts as outside.
    #[serde(default = "default_margin")]
    pub exit_margin_m: f64,
    /// Adaptive sampling bounds.
    #[serde(default)]
    pub sampling: SamplingConfig,
}

fn default_dwell_enter() -> f64 {
    5.0
}
fn default_dwell_exit() -> f64 {
    30.0
}
fn default_margin() -> f64 {
    25.0
}

/// A circle on the Earth: the server's coverage area.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coverage {
    /// Centre latitude, degrees.
    pub lat: f64,
    /// Centre longitude, degrees.
    pub lon: f64,
    /// Radius, metres.
    pub radius_m: f64,
}

/// One point of interest with its fence and buffer ring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FenceDef {
    /// Identifier used in decisions (`geofence:enter:<id>`).
    pub id: String,
    /// Centre latitude, degrees.
    pub lat: f64,
    /// Centre longitude, degrees.
    pub lon: f64,
    /// Fence radius, metres.
    pub radius_m: f64,
    /// Width of the buffer ring outside the fence, metres (sampling is faster there).
    #[serde(default)]
    pub buffer_m: f64,
    /// Free-form category (`airport`, `station`, ...).
    #[serde(default)]
    pub category: String,
}

/// Bounds of adaptive location sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingConfig {
    /// Shortest interval between fixes, seconds.
    #[serde(default = "default_min_interval")]
    pub min_interval_s: f64,
    /// Longest interval while moving, seconds.
    #[serde(default = "default_max_interval")]
    pub max_interval_s: f64,
    /// Longest interval while stationary, seconds.
    #[serde(default = "default_stationary_max")]
    pub stationary_max_interval_s: f64,
    /// Longest interval inside a buffer ring while moving (nearer the fence
    /// the distance bound makes it shorter; a transition waiting out its
    /// dwell is checked again as soon as the dwell has passed).
    #[serde(default = "default_buffer_interval")]
    pub buffer_interval_s: f64,
    /// Shortest interval inside a fence while at walking pace or slower: a
    /// late EXIT only reclaims a card later. Faster movement samples by distance.
    #[serde(default = "default_inside_interval")]
    pub inside_interval_s: f64,
    /// The top of walking pace, for `inside_interval_s`.
    #[serde(default = "default_walking_speed")]
    pub walking_speed_mps: f64,
    /// Speed assumed while moving: no boundary can be reached sooner than
    /// its distance over this speed.
    #[serde(default = "default_max_speed")]
    pub max_speed_mps: f64,
    /// Below this speed the device counts as stationary.
    #[serde(default = "default_stationary_speed")]
    pub stationary_speed_mps: f64,
    /// Speed assumed while stationary, unless the device came on foot (then
    /// `walking_speed_mps`): a stop in traffic may pull away at once.
    #[serde(default = "default_stationary_assumed")]
    pub stationary_assumed_speed_mps: f64,
    /// How late an ENTER may come for the sake of the battery: the next fix
    /// is due this long after the device could first be surely inside a
    /// fence (motion-aware sampling only; 0 plans for the earliest moment).
    #[serde(default = "default_entry_latency")]
    pub entry_latency_s: f64,
    /// Shortest interval inside a fence while still: the card stays shown,
    /// and a late EXIT only reclaims it later.
    #[serde(default = "default_inside_still_interval")]
    pub inside_still_interval_s: f64,
    /// Schedule by the motion state estimated from the fixes (still,
    /// walking, cycling, vehicle) instead of assuming `max_speed_mps`
    /// whenever the device moves.
    #[serde(default = "default_true")]
    pub motion_aware: bool,
    /// The top of cycling pace; faster is a vehicle.
    #[serde(default = "default_cycling_speed")]
    pub cycling_speed_mps: f64,
    /// The least top speed assumed in a vehicle.
    #[serde(default = "default_vehicle_speed")]
    pub vehicle_speed_mps: f64,
    /// The top speed assumed until the next fix: the speed seen times this,
    /// plus `speed_slack_mps`, at least the motion state's floor and at most
    /// `max_speed_mps`.
    #[serde(default = "default_speed_margin")]
    pub speed_margin: f64,
    /// See `speed_margin`.
    #[serde(default = "default_speed_slack")]
    pub speed_slack_mps: f64,
    /// How far above a state's lower speed bound the speed seen must be to
    /// take that faster state at once (reported speeds are noisy: a phone on
    /// a desk reports 0.3–0.8 m/s now and then).
    #[serde(default = "default_speed_noise")]
    pub speed_noise_mps: f64,
    /// Fixes in a slower motion state before the state slows down (a faster
    /// state is taken at once).
    #[serde(default = "default_slowdown_fixes")]
    pub slowdown_fixes: u32,
    /// At most this many fixes in any hour (none when absent): the interval
    /// waits for the oldest of the last hour's fixes to age out.
    #[serde(default)]
    pub max_fixes_per_hour: Option<u32>,
}

fn default_entry_latency() -> f64 {
    20.0
}
fn default_inside_still_interval() -> f64 {
    180.0
}
fn default_true() -> bool {
    true
}
fn default_cycling_speed() -> f64 {
    7.0
}
fn default_vehicle_speed() -> f64 {
    30.0
}
fn default_speed_margin() -> f64 {
    1.5
}
fn default_speed_slack() -> f64 {
    1.0
}
fn default_speed_noise() -> f64 {
    0.5
}
fn default_slowdown_fixes() -> u32 {
    2
}

fn default_min_interval() -> f64 {
    5.0
}
fn default_max_interval() -> f64 {
    300.0
}
fn default_stationary_max() -> f64 {
    600.0
}
fn default_buffer_interval() -> f64 {
    30.0
}
fn default_inside_interval() -> f64 {
    60.0
}
fn default_walking_speed() -> f64 {
    3.0
}
fn default_max_speed() -> f64 {
    40.0
}
fn default_stationary_speed() -> f64 {
    0.5
}
fn default_stationary_assumed() -> f64 {
    10.0
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            min_interval_s: default_min_interval(),
            max_interval_s: default_max_interval(),
            stationary_max_interval_s: default_stationary_max(),
            buffer_interval_s: default_buffer_interval(),
            inside_interval_s: default_inside_interval(),
            walking_speed_mps: default_walking_speed(),
            max_speed_mps: default_max_speed(),
            stationary_speed_mps: default_stationary_speed(),
            stationary_assumed_speed_mps: default_stationary_assumed(),
            entry_latency_s: default_entry_latency(),
            inside_still_interval_s: default_inside_still_interval(),
            motion_aware: true,
            cycling_speed_mps: default_cycling_speed(),
            vehicle_speed_mps: default_vehicle_speed(),
            speed_margin: default_speed_margin(),
            speed_slack_mps: default_speed_slack(),
            speed_noise_mps: default_speed_noise(),
            slowdown_fixes: default_slowdown_fixes(),
            max_fixes_per_hour: None,
        }
    }
}

/// A geofence setting that cannot work, with the field named
/// (`geofence.fences[3].radius_m`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("geofence.{field}: {why}")]
pub struct GeoError {
    /// The offending field, with its path.
    pub field: String,
    /// What it must be.
    pub why: String,
}

fn geo_err<T>(field: impl Into<String>, why: impl Into<String>) -> Result<T, GeoError> {
    Err(GeoError {
        field: field.into(),
        why: why.into(),
    })
}

fn check_lat_lon(path: &str, lat: f64, lon: f64) -> Result<(), GeoError> {
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return geo_err(
            format!("{path}lat"),
            format!("must be a latitude in [-90, 90], got {lat}"),
        );
    }
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return geo_err(
            format!("{path}lon"),
            format!("must be a longitude in [-180, 180], got {lon}"),
        );
    }
    Ok(())
}

fn check_positive(field: String, v: f64) -> Result<(), GeoError> {
    if !v.is_finite() || v <= 0.0 {
        return geo_err(field, format!("must be a positive number, got {v}"));
    }
    Ok(())
}

fn check_non_negative(field: String, v: f64) -> Result<(), GeoError> {
    if !v.is_finite() || v < 0.0 {
        return geo_err(field, format!("must be a non-negative number, got {v}"));
    }
    Ok(())
}

impl Coverage {
    /// Checks the centre and radius; `path` prefixes field names.
    pub fn validate(&self, path: &str) -> Result<(), GeoError> {
        check_lat_lon(path, self.lat, self.lon)?;
        check_positive(format!("{path}radius_m"), self.radius_m)
    }
}

/// At most this many fences (the index and the per-fence state are sized for it).
pub const MAX_FENCES: usize = 1_000_000;

impl GeofenceConfig {
    /// Checks every field; the first problem is returned with its path.
    pub fn validate(&self) -> Result<(), GeoError> {
        if let Some(c) = &self.coverage {
            c.validate("coverage.")?;
        }
        if self.fences.len() > MAX_FENCES {
            return geo_err(
                "fences",
                format!("at most {MAX_FENCES} fences, got {}", self.fences.len()),
            );
        }
        let mut ids = std::collections::HashSet::with_capacity(self.fences.len());
        for (i, f) in self.fences.iter().enumerate() {
            let path = format!("fences[{i}].");
            if f.id.is_empty() {
                return geo_err(format!("{path}id"), "must not be empty");
            }
            if !ids.insert(f.id.as_str()) {
                return geo_err(format!("{path}id"), format!("{:?} is used twice", f.id));
            }
            check_lat_lon(&path, f.lat, f.lon)?;
            check_positive(format!("{path}radius_m"), f.radius_m)?;
            check_non_negative(format!("{path}buffer_m"), f.buffer_m)?;
        }
        check_non_negative("dwell_enter_s".into(), self.dwell_enter_s)?;
        check_non_negative("dwell_exit_s".into(), self.dwell_exit_s)?;
        check_non_negative("exit_margin_m".into(), self.exit_margin_m)?;
        let s = &self.sampling;
        for (name, v) in [
            ("min_interval_s", s.min_interval_s),
            ("max_interval_s", s.max_interval_s),
            ("stationary_max_interval_s", s.stationary_max_interval_s),
            ("buffer_interval_s", s.buffer_interval_s),
            ("inside_interval_s", s.inside_interval_s),
            ("inside_still_interval_s", s.inside_still_interval_s),
            ("max_speed_mps", s.max_speed_mps),
            (
                "stationary_assumed_speed_mps",
                s.stationary_assumed_speed_mps,
            ),
        ] {
            check_positive(format!("sampling.{name}"), v)?;
            // Durations (the `_s` fields) stay within the global bound.
            if let Some(why) = name
                .ends_with("_s")
                .then(|| crate::limits::bad_duration(v))
                .flatten()
            {
                return geo_err(format!("sampling.{name}"), why);
            }
        }
        if let Some(why) = crate::limits::bad_duration(s.entry_latency_s) {
            return geo_err("sampling.entry_latency_s", why);
        }
        for (name, v) in [
            ("dwell_enter_s", self.dwell_enter_s),
            ("dwell_exit_s", self.dwell_exit_s),
        ] {
            if let Some(why) = crate::limits::bad_duration(v) {
                return geo_err(name, why);
            }
        }
        check_non_negative(
            "sampling.stationary_speed_mps".into(),
            s.stationary_speed_mps,
        )?;
        check_non_negative("sampling.walking_speed_mps".into(), s.walking_speed_mps)?;
        for (name, v) in [
            ("cycling_speed_mps", s.cycling_speed_mps),
            ("vehicle_speed_mps", s.vehicle_speed_mps),
            ("speed_margin", s.speed_margin),
        ] {
            check_positive(format!("sampling.{name}"), v)?;
        }
        check_non_negative("sampling.speed_slack_mps".into(), s.speed_slack_mps)?;
        check_non_negative("sampling.speed_noise_mps".into(), s.speed_noise_mps)?;
        if s.speed_margin < 1.0 {
            return geo_err(
                "sampling.speed_margin",
                format!(
                    "must be at least 1 (a margin over the speed seen), got {}",
                    s.speed_margin
                ),
            );
        }
        if !(s.walking_speed_mps <= s.cycling_speed_mps && s.cycling_speed_mps <= s.max_speed_mps) {
            return geo_err(
                "sampling.cycling_speed_mps",
                format!(
                    "must be between walking_speed_mps ({}) and max_speed_mps ({}), got {}",
                    s.walking_speed_mps, s.max_speed_mps, s.cycling_speed_mps
                ),
            );
        }
        if s.slowdown_fixes > 100 {
            return geo_err(
                "sampling.slowdown_fixes",
                format!("must be at most 100, got {}", s.slowdown_fixes),
            );
        }
        if let Some(n) = s.max_fixes_per_hour {
            if !(1..=3600).contains(&n) {
                return geo_err(
                    "sampling.max_fixes_per_hour",
                    format!("must be 1 to 3600, got {n}"),
                );
            }
        }
        for (name, v) in [
            ("max_interval_s", s.max_interval_s),
            ("stationary_max_interval_s", s.stationary_max_interval_s),
            ("buffer_interval_s", s.buffer_interval_s),
            ("inside_interval_s", s.inside_interval_s),
            ("inside_still_interval_s", s.inside_still_interval_s),
        ] {
            if v < s.min_interval_s {
                return geo_err(
                    format!("sampling.{name}"),
                    format!(
                        "must be at least min_interval_s ({}), got {v}",
                        s.min_interval_s
                    ),
                );
            }
        }
        Ok(())
    }
}
