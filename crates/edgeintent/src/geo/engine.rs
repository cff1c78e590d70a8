//! The geofence engine: the fence state machines with accuracy-aware
//! hysteresis and dwell, the coverage circle, and each fix's next
//! sampling interval. Allocates nothing per fix.

use serde::{Deserialize, Serialize};

use super::config::{Coverage, GeoError, GeofenceConfig};
use super::geometry::distance_m;
use super::index::FenceIndex;
use super::motion::{self, Fix, MotionState, Verdict};
use super::sampling::{next_interval, within_budget, Edges, FenceMap};
use crate::snapshot::{Persist, StateError};

/// Beyond this distance from the index's plane origin a fix re-centres it.
const REPROJECT_M: f64 = 200_000.0;

/// Where the device is relative to one fence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FenceZone {
    /// Beyond the buffer ring.
    Outside,
    /// In the buffer ring (or not yet confidently inside).
    Buffer,
    /// Inside the fence (ENTER was emitted).
    Inside,
}

/// Per-fence state machine.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct FenceState {
    pub zone: FenceZone,
    /// Since when the condition for the next transition has held.
    pub pending_since_ms: Option<i64>,
    #[serde(skip)]
    seen: u32,
}

impl Default for FenceState {
    fn default() -> Self {
        FenceState {
            zone: FenceZone::Outside,
            pending_since_ms: None,
            seen: 0,
        }
    }
}

/// What of the geofence engine changes over time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GeoState {
    pub(super) states: Vec<FenceState>,
    pub(super) active: Vec<u32>,
    pub(super) coverage: Option<Coverage>,
    pub(super) coverage_requested: bool,
    pub(super) interval_s: f64,
    pub(super) emitted_interval_s: Option<f64>,
    pub(super) stats: GeoStats,
    /// The motion estimate behind the interval.
    #[serde(default)]
    pub(super) motion: MotionState,
    /// Times of the last hour's fixes, with `sampling.max_fixes_per_hour`.
    #[serde(default)]
    pub(super) recent_fixes: std::collections::VecDeque<i64>,
}

/// What a fix caused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum GeoEvent {
    /// Fence `index` entered: fetch its card.
    Enter(u32),
    /// Fence `index` left: reclaim its card.
    Exit(u32),
    /// The device left the coverage circle.
    CoverageExit,
    /// The next fix is due in this many seconds.
    Interval(f32),
}

/// Counters of the geofence layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct GeoStats {
    /// Location fixes processed.
    pub fixes: u64,
    /// ENTER transitions.
    pub enters: u64,
    /// EXIT transitions.
    pub exits: u64,
    /// Coverage requests.
    pub coverage_requests: u64,
    /// Fixes held back as jumps no plausible speed explains (a second fix
    /// that agrees with one moves the track there).
    #[serde(default)]
    pub outliers: u64,
}

/// The geofence engine: fences, their states, the coverage circle and the
/// sampling interval. Allocates nothing per fix.
#[derive(Debug, Clone)]
pub(crate) struct Geo {
    /// Settings: the geofence config and the index built from it.
    pub(super) cfg: GeofenceConfig,
    pub(super) index: FenceIndex,
    /// The index of the last place re-centred away from: a device going back
    /// and forth between two far places swaps instead of rebuilding.
    pub(super) spare: Option<FenceIndex>,
    /// Index builds after the first (for tests: a swap is not a rebuild).
    pub(super) rebuilds: u64,
    /// Working buffers, reused for every fix.
    pub(super) scratch: Vec<u32>,
    pub(super) generation: u32,
    /// The widest buffer of any fence (for the nearest fence edge).
    pub(super) max_buffer_m: f64,
    pub(super) state: GeoState,
}

impl Geo {
    /// Builds the index; `cfg` must be validated.
    pub(crate) fn new(cfg: &GeofenceConfig) -> Geo {
        let n = cfg.fences.len();
        Geo {
            index: match cfg.coverage {
                Some(c) => FenceIndex::centred_at(&cfg.fences, c.lat, c.lon),
                None => FenceIndex::new(&cfg.fences),
            },
            spare: None,
            rebuilds: 0,
            scratch: Vec::with_capacity(n.min(4096)),
            generation: 0,
            max_buffer_m: cfg.fences.iter().map(|f| f.buffer_m).fold(0.0, f64::max),
            state: GeoState {
                states: vec![FenceState::default(); n],
                active: Vec::with_capacity(n.min(4096)),
                coverage: cfg.coverage,
                coverage_requested: false,
                interval_s: cfg.sampling.max_interval_s,
                emitted_interval_s: None,
                stats: GeoStats::default(),
                motion: MotionState::default(),
                recent_fixes: std::collections::VecDeque::with_capacity(
                    cfg.sampling.max_fixes_per_hour.map_or(0, |n| n as usize),
                ),
            },
            cfg: cfg.clone(),
        }
    }

    /// The id of fence `index`.
    pub(crate) fn fence_id(&self, index: u32) -> &str {
        self.cfg
            .fences
            .get(index as usize)
            .map_or("", |f| f.id.as_str())
    }

    /// The current sampling interval, seconds.
    pub(crate) fn interval_s(&self) -> f64 {
        self.state.interval_s
    }

    /// Where the device is relative to fence `index`.
    pub(crate) fn zone(&self, index: u32) -> Option<FenceZone> {
        self.state.states.get(index as usize).map(|s| s.zone)
    }

    /// Where the device is relative to the fence with this id.
    pub(crate) fn zone_of(&self, id: &str) -> Option<FenceZone> {
        let i = self.cfg.fences.iter().position(|f| f.id == id)?;
        self.zone(i as u32)
    }

    /// The coverage circle in use.
    pub(crate) fn coverage(&self) -> Option<Coverage> {
        self.state.coverage
    }

    /// Whether the device left the coverage circle and no new one came yet.
    pub(crate) fn coverage_requested(&self) -> bool {
        self.state.coverage_requested
    }

    /// The geofence counters.
    pub(crate) fn stats(&self) -> GeoStats {
        self.state.stats
    }

    /// A new coverage circle from the server.
    pub(crate) fn set_coverage(&mut self, c: Coverage) -> Result<(), GeoError> {
        c.validate("coverage.")?;
        self.state.coverage = Some(c);
        self.state.coverage_requested = false;
        Ok(())
    }

    /// Processes one fix; `emit` receives what it caused, transitions first
    /// and the new interval last.
    pub(crate) fn on_fix(
        &mut self,
        now_ms: i64,
        lat: f64,
        lon: f64,
        accuracy_m: f64,
        speed_mps: Option<f64>,
        mut emit: impl FnMut(GeoEvent),
    ) {
        self.state.stats.fixes += 1;
        let fix = Fix {
            t_ms: now_ms,
            lat,
            lon,
            acc: accuracy_m,
        };
        if motion::observe(&self.cfg.sampling, &mut self.state.motion, fix, speed_mps)
            == Verdict::Outlier
        {
            // Fences never see it; the next fix comes soon to confirm or
            // contradict it, as planned from the last good fix.
            self.state.stats.outliers += 1;
            let s = &self.cfg.sampling;
            let confirm = self
                .state
                .interval_s
                .min(s.buffer_interval_s)
                .max(s.min_interval_s);
            self.set_interval(now_ms, confirm, &mut emit);
            return;
        }
        self.generation = self.generation.wrapping_add(1).max(1);
        let generation = self.generation;
        let (olat, olon) = self.index.origin();
        if distance_m(lat, lon, olat, olon) > REPROJECT_M {
            // Far from the plane's origin the index's bounds grow loose: move
            // the plane here. The previous index is kept, so going back costs
            // a swap; only a third place far from both rebuilds again.
            let near_spare = self.spare.as_ref().is_some_and(|s| {
                let (slat, slon) = s.origin();
                distance_m(lat, lon, slat, slon) <= REPROJECT_M
            });
            let next = match self.spare.take() {
                Some(s) if near_spare => s,
                _ => {
                    self.rebuilds += 1;
                    FenceIndex::centred_at(&self.cfg.fences, lat, lon)
                }
            };
            self.spare = Some(std::mem::replace(&mut self.index, next));
        }
        let p = self.index.project(lat, lon);
        let margin = self.cfg.exit_margin_m;
        // Candidates: fences possibly within reach given the accuracy, and
        // every fence already active (it may be far now).
        self.scratch.clear();
        let (states, scratch) = (&mut self.state.states, &mut self.scratch);
        self.index.within(p, accuracy_m + margin, |i| {
            if states[i as usize].seen != generation {
                states[i as usize].seen = generation;
                scratch.push(i);
            }
        });
        for &i in &self.state.active {
            if states[i as usize].seen != generation {
                states[i as usize].seen = generation;
                scratch.push(i);
            }
        }
        self.state.active.clear();
        let mut buffer_edge_m = f64::INFINITY;
        let mut zone_edge_m = f64::INFINITY;
        let mut pending_left_ms = i64::MAX;
        let mut inside_exit_m = f64::INFINITY;
        let dwell_enter = (self.cfg.dwell_enter_s * 1000.0).round() as i64;
        let dwell_exit = (self.cfg.dwell_exit_s * 1000.0).round() as i64;
        for k in 0..self.scratch.len() {
            let i = self.scratch[k];
            let f = &self.cfg.fences[i as usize];
            let d = distance_m(lat, lon, f.lat, f.lon);
            let st = &mut self.state.states[i as usize];
            let surely_in = d + accuracy_m <= f.radius_m;
            let surely_out = d - accuracy_m >= f.radius_m + margin;
            let near = d - accuracy_m <= f.radius_m + f.buffer_m;
            match st.zone {
                FenceZone::Inside => {
                    if surely_out {
                        let since = *st.pending_since_ms.get_or_insert(now_ms);
                        if now_ms - since >= dwell_exit {
                            st.zone = if near {
                                FenceZone::Buffer
                            } else {
                                FenceZone::Outside
                            };
                            st.pending_since_ms = None;
                            self.state.stats.exits += 1;
                            emit(GeoEvent::Exit(i));
                        }
                    } else {
                        st.pending_since_ms = None;
                    }
                    if st.zone == FenceZone::Inside {
                        inside_exit_m = inside_exit_m.min(f.radius_m + margin - d);
                    }
                }
                FenceZone::Outside | FenceZone::Buffer => {
                    if surely_in {
                        let since = *st.pending_since_ms.get_or_insert(now_ms);
                        if now_ms - since >= dwell_enter {
                            st.zone = FenceZone::Inside;
                            st.pending_since_ms = None;
                            self.state.stats.enters += 1;
                            emit(GeoEvent::Enter(i));
                            inside_exit_m = inside_exit_m.min(f.radius_m + margin - d);
                        } else {
                            st.zone = FenceZone::Buffer;
                        }
                    } else {
                        st.pending_since_ms = None;
                        st.zone = if near {
                            FenceZone::Buffer
                        } else {
                            FenceZone::Outside
                        };
                    }
                }
            }
            if st.zone == FenceZone::Buffer {
                buffer_edge_m = buffer_edge_m.min(d - f.radius_m);
            }
            if d > f.radius_m + f.buffer_m {
                // The index may place this zone around the point (its
                // distances are lower bounds), so measure it exactly here.
                zone_edge_m = zone_edge_m.min(d - f.radius_m - f.buffer_m);
            }
            if let Some(since) = st.pending_since_ms {
                let dwell = if st.zone == FenceZone::Inside {
                    dwell_exit
                } else {
                    dwell_enter
                };
                pending_left_ms = pending_left_ms.min(dwell - (now_ms - since));
            }
            if st.zone != FenceZone::Outside || st.pending_since_ms.is_some() {
                self.state.active.push(i);
            }
        }
        // Coverage: ask once per circle, when surely outside it.
        let mut coverage_left_m = f64::INFINITY;
        if let Some(c) = self.state.coverage {
            let d = distance_m(lat, lon, c.lat, c.lon);
            if d - accuracy_m > c.radius_m {
                if !self.state.coverage_requested {
                    self.state.coverage_requested = true;
                    self.state.stats.coverage_requests += 1;
                    emit(GeoEvent::CoverageExit);
                }
            } else {
                coverage_left_m = c.radius_m - d;
            }
        }
        let fences = FenceMap {
            cfg: &self.cfg,
            index: &self.index,
            max_buffer_m: self.max_buffer_m,
        };
        let interval = next_interval(
            &fences,
            self.state.motion,
            (lat, lon),
            p,
            accuracy_m,
            Edges {
                buffer_m: buffer_edge_m,
                zone_m: zone_edge_m,
                inside_exit_m,
                coverage_m: coverage_left_m,
                pending_s: if pending_left_ms == i64::MAX {
                    f64::INFINITY
                } else {
                    pending_left_ms.max(0) as f64 / 1000.0
                },
            },
        );
        self.set_interval(now_ms, interval, &mut emit);
    }

    /// Sets the next interval within the fix budget; emits it when it
    /// changed materially.
    fn set_interval(&mut self, now_ms: i64, interval: f64, emit: &mut impl FnMut(GeoEvent)) {
        self.state.interval_s = within_budget(
            &self.cfg.sampling,
            &mut self.state.recent_fixes,
            now_ms,
            interval,
        );
        let changed = self.state.emitted_interval_s.is_none_or(|e| {
            // Material changes only: a host re-arms its location request for each.
            let d = (self.state.interval_s - e).abs();
            d > 0.1 * e && d >= 1.0
        });
        if changed {
            self.state.emitted_interval_s = Some(self.state.interval_s);
            emit(GeoEvent::Interval(self.state.interval_s as f32));
        }
    }
}

impl Persist for Geo {
    type State = GeoState;

    fn save_state(&self) -> GeoState {
        self.state.clone()
    }

    fn restore_state(&mut self, mut s: GeoState) -> Result<(), StateError> {
        let n = self.state.states.len();
        if s.states.len() != n {
            return Err(StateError::Size {
                component: "geofence",
                what: "fences",
                got: s.states.len(),
                want: n,
            });
        }
        let impossible = |what| StateError::Impossible {
            component: "geofence",
            what,
        };
        if !s.motion.is_valid() {
            return Err(impossible("the motion track"));
        }
        if s.active.iter().any(|&i| i as usize >= n) {
            return Err(impossible("an active fence index"));
        }
        if !s.interval_s.is_finite() || s.interval_s <= 0.0 {
            return Err(impossible("the location interval"));
        }
        if s.coverage.is_some_and(|c| c.validate("coverage.").is_err()) {
            return Err(impossible("the coverage circle"));
        }
        if s.recent_fixes
            .iter()
            .any(|&t| !crate::limits::ts_in_range(t))
        {
            return Err(impossible("a fix time of the budget"));
        }
        // The budget as configured now: its newest fixes, room for the rest.
        let budget = self
            .cfg
            .sampling
            .max_fixes_per_hour
            .map_or(0, |n| n as usize);
        while s.recent_fixes.len() > budget {
            s.recent_fixes.pop_front();
        }
        s.recent_fixes
            .reserve(budget.saturating_sub(s.recent_fixes.len()));
        // Keep the preallocated list, so later fixes do not allocate.
        let mut active = std::mem::take(&mut self.state.active);
        active.clear();
        active.append(&mut s.active);
        s.active = active;
        self.state = s;
        Ok(())
    }
}
