//! How the device moves, estimated from its fixes: speed evidence from the
//! reported speed or the movement between fixes beyond their accuracies, a
//! motion state (still, walking, cycling, vehicle) with hysteresis.

use serde::{Deserialize, Serialize};

use super::config::SamplingConfig;
use super::geometry::distance_m;

/// Fixes further apart than this say nothing about the current speed.
const SPEED_EVIDENCE_MS: i64 = 300_000;

/// How the device moves, slowest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Motion {
    /// No evidence: assume the fastest.
    #[default]
    Unknown,
    /// Below `stationary_speed_mps`.
    Still,
    /// Below `walking_speed_mps`.
    Walking,
    /// Below `cycling_speed_mps`.
    Cycling,
    /// Faster.
    Vehicle,
}

/// The motion estimate carried from fix to fix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct MotionState {
    pub(crate) motion: Motion,
    /// Speed seen at the last fix (m/s), when there was evidence.
    pub(crate) speed_mps: Option<f64>,
    /// The fastest slower state seen in the current run of slower fixes, and
    /// how many fixes that run has.
    slower: Option<(Motion, u32)>,
}

/// Speed evidence at this fix: the reported speed, or the movement since
/// the last fix beyond what the two accuracies explain, whichever is
/// larger; `None` without evidence, or when it is implausible (over
/// 1.25 × `max_speed_mps`: a jump, not a movement).
pub(super) fn speed(
    s: &SamplingConfig,
    last_fix: Option<(i64, f64, f64, f64)>,
    now_ms: i64,
    lat: f64,
    lon: f64,
    acc: f64,
    reported: Option<f64>,
) -> Option<f64> {
    let reported = reported.filter(|v| v.is_finite() && *v >= 0.0);
    let moved = match last_fix {
        Some((t, la, lo, a)) if now_ms > t && now_ms - t <= SPEED_EVIDENCE_MS => {
            let beyond = (distance_m(la, lo, lat, lon) - a - acc).max(0.0);
            Some(beyond / ((now_ms - t) as f64 / 1000.0))
        }
        _ => None,
    };
    let v = match (reported, moved) {
        (Some(r), Some(m)) => r.max(m),
        (r, m) => r.or(m)?,
    };
    (v <= s.max_speed_mps * 1.25).then_some(v)
}

/// Folds this fix's speed evidence into the motion state.
pub(super) fn update_motion(s: &SamplingConfig, m: &mut MotionState, speed: Option<f64>) {
    let Some(v) = speed else {
        *m = MotionState::default();
        return;
    };
    let class = |v: f64| {
        if v < s.stationary_speed_mps {
            Motion::Still
        } else if v < s.walking_speed_mps {
            Motion::Walking
        } else if v < s.cycling_speed_mps {
            Motion::Cycling
        } else {
            Motion::Vehicle
        }
    };
    // Up at once only when the speed clears the noise; otherwise the
    // lower reading counts as a slower (or the same) state.
    let seen = class(v);
    let seen = if m.motion != Motion::Unknown && seen > m.motion {
        class(v - s.speed_noise_mps).max(m.motion)
    } else {
        seen
    };
    m.speed_mps = Some(v);
    if m.motion == Motion::Unknown || seen >= m.motion {
        // The same or a faster state: at once.
        m.motion = seen;
        m.slower = None;
        return;
    }
    let (fastest, n) = m.slower.map_or((seen, 1), |(f, n)| (f.max(seen), n + 1));
    if n >= s.slowdown_fixes.max(1) {
        m.motion = fastest;
        m.slower = None;
    } else {
        m.slower = Some((fastest, n));
    }
}
