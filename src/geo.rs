//! Spatial intelligence: a coverage circle from the server, geofences with a
//! buffer ring around each, and adaptive location sampling. Fence transitions
//! are hard overrides: entering a fence fetches its service card, leaving it
//! reclaims the card, leaving the coverage circle asks for a new one, and each
//! fix sets when the next fix is due.
//!
//! GPS noise is handled by accuracy-aware hysteresis (inside only when
//! `distance + accuracy <= radius`, outside only when
//! `distance - accuracy >= radius + exit_margin`) and by dwell times before
//! ENTER and EXIT. Fences live in an `rstar` R-tree over Earth-centred
//! coordinates in metres, so the index works anywhere on the globe.

use rstar::{ParentNode, PointDistance, RTree, RTreeNode, RTreeObject, AABB};
use serde::{Deserialize, Serialize};

/// Mean Earth radius (IUGG), metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

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
    /// Speed assumed while stationary (it may start moving).
    #[serde(default = "default_stationary_assumed")]
    pub stationary_assumed_speed_mps: f64,
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

/// Beyond this distance from the index's plane origin a fix re-centres it.
const REPROJECT_M: f64 = 200_000.0;

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
            ("max_speed_mps", s.max_speed_mps),
            (
                "stationary_assumed_speed_mps",
                s.stationary_assumed_speed_mps,
            ),
        ] {
            check_positive(format!("sampling.{name}"), v)?;
        }
        check_non_negative(
            "sampling.stationary_speed_mps".into(),
            s.stationary_speed_mps,
        )?;
        check_non_negative("sampling.walking_speed_mps".into(), s.walking_speed_mps)?;
        for (name, v) in [
            ("max_interval_s", s.max_interval_s),
            ("stationary_max_interval_s", s.stationary_max_interval_s),
            ("buffer_interval_s", s.buffer_interval_s),
            ("inside_interval_s", s.inside_interval_s),
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

/// Great-circle distance in metres (haversine).
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

/// Earth-centred coordinates on the sphere, metres. Straight-line (chord)
/// distance between two such points never exceeds the great-circle distance.
fn ecef(lat: f64, lon: f64) -> [f64; 3] {
    let (sp, cp) = lat.to_radians().sin_cos();
    let (sl, cl) = lon.to_radians().sin_cos();
    [
        EARTH_RADIUS_M * cp * cl,
        EARTH_RADIUS_M * cp * sl,
        EARTH_RADIUS_M * sp,
    ]
}

/// A tangent plane at an origin: orthographic projection of Earth-centred
/// coordinates onto it. The projection is linear and drops the vertical, so a
/// distance on the plane never exceeds the chord, which never exceeds the
/// great-circle distance: index distances are lower bounds, exact to a few
/// parts in a thousand within a few hundred kilometres of the origin.
#[derive(Debug, Clone, Copy)]
struct Plane {
    origin: (f64, f64),
    east: [f64; 3],
    north: [f64; 3],
}

impl Plane {
    fn at(lat: f64, lon: f64) -> Plane {
        let (p, l) = (lat.to_radians(), lon.to_radians());
        Plane {
            origin: (lat, lon),
            east: [-l.sin(), l.cos(), 0.0],
            north: [-p.sin() * l.cos(), -p.sin() * l.sin(), p.cos()],
        }
    }

    /// The plane through the mean direction of the fences (or the equator at
    /// 0° E when there are none).
    fn centred_on(fences: &[FenceDef]) -> Plane {
        let mut m = [0.0; 3];
        for f in fences {
            let e = ecef(f.lat, f.lon);
            for k in 0..3 {
                m[k] += e[k];
            }
        }
        let n = (m[0] * m[0] + m[1] * m[1] + m[2] * m[2]).sqrt();
        if n == 0.0 {
            return Plane::at(0.0, 0.0);
        }
        Plane::at(
            (m[2] / n).asin().to_degrees(),
            m[1].atan2(m[0]).to_degrees(),
        )
    }

    fn project(&self, lat: f64, lon: f64) -> [f64; 2] {
        let e = ecef(lat, lon);
        let dot = |a: &[f64; 3]| a[0] * e[0] + a[1] * e[1] + a[2] * e[2];
        [dot(&self.east), dot(&self.north)]
    }
}

/// A fence's outer zone (fence plus buffer) in the R-tree, on the plane.
#[derive(Debug, Clone, Copy)]
struct Zone {
    pos: [f64; 2],
    reach_m: f64,
    index: u32,
}

fn plane_distance(a: &[f64; 2], b: &[f64; 2]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

impl RTreeObject for Zone {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        let (r, p) = (self.reach_m, self.pos);
        AABB::from_corners([p[0] - r, p[1] - r], [p[0] + r, p[1] + r])
    }
}

impl PointDistance for Zone {
    /// Squared distance from the point to the zone's disk (0 inside it).
    fn distance_2(&self, point: &[f64; 2]) -> f64 {
        (plane_distance(&self.pos, point) - self.reach_m)
            .max(0.0)
            .powi(2)
    }

    fn contains_point(&self, point: &[f64; 2]) -> bool {
        plane_distance(&self.pos, point) <= self.reach_m
    }
}

/// The fences in an R-tree on a local tangent plane: nearest-zone and
/// within-distance queries that never under-report a candidate.
#[derive(Debug, Clone)]
pub struct FenceIndex {
    plane: Plane,
    tree: RTree<Zone>,
}

/// The nearest fence zone (fence plus buffer) to a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nearest {
    /// The fence's position in the config's `fences`.
    pub index: u32,
    /// Metres from the point to the zone's outer edge (0 inside the zone): a
    /// lower bound on the great-circle distance, within a few parts in a
    /// thousand near the fences.
    pub distance_m: f64,
}

impl FenceIndex {
    /// Bulk-loads the fences, projected on the plane through their centre.
    pub fn new(fences: &[FenceDef]) -> FenceIndex {
        Self::on_plane(fences, Plane::centred_on(fences))
    }

    /// Bulk-loads the fences, projected on the plane touching the Earth at
    /// (lat, lon): the most precise choice for queries near that point.
    pub fn centred_at(fences: &[FenceDef], lat: f64, lon: f64) -> FenceIndex {
        Self::on_plane(fences, Plane::at(lat, lon))
    }

    /// The point where the index's plane touches the Earth.
    pub fn origin(&self) -> (f64, f64) {
        self.plane.origin
    }

    fn on_plane(fences: &[FenceDef], plane: Plane) -> FenceIndex {
        let zones = fences
            .iter()
            .enumerate()
            .map(|(i, f)| Zone {
                pos: plane.project(f.lat, f.lon),
                reach_m: f.radius_m + f.buffer_m,
                index: i as u32,
            })
            .collect();
        FenceIndex {
            plane,
            tree: RTree::bulk_load(zones),
        }
    }

    fn project(&self, lat: f64, lon: f64) -> [f64; 2] {
        self.plane.project(lat, lon)
    }

    /// The zone nearest to a point (0 m when the point is inside one).
    pub fn nearest(&self, lat: f64, lon: f64) -> Option<Nearest> {
        let mut best = (f64::INFINITY, None);
        nearest_in(self.tree.root(), self.project(lat, lon), false, &mut best);
        best.1.map(|index| Nearest {
            index,
            distance_m: best.0,
        })
    }

    /// The nearest zone the point is not inside (for sampling: the next
    /// boundary it could cross).
    fn nearest_outside(&self, p: [f64; 2]) -> Option<f64> {
        let mut best = (f64::INFINITY, None);
        nearest_in(self.tree.root(), p, true, &mut best);
        best.1.map(|_| best.0)
    }

    /// Calls `f` with every fence whose zone may be within `slack_m` of the point.
    fn within(&self, p: [f64; 2], slack_m: f64, mut f: impl FnMut(u32)) {
        within_in(self.tree.root(), p, slack_m * slack_m, &mut f);
    }
}

// Depth-first searches over rstar's nodes. rstar's own query iterators keep
// their heaps and stacks inline only up to a few dozen entries and then
// allocate; recursing instead keeps the per-fix path allocation-free (the
// depth is the tree's, about log6 of the fence count).

/// Children per node the ordered search sorts on the stack (rstar's default
/// nodes hold at most 6; larger ones are searched in their own order).
const SORTED_CHILDREN: usize = 16;

/// Branch and bound, nearest child first: the zone with the smallest
/// distance from `p` (skipping zones that contain it, when `outside_only`).
fn nearest_in(
    node: &ParentNode<Zone>,
    p: [f64; 2],
    outside_only: bool,
    best: &mut (f64, Option<u32>),
) {
    let children = node.children();
    let mut order = [(0.0f64, 0usize); SORTED_CHILDREN];
    let n = children.len().min(SORTED_CHILDREN);
    for (slot, (i, child)) in order.iter_mut().zip(children.iter().enumerate()) {
        let d2 = match child {
            RTreeNode::Leaf(z) => z.distance_2(&p),
            RTreeNode::Parent(c) => c.envelope().distance_2(&p),
        };
        *slot = (d2, i);
    }
    order[..n].sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let rest = (n..children.len()).map(|i| (0.0, i));
    for (d2, i) in order[..n].iter().copied().chain(rest) {
        if d2 > best.0 * best.0 {
            if i < n {
                // Sorted: everything after is farther still.
                break;
            }
            continue;
        }
        match &children[i] {
            RTreeNode::Leaf(z) => {
                let d = (plane_distance(&z.pos, &p) - z.reach_m).max(0.0);
                if d < best.0 && !(outside_only && d == 0.0) {
                    *best = (d, Some(z.index));
                }
            }
            RTreeNode::Parent(c) => nearest_in(c, p, outside_only, best),
        }
    }
}

/// Every zone within `max_d2` (squared metres) of `p`.
fn within_in(node: &ParentNode<Zone>, p: [f64; 2], max_d2: f64, f: &mut impl FnMut(u32)) {
    for child in node.children() {
        match child {
            RTreeNode::Leaf(z) => {
                if z.distance_2(&p) <= max_d2 {
                    f(z.index);
                }
            }
            RTreeNode::Parent(n) => {
                if n.envelope().distance_2(&p) <= max_d2 {
                    within_in(n, p, max_d2, f);
                }
            }
        }
    }
}

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

/// Distances (metres) from a fix to the boundaries it could cross next.
#[derive(Debug, Clone, Copy)]
struct Edges {
    /// To the nearest fence edge from inside its buffer ring.
    buffer_m: f64,
    /// To the nearest zone among the fences measured exactly this fix.
    zone_m: f64,
    /// To the exit (radius + margin) of a fence the device is inside.
    inside_exit_m: f64,
    /// To the coverage circle's edge.
    coverage_m: f64,
}

/// What of the geofence engine changes over time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GeoState {
    states: Vec<FenceState>,
    active: Vec<u32>,
    coverage: Option<Coverage>,
    coverage_requested: bool,
    last_fix: Option<(i64, f64, f64, f64)>,
    interval_s: f64,
    emitted_interval_s: Option<f64>,
    stats: GeoStats,
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
}

/// The geofence engine: fences, their states, the coverage circle and the
/// sampling interval. Allocates nothing per fix.
#[derive(Debug, Clone)]
pub(crate) struct Geo {
    cfg: GeofenceConfig,
    index: FenceIndex,
    states: Vec<FenceState>,
    /// Fences not `Outside` or with a transition pending.
    active: Vec<u32>,
    scratch: Vec<u32>,
    generation: u32,
    coverage: Option<Coverage>,
    coverage_requested: bool,
    last_fix: Option<(i64, f64, f64, f64)>,
    interval_s: f64,
    emitted_interval_s: Option<f64>,
    pub(crate) stats: GeoStats,
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
            states: vec![FenceState::default(); n],
            active: Vec::with_capacity(n.min(4096)),
            scratch: Vec::with_capacity(n.min(4096)),
            generation: 0,
            coverage: cfg.coverage,
            coverage_requested: false,
            last_fix: None,
            interval_s: cfg.sampling.max_interval_s,
            emitted_interval_s: None,
            stats: GeoStats::default(),
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
        self.interval_s
    }

    /// Where the device is relative to fence `index`.
    pub(crate) fn zone(&self, index: u32) -> Option<FenceZone> {
        self.states.get(index as usize).map(|s| s.zone)
    }

    /// Where the device is relative to the fence with this id.
    pub(crate) fn zone_of(&self, id: &str) -> Option<FenceZone> {
        let i = self.cfg.fences.iter().position(|f| f.id == id)?;
        self.zone(i as u32)
    }

    /// The coverage circle in use.
    pub(crate) fn coverage(&self) -> Option<Coverage> {
        self.coverage
    }

    /// Whether the device left the coverage circle and no new one came yet.
    pub(crate) fn coverage_requested(&self) -> bool {
        self.coverage_requested
    }

    /// The engine's changing state, for snapshots.
    pub(crate) fn export(&self) -> GeoState {
        GeoState {
            states: self.states.clone(),
            active: self.active.clone(),
            coverage: self.coverage,
            coverage_requested: self.coverage_requested,
            last_fix: self.last_fix,
            interval_s: self.interval_s,
            emitted_interval_s: self.emitted_interval_s,
            stats: self.stats,
        }
    }

    /// Restores exported state; refuses state for another fence list.
    pub(crate) fn import(&mut self, s: GeoState) -> Result<(), String> {
        let n = self.states.len();
        if s.states.len() != n || s.active.iter().any(|&i| i as usize >= n) {
            return Err("fences differ from the snapshot's".into());
        }
        if !s.interval_s.is_finite() || s.interval_s <= 0.0 {
            return Err("location interval is not a positive number".into());
        }
        if let Some(c) = &s.coverage {
            c.validate("coverage.").map_err(|e| e.to_string())?;
        }
        self.states = s.states;
        self.active.clear();
        self.active.extend(s.active);
        self.coverage = s.coverage;
        self.coverage_requested = s.coverage_requested;
        self.last_fix = s.last_fix;
        self.interval_s = s.interval_s;
        self.emitted_interval_s = s.emitted_interval_s;
        self.stats = s.stats;
        Ok(())
    }

    /// A new coverage circle from the server.
    pub(crate) fn set_coverage(&mut self, c: Coverage) -> Result<(), GeoError> {
        c.validate("coverage.")?;
        self.coverage = Some(c);
        self.coverage_requested = false;
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
        self.stats.fixes += 1;
        self.generation = self.generation.wrapping_add(1).max(1);
        let generation = self.generation;
        let (olat, olon) = self.index.origin();
        if distance_m(lat, lon, olat, olon) > REPROJECT_M {
            // Far from the plane's origin the index's bounds grow loose: move
            // the plane here (a rebuild, as rare as travelling that far).
            self.index = FenceIndex::centred_at(&self.cfg.fences, lat, lon);
        }
        let p = self.index.project(lat, lon);
        let margin = self.cfg.exit_margin_m;
        // Candidates: fences possibly within reach given the accuracy, and
        // every fence already active (it may be far now).
        self.scratch.clear();
        let (states, scratch) = (&mut self.states, &mut self.scratch);
        self.index.within(p, accuracy_m + margin, |i| {
            if states[i as usize].seen != generation {
                states[i as usize].seen = generation;
                scratch.push(i);
            }
        });
        for &i in &self.active {
            if states[i as usize].seen != generation {
                states[i as usize].seen = generation;
                scratch.push(i);
            }
        }
        self.active.clear();
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
            let st = &mut self.states[i as usize];
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
                            self.stats.exits += 1;
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
                            self.stats.enters += 1;
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
                self.active.push(i);
            }
        }
        // Coverage: ask once per circle, when surely outside it.
        let mut coverage_left_m = f64::INFINITY;
        if let Some(c) = self.coverage {
            let d = distance_m(lat, lon, c.lat, c.lon);
            if d - accuracy_m > c.radius_m {
                if !self.coverage_requested {
                    self.coverage_requested = true;
                    self.stats.coverage_requests += 1;
                    emit(GeoEvent::CoverageExit);
                }
            } else {
                coverage_left_m = c.radius_m - d;
            }
        }
        let speed = self.speed(now_ms, lat, lon, accuracy_m, speed_mps);
        self.last_fix = Some((now_ms, lat, lon, accuracy_m));
        self.interval_s = self.next_interval(
            p,
            accuracy_m,
            speed,
            Edges {
                buffer_m: buffer_edge_m,
                zone_m: zone_edge_m,
                inside_exit_m,
                coverage_m: coverage_left_m,
            },
        );
        let changed = self
            .emitted_interval_s
            .is_none_or(|e| (self.interval_s - e).abs() > 0.1 * e);
        if changed {
            self.emitted_interval_s = Some(self.interval_s);
            emit(GeoEvent::Interval(self.interval_s as f32));
        }
    }

    /// Reported speed, or movement since the last fix beyond what the two
    /// accuracies explain; `None` without evidence either way.
    fn speed(
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
        match self.last_fix {
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
    fn next_interval(&self, p: [f64; 2], accuracy_m: f64, speed: Option<f64>, edges: Edges) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fence(id: &str, lat: f64, lon: f64, r: f64, buf: f64) -> FenceDef {
        FenceDef {
            id: id.into(),
            lat,
            lon,
            radius_m: r,
            buffer_m: buf,
            category: "poi".into(),
        }
    }

    fn cfg(fences: Vec<FenceDef>) -> GeofenceConfig {
        GeofenceConfig {
            coverage: None,
            fences,
            dwell_enter_s: 10.0,
            dwell_exit_s: 30.0,
            exit_margin_m: 25.0,
            sampling: SamplingConfig::default(),
        }
    }

    /// A point `m` metres north of (lat, lon).
    fn north(lat: f64, lon: f64, m: f64) -> (f64, f64) {
        (lat + (m / EARTH_RADIUS_M).to_degrees(), lon)
    }

    fn run(g: &mut Geo, t: i64, (lat, lon): (f64, f64), acc: f64) -> Vec<GeoEvent> {
        let mut out = Vec::new();
        g.on_fix(t, lat, lon, acc, None, |e| out.push(e));
        out.retain(|e| !matches!(e, GeoEvent::Interval(_)));
        out
    }

    #[test]
    fn haversine_matches_a_known_distance() {
        // One degree of latitude ≈ 111.2 km on the mean sphere.
        let d = distance_m(0.0, 0.0, 1.0, 0.0);
        assert!((d - 111_195.0).abs() < 5.0, "{d}");
    }

    #[test]
    fn enter_needs_the_dwell_and_exit_needs_the_margin_and_dwell() {
        let (lat, lon) = (48.0, 11.0);
        let mut g = Geo::new(&cfg(vec![fence("a", lat, lon, 200.0, 500.0)]));
        assert_eq!(run(&mut g, 0, north(lat, lon, 600.0), 10.0), []);
        assert_eq!(g.zone(0), Some(FenceZone::Buffer));
        // Buffer: bounded by the time to the fence edge at 40 m/s.
        assert!(
            (g.interval_s() - (400.0 - 35.0) / 40.0).abs() < 0.1,
            "{}",
            g.interval_s()
        );
        // Inside but the accuracy circle crosses the edge: not yet.
        assert_eq!(run(&mut g, 10_000, north(lat, lon, 180.0), 30.0), []);
        assert_eq!(run(&mut g, 20_000, north(lat, lon, 100.0), 30.0), []);
        assert_eq!(
            run(&mut g, 25_000, north(lat, lon, 90.0), 30.0),
            [],
            "dwell"
        );
        assert_eq!(
            run(&mut g, 30_000, north(lat, lon, 80.0), 30.0),
            [GeoEvent::Enter(0)]
        );
        // Just outside the radius but within the margin: still inside.
        assert_eq!(run(&mut g, 60_000, north(lat, lon, 215.0), 5.0), []);
        assert_eq!(run(&mut g, 70_000, north(lat, lon, 260.0), 5.0), []);
        assert_eq!(
            run(&mut g, 90_000, north(lat, lon, 270.0), 5.0),
            [],
            "dwell"
        );
        assert_eq!(
            run(&mut g, 100_000, north(lat, lon, 280.0), 5.0),
            [GeoEvent::Exit(0)]
        );
        assert_eq!(g.zone(0), Some(FenceZone::Buffer));
        assert_eq!((g.stats.enters, g.stats.exits), (1, 1));
    }

    /// Standing `at_m` from the centre of a 150 m fence, fixes every 10 s with
    /// uniform noise of ±20 m reported as 20 m accuracy: the transitions seen.
    fn noisy_stand(at_m: f64) -> Vec<GeoEvent> {
        let (lat, lon) = (35.0, 139.0);
        let mut g = Geo::new(&cfg(vec![fence("a", lat, lon, 150.0, 300.0)]));
        let mut rng = 12345u64;
        let mut seen = Vec::new();
        for k in 0..2_000 {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((rng >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0;
            seen.extend(run(
                &mut g,
                k * 10_000,
                north(lat, lon, at_m + 20.0 * u),
                20.0,
            ));
        }
        seen
    }

    #[test]
    fn noise_around_the_edge_does_not_flap() {
        assert_eq!(noisy_stand(140.0), [GeoEvent::Enter(0)], "10 m inside");
        assert_eq!(noisy_stand(160.0), [], "10 m outside");
    }

    #[test]
    fn leaving_the_coverage_asks_once_per_circle() {
        let mut c = cfg(vec![]);
        c.coverage = Some(Coverage {
            lat: 0.0,
            lon: 0.0,
            radius_m: 1_000.0,
        });
        let mut g = Geo::new(&c);
        assert_eq!(run(&mut g, 0, north(0.0, 0.0, 500.0), 10.0), []);
        assert_eq!(
            run(&mut g, 10_000, north(0.0, 0.0, 1_100.0), 10.0),
            [GeoEvent::CoverageExit]
        );
        assert_eq!(run(&mut g, 20_000, north(0.0, 0.0, 1_200.0), 10.0), []);
        g.set_coverage(Coverage {
            lat: 0.011,
            lon: 0.0,
            radius_m: 1_000.0,
        })
        .unwrap();
        assert_eq!(run(&mut g, 30_000, north(0.0, 0.0, 1_200.0), 10.0), []);
        assert!(g
            .set_coverage(Coverage {
                lat: 91.0,
                lon: 0.0,
                radius_m: 1.0
            })
            .is_err());
    }

    #[test]
    fn interval_grows_with_distance_and_when_stationary() {
        let mut g = Geo::new(&cfg(vec![fence("a", 0.0, 0.0, 100.0, 400.0)]));
        let mut iv = |t, m, speed| {
            g.on_fix(t, north(0.0, 0.0, m).0, 0.0, 10.0, Some(speed), |_| {});
            g.interval_s()
        };
        let near = iv(0, 2_000.0, 10.0);
        let far = iv(1_000, 20_000.0, 10.0);
        let still = iv(2_000, 20_000.0, 0.0);
        assert!(
            (near - (2_000.0 - 500.0 - 10.0 - 25.0) / 40.0).abs() < 1.0,
            "{near}"
        );
        assert!(far > near && far <= 300.0, "{far}");
        assert!(still > far, "{still}");
        assert_eq!(iv(3_000, 300.0, 1.0), 5.0, "buffer, near the edge");
        assert_eq!(
            iv(4_000, 450.0, 0.0),
            ((350.0 - 35.0) / 10.0_f64).clamp(5.0, 600.0),
            "buffer, still"
        );
    }

    #[test]
    fn bad_fences_are_errors_naming_the_field() {
        let cases = [
            (fence("a", 0.0, 0.0, 0.0, 10.0), "fences[0].radius_m"),
            (fence("a", f64::NAN, 0.0, 10.0, 10.0), "fences[0].lat"),
            (fence("a", 95.0, 0.0, 10.0, 10.0), "fences[0].lat"),
            (fence("a", 0.0, 190.0, 10.0, 10.0), "fences[0].lon"),
            (fence("a", 0.0, 0.0, 10.0, -1.0), "fences[0].buffer_m"),
            (fence("", 0.0, 0.0, 10.0, 1.0), "fences[0].id"),
        ];
        for (f, field) in cases {
            let e = cfg(vec![f]).validate().unwrap_err();
            assert_eq!(e.field, field, "{e}");
            assert!(e.to_string().starts_with(&format!("geofence.{field}")));
        }
        let dup = cfg(vec![
            fence("a", 0.0, 0.0, 1.0, 0.0),
            fence("a", 1.0, 0.0, 1.0, 0.0),
        ]);
        assert_eq!(dup.validate().unwrap_err().field, "fences[1].id");
        let mut c = cfg(vec![]);
        c.sampling.max_interval_s = 1.0;
        assert_eq!(c.validate().unwrap_err().field, "sampling.max_interval_s");
    }

    /// The reference the index must agree with: a linear scan on the same plane.
    fn brute_nearest(index: &FenceIndex, fences: &[FenceDef], lat: f64, lon: f64) -> f64 {
        let p = index.project(lat, lon);
        fences
            .iter()
            .map(|f| {
                (plane_distance(&index.project(f.lat, f.lon), &p) - f.radius_m - f.buffer_m)
                    .max(0.0)
            })
            .fold(f64::INFINITY, f64::min)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the fences' spread (two continents here), the next fix is
        /// due before the device, at the assumed top speed, could reach any zone.
        #[test]
        fn the_interval_never_outruns_a_zone(
            at in (0usize..4, -30_000.0f64..30_000.0, -30_000.0f64..30_000.0),
        ) {
            let sites = [(50.03, 8.57), (51.47, -0.45), (35.55, 139.78), (34.43, 135.23)];
            let fences: Vec<FenceDef> = sites
                .iter()
                .enumerate()
                .map(|(i, &(la, lo))| fence(&i.to_string(), la, lo, 1_200.0, 1_500.0))
                .collect();
            let mut g = Geo::new(&cfg(fences.clone()));
            let (la, lo) = sites[at.0];
            let p = (
                la + (at.1 / EARTH_RADIUS_M).to_degrees(),
                lo + (at.2 / (EARTH_RADIUS_M * la.to_radians().cos())).to_degrees(),
            );
            g.on_fix(0, p.0, p.1, 10.0, Some(20.0), |_| {});
            let nearest = fences
                .iter()
                .map(|f| distance_m(p.0, p.1, f.lat, f.lon) - f.radius_m - f.buffer_m)
                .fold(f64::INFINITY, f64::min);
            if nearest > 0.0 {
                let reach = g.interval_s() * 40.0;
                prop_assert!(reach <= (nearest - 35.0).max(5.0 * 40.0) + 1e-6, "{} m in {} s, zone at {} m", reach, g.interval_s(), nearest);
            }
        }

        #[test]
        fn index_agrees_with_a_linear_scan(
            fences in prop::collection::vec((-60.0f64..60.0, -170.0f64..170.0, 1.0f64..5_000.0, 0.0f64..5_000.0), 1..200),
            points in prop::collection::vec((-60.0f64..60.0, -170.0f64..170.0), 1..20),
            spread in 0.001f64..5.0,
        ) {
            // Cluster around the first fence so that near and inside cases occur.
            let (la0, lo0) = (fences[0].0, fences[0].1);
            let defs: Vec<FenceDef> = fences.iter().enumerate().map(|(i, &(la, lo, r, b))| {
                fence(&i.to_string(), la0 + (la - la0) * spread / 60.0, lo0 + (lo - lo0) * spread / 170.0, r, b)
            }).collect();
            let index = FenceIndex::new(&defs);
            for &(la, lo) in &points {
                let (la, lo) = (la0 + (la - la0) * spread / 60.0, lo0 + (lo - lo0) * spread / 170.0);
                let got = index.nearest(la, lo).unwrap().distance_m;
                let want = brute_nearest(&index, &defs, la, lo);
                prop_assert!((got - want).abs() < 1e-6 * want.max(1.0), "{} vs {}", got, want);
                // The nearest zone not containing the point, and every zone within 2 km.
                let p = index.project(la, lo);
                let dists: Vec<f64> = defs
                    .iter()
                    .map(|f| (plane_distance(&index.project(f.lat, f.lon), &p) - f.radius_m - f.buffer_m).max(0.0))
                    .collect();
                let outside = dists.iter().copied().filter(|&d| d > 0.0).fold(f64::INFINITY, f64::min);
                let got_out = index.nearest_outside(p).unwrap_or(f64::INFINITY);
                prop_assert!(got_out == outside || (got_out - outside).abs() < 1e-6 * outside.max(1.0));
                let mut near = Vec::new();
                index.within(p, 2_000.0, |i| near.push(i));
                near.sort_unstable();
                let want_near: Vec<u32> = (0..dists.len() as u32).filter(|&i| dists[i as usize] <= 2_000.0).collect();
                prop_assert_eq!(near, want_near);
            }
        }

        #[test]
        fn plane_distance_is_a_lower_bound_and_tight_near_the_origin(
            o in (-80.0f64..80.0, -179.0f64..179.0),
            a in (-89.0f64..89.0, -179.0f64..179.0),
            b in (-89.0f64..89.0, -179.0f64..179.0),
            (dn, de) in (-0.5f64..0.5, -0.5f64..0.5),
        ) {
            let plane = Plane::at(o.0, o.1);
            let flat = plane_distance(&plane.project(a.0, a.1), &plane.project(b.0, b.1));
            prop_assert!(flat <= distance_m(a.0, a.1, b.0, b.1) + 1e-6);
            // Within ~55 km of the origin the plane is within 0.1% of the sphere.
            let (c, d) = ((o.0 + dn, o.1), (o.0, o.1 + de));
            let near = plane_distance(&plane.project(c.0, c.1), &plane.project(d.0, d.1));
            let true_d = distance_m(c.0, c.1, d.0, d.1);
            prop_assert!(near >= true_d * 0.999 - 1e-6, "{} vs {}", near, true_d);
        }
    }
}
