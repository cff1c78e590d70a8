//! Adaptive location sampling: when the next fix is due.
//!
//! The next fix is scheduled at the earliest time a boundary that matters
//! (a zone, a fence edge from its buffer, a fence's exit, the coverage edge)
//! could be reached at the fastest plausible speed, less the fix's accuracy
//! and the exit margin. The plausible speed comes from a motion state
//! (still, walking, cycling, vehicle) estimated from the fixes, with
//! hysteresis: a faster state is taken at once, a slower one only after
//! `slowdown_fixes` fixes agree. Without evidence (the first fix, a long gap,
//! an implausible jump) the state is unknown and the bound is the
//! conservative `max_speed_mps`.

use std::collections::VecDeque;

use super::config::{GeofenceConfig, SamplingConfig};
use super::geometry::distance_m;
use super::index::FenceIndex;
use super::motion::{Motion, MotionState};

/// Distances (metres) from a fix to the boundaries it could cross next.
#[derive(Debug, Clone, Copy)]
pub(super) struct Edges {
    /// To the nearest fence edge from inside its buffer ring.
    pub(super) buffer_m: f64,
    /// To the nearest zone among the fences measured exactly this fix.
    pub(super) zone_m: f64,
    /// To the exit (radius + margin) of a fence the device is inside.
    pub(super) inside_exit_m: f64,
    /// To the coverage circle's edge.
    pub(super) coverage_m: f64,
    /// Until a transition waiting out its dwell can fire (s).
    pub(super) pending_s: f64,
}

/// The fastest speed plausible until the next fix, and whether the
/// device counts as stationary.
fn plausible_speed(s: &SamplingConfig, m: MotionState) -> (f64, bool) {
    let seen = m.speed_mps.unwrap_or(0.0);
    if !s.motion_aware {
        // The fixed bound: the top speed whenever the device moves.
        let stationary = m.speed_mps.is_some_and(|v| v < s.stationary_speed_mps);
        return if stationary {
            (s.stationary_assumed_speed_mps, true)
        } else {
            (s.max_speed_mps.max(seen), false)
        };
    }
    let over = |floor: f64| {
        (seen * s.speed_margin + s.speed_slack_mps)
            .max(floor)
            .min(s.max_speed_mps)
    };
    match m.motion {
        Motion::Unknown => (s.max_speed_mps, false),
        // Who came on foot sets off on foot; a stop in traffic, or a
        // device whose way here is not known, may pull away at once.
        Motion::Still if m.on_foot => (
            s.walking_speed_mps.min(s.stationary_assumed_speed_mps),
            true,
        ),
        Motion::Still => (s.stationary_assumed_speed_mps, true),
        Motion::Walking => (over(s.walking_speed_mps), false),
        Motion::Cycling => (over(s.cycling_speed_mps), false),
        Motion::Vehicle => (over(s.vehicle_speed_mps), false),
    }
}

/// The longest wait before a boundary could be crossed: distance over
/// the plausible speed to the nearest zone, fence edge (from a buffer),
/// fence exit and coverage edge, a pending dwell, within the bounds.
/// Where the fences are, for the next interval.
pub(super) struct FenceMap<'a> {
    pub(super) cfg: &'a GeofenceConfig,
    pub(super) index: &'a FenceIndex,
    /// The widest buffer of any fence.
    pub(super) max_buffer_m: f64,
}

pub(super) fn next_interval(
    fences: &FenceMap<'_>,
    motion: MotionState,
    (lat, lon): (f64, f64),
    p: [f64; 2],
    accuracy_m: f64,
    edges: Edges,
) -> f64 {
    let Edges {
        buffer_m: buffer_edge_m,
        zone_m: zone_edge_m,
        inside_exit_m,
        coverage_m: coverage_left_m,
        pending_s,
    } = edges;
    let s = &fences.cfg.sampling;
    let (v, stationary) = plausible_speed(s, motion);
    let slow = motion.speed_mps.is_some_and(|v| v < s.walking_speed_mps);
    let mut cap = if stationary {
        s.stationary_max_interval_s
    } else {
        s.max_interval_s
    };
    // Without a known motion the buffer ring keeps its own bound; with
    // one, the distance bound alone is safe.
    let known = s.motion_aware && motion.motion != Motion::Unknown;
    if buffer_edge_m.is_finite() && !stationary && !known {
        cap = cap.min(s.buffer_interval_s);
    }
    let slack = accuracy_m + fences.cfg.exit_margin_m;
    let next_zone = fences.index.nearest_outside(p).unwrap_or(f64::INFINITY);
    // What must not be crossed unseen: a fence's edge (its card) and the
    // coverage edge. The buffer ring is where that edge comes near, not
    // a boundary of its own; the fixed bound keeps the zones' edges.
    // A device that came on foot sets off on foot: its speed is bounded
    // like a walker's, so the fence edges are what it must not cross.
    let bounded = match motion.motion {
        Motion::Walking | Motion::Cycling | Motion::Vehicle => true,
        Motion::Still => motion.on_foot,
        Motion::Unknown => false,
    };
    let entry = if s.motion_aware && bounded {
        nearest_fence_edge(fences, (lat, lon), p, next_zone)
    } else {
        // Unknown, or stopped in traffic: how it will move once it starts
        // is not known, so the buffer ring stays a margin.
        next_zone.min(zone_edge_m)
    }
    .min(coverage_left_m)
    .min(buffer_edge_m);
    // An ENTER may come up to `entry_latency_s` late (what Android's
    // geofencing calls notification responsiveness): lingering near an
    // edge then costs a fix every few tens of seconds, not every few.
    let latency = if s.motion_aware {
        s.entry_latency_s
    } else {
        0.0
    };
    let entry_s = (entry - slack).max(0.0) / v + latency;
    // Leaving is timed at the top speed whatever the motion: a visitor
    // walks to a car and drives off, and an EXIT missed for a short trip
    // away would also miss the ENTER on coming back. At walking pace or
    // slower it is checked at most every `inside_interval_s`.
    let mut exit_s = (inside_exit_m - slack) / s.max_speed_mps.max(v);
    if slow {
        exit_s = exit_s.max(s.inside_interval_s);
    }
    if stationary && s.motion_aware {
        exit_s = exit_s.max(s.inside_still_interval_s);
    }
    entry_s
        .min(exit_s)
        .min(pending_s)
        .clamp(s.min_interval_s, cap.max(s.min_interval_s))
}

/// The distance to the nearest fence edge the device is outside of. The
/// nearest zone's fence edge is at most `next_zone` + the widest buffer
/// away, and a fence's zone is never farther than its edge, so the fences
/// whose zones lie within that reach hold the nearest edge.
fn nearest_fence_edge(
    fences: &FenceMap<'_>,
    (lat, lon): (f64, f64),
    p: [f64; 2],
    next_zone: f64,
) -> f64 {
    let mut best = f64::INFINITY;
    let reach = next_zone + fences.max_buffer_m;
    if !reach.is_finite() {
        return best;
    }
    fences.index.within(p, reach, |i| {
        if let Some(f) = fences.cfg.fences.get(i as usize) {
            let d = distance_m(lat, lon, f.lat, f.lon) - f.radius_m;
            if d > 0.0 {
                best = best.min(d);
            }
        }
    });
    best
}

/// Holds the interval to `max_fixes_per_hour`: past half the last hour's
/// budget, fixes come no faster than its average pace; with all of it
/// spent, the next fix waits for the oldest to age out.
pub(super) fn within_budget(
    s: &SamplingConfig,
    recent: &mut VecDeque<i64>,
    now_ms: i64,
    interval_s: f64,
) -> f64 {
    let Some(n) = s.max_fixes_per_hour else {
        return interval_s;
    };
    while recent.front().is_some_and(|&t| now_ms - t >= 3_600_000) {
        recent.pop_front();
    }
    if recent.len() >= n as usize {
        recent.pop_front();
    }
    recent.push_back(now_ms);
    if recent.len() < n as usize {
        // Past half the budget, no faster than its average pace, so that
        // a busy stretch cannot spend the rest of the hour's fixes.
        let pace = if recent.len() * 2 >= n as usize {
            3_600.0 / f64::from(n)
        } else {
            0.0
        };
        return interval_s.max(pace);
    }
    let oldest = recent.front().copied().unwrap_or(now_ms);
    interval_s.max((oldest + 3_600_000 - now_ms) as f64 / 1000.0)
}
