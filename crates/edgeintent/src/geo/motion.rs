//! How the device moves, estimated from its fixes: outliers rejected, speed
//! evidence from the reported speed and from the spread of the recent fixes,
//! a motion state (still, walking, cycling, vehicle) with hysteresis.
//!
//! Real phone fixes jitter more than their accuracy says (indoors, near
//! buildings) and jump now and then by hundreds of metres. The speed is
//! therefore taken from how far the middle of the newer recent fixes lies
//! from the middle of the older ones, beyond what their accuracies explain,
//! rather than from the last two fixes alone; a fix no plausible speed can
//! reach is held back until a second one confirms it.

use serde::{Deserialize, Serialize};

use super::config::SamplingConfig;
use super::geometry::{distance_m, EARTH_RADIUS_M};

/// Fixes further apart than this say nothing about the current speed.
const SPEED_EVIDENCE_MS: i64 = 300_000;
/// Recent fixes the speed is estimated from.
const WINDOW: usize = 16;

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

/// One accepted fix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Fix {
    pub(crate) t_ms: i64,
    pub(crate) lat: f64,
    pub(crate) lon: f64,
    pub(crate) acc: f64,
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
    /// The last accepted fixes, a ring; `len` of them are valid, the newest
    /// at `(head + WINDOW - 1) % WINDOW`.
    recent: [Fix; WINDOW],
    len: u8,
    head: u8,
    /// A fix no plausible speed reaches from the last accepted one, held
    /// until the next fix confirms or contradicts it.
    suspect: Option<Fix>,
    /// Whether the device last moved at walking pace: it came on foot, so
    /// it sets off on foot (one that came by car or bike, or whose way here
    /// is not known, may pull away at once).
    pub(crate) on_foot: bool,
}

/// What became of a fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Part of the track: fences and sampling use it.
    Accepted,
    /// A jump no plausible speed explains, held back until confirmed.
    Outlier,
}

impl MotionState {
    /// The newest accepted fix.
    pub(crate) fn last(&self) -> Option<Fix> {
        (self.len > 0).then(|| self.recent[(usize::from(self.head) + WINDOW - 1) % WINDOW])
    }

    /// The accepted fixes, oldest first.
    fn fixes(&self) -> impl Iterator<Item = Fix> + '_ {
        let start = usize::from(self.head) + WINDOW - usize::from(self.len);
        (start..start + usize::from(self.len)).map(move |k| self.recent[k % WINDOW])
    }

    fn push(&mut self, f: Fix) {
        self.recent[usize::from(self.head)] = f;
        self.head = ((usize::from(self.head) + 1) % WINDOW) as u8;
        self.len = (usize::from(self.len) + 1).min(WINDOW) as u8;
    }

    fn restart(&mut self, fixes: &[Fix]) {
        *self = MotionState::default();
        for &f in fixes {
            self.push(f);
        }
    }

    /// Whether the state is consistent (a snapshot may carry anything).
    pub(crate) fn is_valid(&self) -> bool {
        usize::from(self.len) <= WINDOW
            && usize::from(self.head) < WINDOW
            && self
                .fixes()
                .chain(self.suspect)
                .all(|f| f.lat.is_finite() && f.lon.is_finite() && f.acc.is_finite())
    }
}

/// Speed beyond the accuracies from `a` to `b` (m/s); `None` when `b` is
/// not later than `a`.
fn beyond_speed(a: Fix, b: Fix) -> Option<f64> {
    let dt = (b.t_ms - a.t_ms) as f64 / 1000.0;
    (dt > 0.0).then(|| (distance_m(a.lat, a.lon, b.lat, b.lon) - a.acc - b.acc).max(0.0) / dt)
}

/// The median of the first `n` values (sorted in place).
fn median(v: &mut [f64; WINDOW], n: usize) -> f64 {
    let s = &mut v[..n];
    s.sort_unstable_by(f64::total_cmp);
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// The recent fixes on a local plane around the newest (the recent fixes
/// lie within a few kilometres of each other): metres east and north,
/// seconds, accuracy; converted once, read by `middle` and the scatter.
struct Plane {
    x: [f64; WINDOW],
    y: [f64; WINDOW],
    t: [f64; WINDOW],
    a: [f64; WINDOW],
}

impl Plane {
    fn new(o: Fix, fixes: &[Fix]) -> Plane {
        let mut p = Plane {
            x: [0.0; WINDOW],
            y: [0.0; WINDOW],
            t: [0.0; WINDOW],
            a: [0.0; WINDOW],
        };
        let cos_lat = o.lat.to_radians().cos();
        for (k, f) in fixes.iter().enumerate() {
            let dlon = (f.lon - o.lon + 540.0).rem_euclid(360.0) - 180.0;
            p.x[k] = dlon.to_radians() * EARTH_RADIUS_M * cos_lat;
            p.y[k] = (f.lat - o.lat).to_radians() * EARTH_RADIUS_M;
            p.t[k] = (f.t_ms - o.t_ms) as f64 / 1000.0;
            p.a[k] = f.acc;
        }
        p
    }

    /// The middle (median east, north, time, accuracy) of fixes `lo..hi`.
    fn middle(&self, lo: usize, hi: usize) -> (f64, f64, f64, f64) {
        let n = hi - lo;
        let take = |v: &[f64; WINDOW]| {
            let mut c = [0.0; WINDOW];
            c[..n].copy_from_slice(&v[lo..hi]);
            median(&mut c, n)
        };
        (take(&self.x), take(&self.y), take(&self.t), take(&self.a))
    }
}

/// Speed evidence from the recent accepted fixes (the newest included):
/// how far the middle of the newer half lies from the middle of the older
/// half beyond what their accuracies explain (each shrinks with the square
/// root of the fixes behind it), over the time between them; and the
/// scatter of the fixes around their half's middle (metres, root mean
/// square). Over a gap longer than `SPEED_EVIDENCE_MS`, a device found
/// where it was counts as still, and one found elsewhere gives no evidence.
fn spread_speed(m: &MotionState, now: Fix, previous: Option<Fix>) -> (Option<f64>, f64) {
    let mut w = [Fix::default(); WINDOW];
    let mut n = 0;
    for f in m.fixes().filter(|f| now.t_ms - f.t_ms <= SPEED_EVIDENCE_MS) {
        w[n] = f;
        n += 1;
    }
    if n < 2 {
        let found = previous.map(|p| distance_m(p.lat, p.lon, now.lat, now.lon) <= p.acc + now.acc);
        return (found.filter(|&here| here).map(|_| 0.0), 0.0);
    }
    let half = n / 2;
    let plane = Plane::new(now, &w[..n]);
    let a = plane.middle(0, half);
    let b = plane.middle(half, n);
    let mut sq = 0.0;
    for k in 0..n {
        let (mx, my) = if k < half { (a.0, a.1) } else { (b.0, b.1) };
        sq += (plane.x[k] - mx).powi(2) + (plane.y[k] - my).powi(2);
    }
    let scatter = (sq / n as f64).sqrt();
    let dt = b.2 - a.2;
    if dt <= 0.0 {
        return (None, scatter);
    }
    // Each middle is as uncertain as its fixes' accuracy, or their scatter
    // where that is wider, over the square root of their number.
    let u = a.3.max(scatter) / (half as f64).sqrt() + b.3.max(scatter) / ((n - half) as f64).sqrt();
    let v = ((b.0 - a.0).hypot(b.1 - a.1) - u).max(0.0) / dt;
    (Some(v), scatter)
}

/// Folds one fix into the motion state: an outlier is held back (the state
/// is kept), two agreeing ones restart the track where they are; an
/// accepted fix updates the speed and the state.
pub(super) fn observe(
    s: &SamplingConfig,
    m: &mut MotionState,
    fix: Fix,
    reported: Option<f64>,
) -> Verdict {
    let reported = reported.filter(|v| v.is_finite() && *v >= 0.0);
    let limit = s.max_speed_mps * 1.25;
    let previous = m.last();
    if let Some(p) = previous {
        if fix.t_ms - p.t_ms <= SPEED_EVIDENCE_MS {
            let jump = beyond_speed(p, fix).unwrap_or(0.0);
            // A reported speed can vouch for a fast move, never for a teleport.
            let vouched = reported.is_some_and(|r| jump <= r * 1.5 + s.speed_slack_mps);
            if jump > limit && !vouched {
                let confirmed = m
                    .suspect
                    .and_then(|q| beyond_speed(q, fix))
                    .is_some_and(|v| v <= limit);
                if let (true, Some(q)) = (confirmed, m.suspect) {
                    // Two fixes agree on the new place: the old one was wrong.
                    m.restart(&[q, fix]);
                    return Verdict::Accepted;
                }
                m.suspect = Some(fix);
                return Verdict::Outlier;
            }
        }
    }
    m.suspect = None;
    if previous.is_some_and(|p| fix.t_ms <= p.t_ms) {
        // No time passed: nothing to learn about the speed.
        return Verdict::Accepted;
    }
    m.push(fix);
    let (spread, scatter) = spread_speed(m, fix, previous);
    // The last step counts only at a pace no jitter reaches, with each
    // accuracy at least the scatter seen (phones understate it indoors):
    // it is what notices a vehicle pulling away before the middles move.
    let step = previous
        .filter(|p| fix.t_ms - p.t_ms <= SPEED_EVIDENCE_MS)
        .and_then(|p| {
            let a = Fix {
                acc: p.acc.max(scatter),
                ..p
            };
            beyond_speed(
                a,
                Fix {
                    acc: fix.acc.max(scatter),
                    ..fix
                },
            )
        })
        .filter(|v| *v >= s.cycling_speed_mps);
    let v = [reported, spread, step]
        .into_iter()
        .flatten()
        .reduce(f64::max);
    let before = m.motion;
    update_motion(s, m, v.filter(|v| *v <= limit));
    match m.motion {
        Motion::Cycling | Motion::Vehicle => m.on_foot = false,
        // How a device came before its first fix is not known; most are
        // carried by someone on foot when an app starts. One found
        // elsewhere after a gap may have come in a vehicle.
        Motion::Unknown => m.on_foot = previous.is_none(),
        // Setting off from a stop; slowing down from a faster state is
        // still the vehicle (or bike) braking.
        Motion::Walking if before == Motion::Still => m.on_foot = true,
        Motion::Walking | Motion::Still => {}
    }
    Verdict::Accepted
}

/// Folds this fix's speed evidence into the motion state.
fn update_motion(s: &SamplingConfig, m: &mut MotionState, speed: Option<f64>) {
    let Some(v) = speed else {
        m.motion = Motion::Unknown;
        m.speed_mps = None;
        m.slower = None;
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
