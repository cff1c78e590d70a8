//! The geofence engine on synthetic fixes, with a linear-scan oracle for the index.
#[test]
fn going_back_and_forth_between_two_far_places_swaps_instead_of_rebuilding() {
    let cfg = cfg(vec![
        fence("sh", 31.23, 121.47, 100.0, 50.0),
        fence("sf", 37.77, -122.42, 100.0, 50.0),
    ]);
    let mut g = Geo::new(&cfg);
    for k in 0..100 {
        let (lat, lon) = if k % 2 == 0 {
            (37.77, -122.42)
        } else {
            (31.23, 121.47)
        };
        g.on_fix(k * 60_000, lat, lon, 10.0, None, |_| {});
    }
    assert!(g.rebuilds <= 2, "{} rebuilds", g.rebuilds);
}
use super::geometry::{Plane, EARTH_RADIUS_M};
use super::index::plane_distance;
use super::motion::Motion;
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
        // Planned for the earliest moment, so the bounds below are exact.
        sampling: SamplingConfig {
            entry_latency_s: 0.0,
            ..SamplingConfig::default()
        },
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
    assert_eq!((g.stats().enters, g.stats().exits), (1, 1));
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
        run(&mut g, 30_000, north(0.0, 0.0, 1_100.0), 10.0),
        [GeoEvent::CoverageExit]
    );
    assert_eq!(run(&mut g, 40_000, north(0.0, 0.0, 1_200.0), 10.0), []);
    g.set_coverage(Coverage {
        lat: 0.011,
        lon: 0.0,
        radius_m: 1_000.0,
    })
    .unwrap();
    assert_eq!(run(&mut g, 50_000, north(0.0, 0.0, 1_200.0), 10.0), []);
    assert!(g
        .set_coverage(Coverage {
            lat: 91.0,
            lon: 0.0,
            radius_m: 1.0
        })
        .is_err());
}

/// The interval after one fix at `m` metres north of the fence, with no
/// earlier fix to measure movement from (each call is 10 minutes apart).
fn interval_at(g: &mut Geo, t_min: i64, m: f64, speed: Option<f64>) -> f64 {
    g.on_fix(
        t_min * 600_000,
        north(0.0, 0.0, m).0,
        0.0,
        10.0,
        speed,
        |_| {},
    );
    g.interval_s()
}

#[test]
fn the_interval_follows_the_motion_state_and_the_fence_edge() {
    // Fence radius 100 m, buffer 400 m; slack = accuracy 10 + margin 25.
    let mut g = Geo::new(&cfg(vec![fence("a", 0.0, 0.0, 100.0, 400.0)]));
    // A vehicle at 10 m/s: the fence edge (1,900 m) at max(30, 1.5 × 10 + 1) m/s.
    let v = interval_at(&mut g, 0, 2_000.0, Some(10.0));
    assert!((v - (1_900.0 - 35.0) / 30.0).abs() < 0.01, "vehicle {v}");
    // Walking at 1.4 m/s: 1.5 × 1.4 + 1 = 3.1 m/s; far, so capped.
    let mut g = Geo::new(&cfg(vec![fence("a", 0.0, 0.0, 100.0, 400.0)]));
    assert_eq!(
        interval_at(&mut g, 0, 2_000.0, Some(1.4)),
        300.0,
        "walking, far"
    );
    let w = interval_at(&mut g, 1, 600.0, Some(1.4));
    assert!((w - (500.0 - 35.0) / 3.1).abs() < 0.01, "walking, near {w}");
    // Still: the buffer stays a margin (zone edge 100 m at 10 m/s).
    let mut g = Geo::new(&cfg(vec![fence("a", 0.0, 0.0, 100.0, 400.0)]));
    let still = interval_at(&mut g, 0, 600.0, Some(0.0));
    assert!(
        (still - (100.0 - 35.0) / 10.0).abs() < 0.01,
        "still {still}"
    );
    assert_eq!(
        interval_at(&mut g, 1, 20_000.0, Some(0.0)),
        600.0,
        "still, far"
    );
    // No speed evidence: the zone edge at the top speed.
    let mut g = Geo::new(&cfg(vec![fence("a", 0.0, 0.0, 100.0, 400.0)]));
    let unknown = interval_at(&mut g, 0, 2_000.0, None);
    assert!(
        (unknown - (1_500.0 - 35.0) / 40.0).abs() < 0.01,
        "unknown {unknown}"
    );
    // The fixed bound of the first version, on request.
    let mut c = cfg(vec![fence("a", 0.0, 0.0, 100.0, 400.0)]);
    c.sampling.motion_aware = false;
    let mut g = Geo::new(&c);
    let fixed = interval_at(&mut g, 0, 2_000.0, Some(10.0));
    assert!(
        (fixed - (1_500.0 - 35.0) / 40.0).abs() < 0.01,
        "fixed bound {fixed}"
    );
}

#[test]
fn the_motion_state_speeds_up_at_once_and_slows_down_after_agreeing_fixes() {
    let mut g = Geo::new(&cfg(vec![]));
    let at = |g: &mut Geo, t: i64, v: f64| {
        g.on_fix(t * 1_000, 10.0, 10.0, 5.0, Some(v), |_| {});
        g.state.motion.motion
    };
    assert_eq!(at(&mut g, 0, 0.1), Motion::Still);
    // 0.8 m/s is within the noise of still (0.5 + 0.5): still.
    assert_eq!(at(&mut g, 10, 0.8), Motion::Still);
    assert_eq!(at(&mut g, 20, 1.4), Motion::Walking);
    assert_eq!(at(&mut g, 30, 12.0), Motion::Vehicle, "faster at once");
    assert_eq!(
        at(&mut g, 40, 1.2),
        Motion::Vehicle,
        "one slower fix is not enough"
    );
    assert_eq!(at(&mut g, 50, 1.3), Motion::Walking);
    // A jump no one can make is held back: the state stays.
    g.on_fix(60_000, 10.5, 10.0, 5.0, None, |_| {});
    assert_eq!(g.state.motion.motion, Motion::Walking);
    assert_eq!(g.stats().outliers, 1);
    // A second fix that agrees with it moves the track there: unknown.
    g.on_fix(70_000, 10.5, 10.0, 5.0, None, |_| {});
    assert_eq!(g.state.motion.motion, Motion::Unknown);
    assert_eq!(g.stats().outliers, 1);
}

#[test]
fn the_fix_budget_holds_the_interval_until_the_oldest_fix_ages_out() {
    let mut c = cfg(vec![fence("a", 0.0, 0.0, 100.0, 400.0)]);
    c.sampling.max_fixes_per_hour = Some(10);
    let mut g = Geo::new(&c);
    for k in 0..9 {
        g.on_fix(
            k * 1_000,
            north(0.0, 0.0, 800.0).0,
            0.0,
            10.0,
            Some(10.0),
            |_| {},
        );
        if k < 4 {
            assert!(
                g.interval_s() < 60.0,
                "under half the budget: {}",
                g.interval_s()
            );
        } else {
            assert_eq!(g.interval_s(), 360.0, "past half: the budget's pace");
        }
    }
    g.on_fix(
        9_000,
        north(0.0, 0.0, 800.0).0,
        0.0,
        10.0,
        Some(10.0),
        |_| {},
    );
    assert!(
        (g.interval_s() - 3_591.0).abs() < 1e-9,
        "{}",
        g.interval_s()
    );
    // An hour after the first, half the budget is free again.
    g.on_fix(
        3_600_000,
        north(0.0, 0.0, 800.0).0,
        0.0,
        10.0,
        Some(10.0),
        |_| {},
    );
    assert!(g.interval_s() < 60.0, "{}", g.interval_s());
    assert!(g.state.recent_fixes.len() <= 10);
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
            (plane_distance(&index.project(f.lat, f.lon), &p) - f.radius_m - f.buffer_m).max(0.0)
        })
        .fold(f64::INFINITY, f64::min)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the fences' spread (two continents here), the next fix is
    /// due before the device could reach a fence edge at the speed
    /// plausible for its motion (a vehicle seen at 20 m/s: 31 m/s), or,
    /// without speed evidence, a zone at the top speed.
    #[test]
    fn the_interval_never_outruns_a_fence(
        at in (0usize..4, -30_000.0f64..30_000.0, -30_000.0f64..30_000.0),
        reported in prop::option::of(Just(20.0f64)),
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
        g.on_fix(0, p.0, p.1, 10.0, reported, |_| {});
        let (speed, boundary) = match reported {
            Some(_) => (31.0, 0.0),
            None => (40.0, 1_500.0),
        };
        let nearest = fences
            .iter()
            .map(|f| distance_m(p.0, p.1, f.lat, f.lon) - f.radius_m - boundary)
            .fold(f64::INFINITY, f64::min);
        if nearest > 0.0 {
            let reach = g.interval_s() * speed;
            prop_assert!(reach <= (nearest - 35.0).max(5.0 * speed) + 1e-6, "{} m in {} s, boundary at {} m", reach, g.interval_s(), nearest);
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

/// Fixes every 5 s around one spot with uniform noise of ±`jitter` m north
/// and east, reported as 15 m: the share classified still.
fn still_share(jitter: f64) -> f64 {
    let mut g = Geo::new(&cfg(vec![]));
    let mut rng = 777u64;
    let mut u = || {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((rng >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    let mut still = 0;
    for k in 0..400 {
        let (lat, _) = north(52.0, 13.0, jitter * u());
        let lon = 13.0 + (jitter * u() / (EARTH_RADIUS_M * 52f64.to_radians().cos())).to_degrees();
        g.on_fix(k * 5_000, lat, lon, 15.0, None, |_| {});
        still += usize::from(k >= 8 && g.state.motion.motion == Motion::Still);
    }
    still as f64 / 392.0
}

#[test]
fn jitter_beyond_the_accuracy_reads_as_still() {
    // The last two fixes alone would read ±30 m in 5 s as walking.
    let (within, beyond) = (still_share(10.0), still_share(30.0));
    assert!(within > 0.99, "{within}");
    assert!(beyond > 0.9, "{beyond}");
}

#[test]
fn a_walker_is_seen_moving_from_the_spread_of_its_fixes() {
    // 1.5 m/s north, a fix every 5 s, accuracy 15 m: each step (7.5 m) is
    // within the accuracies, the window's halves are not.
    let mut g = Geo::new(&cfg(vec![]));
    for k in 0..20 {
        let (lat, lon) = north(40.0, -3.0, 7.5 * k as f64);
        g.on_fix(k * 5_000, lat, lon, 15.0, None, |_| {});
    }
    assert_eq!(g.state.motion.motion, Motion::Walking);
    assert!(g.state.motion.on_foot);
}

#[test]
fn a_still_device_plans_by_how_it_came_and_backs_off_inside_a_fence() {
    let c = cfg(vec![fence("a", 0.0, 0.0, 100.0, 400.0)]);
    // Came on foot, now still 300 m from the edge: the edge at walking pace.
    let mut g = Geo::new(&c);
    for k in 0..20 {
        run(
            &mut g,
            k * 5_000,
            north(0.0, 0.0, 550.0 - 7.5 * k as f64),
            10.0,
        );
    }
    for k in 20..50 {
        run(&mut g, k * 5_000, north(0.0, 0.0, 400.0), 10.0);
    }
    assert_eq!(g.state.motion.motion, Motion::Still);
    let walking = (300.0 - 35.0) / c.sampling.walking_speed_mps;
    assert!(
        (g.interval_s() - walking).abs() < 0.01,
        "{}",
        g.interval_s()
    );
    // Still from the first fix: taken to be carried on foot.
    let mut g = Geo::new(&c);
    for k in 0..10 {
        run(&mut g, k * 5_000, north(0.0, 0.0, 400.0), 10.0);
    }
    assert_eq!(g.state.motion.motion, Motion::Still);
    assert!(
        (g.interval_s() - walking).abs() < 0.01,
        "{}",
        g.interval_s()
    );
    // Came by car and stopped: the buffer ring's outer edge at the speed
    // of a stop in traffic.
    let mut g = Geo::new(&c);
    for k in 0..4 {
        let at = north(0.0, 0.0, 1_200.0 - 150.0 * k as f64);
        g.on_fix(k * 10_000, at.0, 0.0, 10.0, Some(15.0), |_| {});
    }
    assert_eq!(g.state.motion.motion, Motion::Vehicle);
    for k in 4..30 {
        g.on_fix(
            k * 10_000,
            north(0.0, 0.0, 600.0).0,
            0.0,
            10.0,
            Some(0.0),
            |_| {},
        );
    }
    assert_eq!(g.state.motion.motion, Motion::Still);
    let traffic = (100.0 - 35.0) / c.sampling.stationary_assumed_speed_mps;
    assert!(
        (g.interval_s() - traffic).abs() < 0.01,
        "{}",
        g.interval_s()
    );
    // Still inside the fence, its card shown: the exit every few minutes.
    let mut g = Geo::new(&c);
    for k in 0..10 {
        run(&mut g, k * 5_000, (0.0, 0.0), 10.0);
    }
    assert_eq!(g.zone(0), Some(FenceZone::Inside));
    assert_eq!(g.interval_s(), c.sampling.inside_still_interval_s);
}

#[test]
fn an_enter_may_come_late_by_the_configured_latency() {
    let mut c = cfg(vec![fence("a", 0.0, 0.0, 100.0, 400.0)]);
    let on_time = interval_at(&mut Geo::new(&c), 0, 600.0, Some(1.4));
    c.sampling.entry_latency_s = 20.0;
    let late = interval_at(&mut Geo::new(&c), 0, 600.0, Some(1.4));
    assert!((late - on_time - 20.0).abs() < 1e-9, "{on_time} {late}");
}
