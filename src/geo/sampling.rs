//! Adaptive location sampling: when the next fix is due.

use super::geometry::distance_m;
use super::{Edges, Geo};

impl Geo {
    /// Reported speed, or movement since the last fix beyond what the two
    /// accuracies explain; `None` without evidence either way.
    pub(super) fn speed(
        &self,
        now_ms: i64,
        lat: f64,
        lon: f64,
        acc: f64,
        reported: Option<f64>,
    ) -> Option<f64> {
        if let Some(v) = reported.filter(|v| v.is_finite() && *v >= 0.0) {
            return Some(v);
        }
        match self.state.last_fix {
            Some((t, la, lo, a)) if now_ms > t => {
                let moved = (distance_m(la, lo, lat, lon) - a - acc).max(0.0);
                Some(moved / ((now_ms - t) as f64 / 1000.0))
            }
            _ => None,
        }
    }

    /// The longest wait before a boundary could be crossed: distance over
    /// the assumed speed to the nearest zone, fence edge (from a buffer),
    /// fence exit and coverage edge, within the configured bounds.
    pub(super) fn next_interval(
        &self,
        p: [f64; 2],
        accuracy_m: f64,
        speed: Option<f64>,
        edges: Edges,
    ) -> f64 {
        let Edges {
            buffer_m: buffer_edge_m,
            zone_m: zone_edge_m,
            inside_exit_m,
            coverage_m: coverage_left_m,
        } = edges;
        let s = &self.cfg.sampling;
        // Unknown speed counts as moving.
        let stationary = speed.is_some_and(|v| v < s.stationary_speed_mps);
        let slow = speed.is_some_and(|v| v < s.walking_speed_mps);
        let (v, mut cap) = if stationary {
            (s.stationary_assumed_speed_mps, s.stationary_max_interval_s)
        } else {
            (s.max_speed_mps.max(speed.unwrap_or(0.0)), s.max_interval_s)
        };
        if buffer_edge_m.is_finite() && !stationary {
            cap = cap.min(s.buffer_interval_s);
        }
        let slack = accuracy_m + self.cfg.exit_margin_m;
        let next_zone = self.index.nearest_outside(p).unwrap_or(f64::INFINITY);
        let entry = next_zone
            .min(zone_edge_m)
            .min(coverage_left_m)
            .min(buffer_edge_m);
        let entry_s = (entry - slack) / v;
        let mut exit_s = (inside_exit_m - slack) / v;
        if slow {
            exit_s = exit_s.max(s.inside_interval_s);
        }
        entry_s
            .min(exit_s)
            .clamp(s.min_interval_s, cap.max(s.min_interval_s))
    }
}
