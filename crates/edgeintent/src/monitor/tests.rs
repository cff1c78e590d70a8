//! The monitors on synthetic streams, against recounts.
use super::profile::PSI_FLOOR;
use super::state::*;
use super::window::{bin_of, psi, ModelCall, EXACT_LATENCY_US};
use super::*;
use crate::event::EventType;

fn profile() -> ReferenceProfile {
    let h = |edges: Vec<f32>| {
        let n = edges.len() + 1;
        Histogram {
            edges,
            freq: vec![1.0 / n as f64; n],
        }
    };
    ReferenceProfile {
        version: 1,
        rows: 1000,
        features: vec![FeatureHistogram {
            name: "x".into(),
            histogram: h(vec![0.25, 0.5, 0.75]),
        }],
        score: Some(h(vec![0.5])),
        events: [("scroll".to_string(), 0.5), ("click".to_string(), 0.5)].into(),
        fields: Default::default(),
        surprise: None,
        natural: None,
    }
}

#[test]
fn a_profile_is_checked_against_the_spec() {
    let text = serde_json::to_string(&profile()).unwrap();
    assert!(ReferenceProfile::parse(&text, &["x"]).is_ok());
    assert!(ReferenceProfile::parse(&text, &["y"])
        .unwrap_err()
        .contains("not the spec's"));
    let mut bad = profile();
    bad.features[0].histogram.edges = vec![0.5, 0.25, 0.75];
    let e = ReferenceProfile::parse(&serde_json::to_string(&bad).unwrap(), &["x"]).unwrap_err();
    assert!(e.contains("ascending"), "{e}");
}

#[test]
fn drift_alerts_once_and_again_only_after_recovering() {
    let cfg = MonitorConfig {
        enabled: true,
        window_points: 40,
        ..MonitorConfig::default()
    };
    let p = profile();
    let mut m = Monitor::new(&cfg, &["x"], Some(&p), 0);
    let mut alerts = Vec::new();
    fn feed(m: &mut Monitor, alerts: &mut Vec<(i64, MonitorKind)>, t: i64, x: f32) {
        m.on_decision_point(t, &[x], None, 1000, ModelCall::Skipped);
        alerts.extend(m.take_alerts().map(|a| (t, a.kind)));
    }
    // In line with the reference: uniform over the four bins.
    for t in 0..200 {
        feed(&mut m, &mut alerts, t, (t % 4) as f32 * 0.25 + 0.1);
    }
    assert!(alerts.is_empty(), "{alerts:?}");
    // A producer breaks: every value 0.
    for t in 200..260 {
        feed(&mut m, &mut alerts, t, 0.0);
    }
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].1, MonitorKind::Drift);
    assert!(
        alerts[0].0 < 230,
        "within the window's first half: {alerts:?}"
    );
    assert!(m.stats().monitors[0].alerting);
    // Recovers, then breaks again: a second alert.
    for t in 260..400 {
        feed(&mut m, &mut alerts, t, (t % 4) as f32 * 0.25 + 0.1);
    }
    assert!(!m.stats().monitors[0].alerting);
    for t in 400..460 {
        feed(&mut m, &mut alerts, t, 0.9);
    }
    assert_eq!(alerts.len(), 2, "{alerts:?}");
}

#[test]
fn a_vanished_event_type_and_a_clock_jump_alert() {
    let cfg = MonitorConfig {
        enabled: true,
        event_window: 100,
        ..MonitorConfig::default()
    };
    let mut m = Monitor::new(&cfg, &["x"], Some(&profile()), 0);
    for t in 0..300 {
        let ty = if t % 2 == 0 {
            EventType::Scroll
        } else {
            EventType::Click
        };
        m.on_event(t, ty, &crate::event::EventKind::AppForeground);
    }
    let early: Vec<Alert> = m.take_alerts().collect();
    assert!(
        early.is_empty(),
        "{early:?} {:?}",
        early.iter().map(|a| m.name(a.monitor)).collect::<Vec<_>>()
    );
    for t in 300..400 {
        m.on_event(
            t,
            EventType::Scroll,
            &crate::event::EventKind::AppForeground,
        );
    }
    let a: Vec<Alert> = m.take_alerts().collect();
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(
        (a[0].kind, m.name(a[0].monitor)),
        (MonitorKind::EventRate, "click")
    );
    m.on_event(
        400 + 40 * 86_400_000,
        EventType::Scroll,
        &crate::event::EventKind::AppForeground,
    );
    let a: Vec<Alert> = m.take_alerts().collect();
    assert_eq!(a[0].kind, MonitorKind::Clock);
}

#[test]
fn failing_model_calls_set_the_model_aside_until_they_recover() {
    let cfg = MonitorConfig {
        enabled: true,
        window_points: 40,
        ..MonitorConfig::default()
    };
    let mut m = Monitor::new(&cfg, &["x"], None, 10);
    for t in 0..40 {
        m.on_decision_point(t, &[0.0], Some(0.5), 1000, ModelCall::Ran);
    }
    assert!(!m.model_set_aside());
    for t in 40..50 {
        m.on_decision_point(t, &[0.0], None, 1000, ModelCall::Failed);
    }
    assert!(m.model_set_aside());
    assert_eq!(
        m.take_alerts().next().map(|a| a.kind),
        Some(MonitorKind::ModelErrors)
    );
    for t in 50..200 {
        m.on_decision_point(t, &[0.0], Some(0.5), 1000, ModelCall::Ran);
    }
    assert!(!m.model_set_aside());
    // Eleven refreshes within an hour against a budget of 10.
    for k in 0..11 {
        m.on_refresh(k * 60_000);
    }
    assert_eq!(
        m.take_alerts().next().map(|a| a.kind),
        Some(MonitorKind::RefreshRate)
    );
}

/// The counts kept as points enter and leave (a full window overwriting
/// its oldest row in place, or points leaving by age) are those a
/// recount of the window's rows gives, as a restore computes them.
#[test]
fn window_counts_match_a_recount_of_its_rows() {
    for window_s in [None, Some(3.0)] {
        let cfg = MonitorConfig {
            window_points: 16,
            window_s,
            ..MonitorConfig::default()
        };
        let mut m = Monitor::new(&cfg, &["x"], Some(&profile()), 0);
        let mut t = 0;
        for k in 0..500u32 {
            // Uneven gaps, so the age limit evicts several points at once.
            t += i64::from(1 + (k * 7919) % 1300);
            let x = (k * 37 % 100) as f32 / 100.0;
            let score = (k % 3 != 0).then_some((k * 13 % 100) as f32 / 100.0);
            m.on_decision_point(t, &[x], score, 1000, ModelCall::Ran);
            let saved = m.s.clone();
            let kept = m.counts.clone();
            m.restore(saved).unwrap();
            assert_eq!(m.counts, kept, "point {k}, window_s {window_s:?}");
        }
    }
}

proptest::proptest! {
    /// The call window's p99 (histogram, scan past its range) is the
    /// sort's, and PSI from the log tables is the direct formula's.
    #[test]
    fn window_quantiles_and_psi_match_their_plain_forms(
        calls in proptest::collection::vec((0u8..3, 0u32..1500), 1..300),
        evict in 0usize..300,
    ) {
        let mut m = Monitor::new(&MonitorConfig::default(), &["x"], None, 0);
        let mut kept = Vec::new();
        for (i, &(model, us)) in calls.iter().enumerate() {
            m.calls.add(model, us);
            if i < evict {
                m.calls.remove(model, us);
            } else if model != ModelCall::Skipped as u8 {
                kept.push(us);
            }
        }
        proptest::prop_assert_eq!(m.calls.calls as usize, kept.len());
        kept.sort_unstable();
        for (k, &want) in kept.iter().enumerate() {
            match m.calls.nth_smallest(k) {
                Some(v) => proptest::prop_assert_eq!(v, want),
                None => proptest::prop_assert!(want as usize >= EXACT_LATENCY_US),
            }
        }

        let counts: Vec<u32> = calls.iter().map(|&(_, us)| us % 7).take(6).collect();
        let total: u32 = counts.iter().sum();
        let freq = [0.5, 0.2, 0.0, 0.1, 0.15, 0.05];
        let freq = &freq[..counts.len()];
        let ln_freq: Vec<f64> = freq.iter().map(|e: &f64| e.max(PSI_FLOOR).ln()).collect();
        let ln_count: Vec<f64> = (0..=total.max(1)).map(|c| (c as f64).ln()).collect();
        let plain: f64 = counts.iter().zip(freq).map(|(&c, &e)| {
            let a = (f64::from(c) / f64::from(total.max(1))).max(PSI_FLOOR);
            let e = e.max(PSI_FLOOR);
            (a - e) * (a / e).ln()
        }).sum();
        let floored: Vec<f64> = freq.iter().map(|e: &f64| e.max(PSI_FLOOR)).collect();
        let fast = psi(&counts, total, &floored, &ln_freq, &ln_count);
        proptest::prop_assert!((fast - plain).abs() <= 1e-12 * plain.abs().max(1.0), "{} vs {}", fast, plain);
    }

    /// The fixed-width bin count is the profile's own binary search.
    #[test]
    fn padded_bins_match_the_histogram(
        edges in proptest::collection::btree_set(-1000i32..1000, 0..MAX_BINS),
        x in proptest::prop_oneof![proptest::strategy::Strategy::prop_map(-1100i32..1100, |v| v as f32 / 10.0), proptest::strategy::Just(f32::NAN), proptest::strategy::Just(f32::INFINITY)],
    ) {
        let edges: Vec<f32> = edges.into_iter().map(|e| e as f32 / 10.0).collect();
        let h = Histogram { freq: vec![0.0; edges.len() + 1], edges: edges.clone() };
        let mut padded = [f32::INFINITY; MAX_BINS];
        padded[..edges.len()].copy_from_slice(&edges);
        proptest::prop_assert_eq!(bin_of(&padded, edges.len(), x), h.bin(x));
    }
}

/// Feeds `n` decision points from `x_of(t)`, returning the alerts' kinds.
fn feed_points(
    m: &mut Monitor,
    ts: std::ops::Range<i64>,
    x_of: impl Fn(i64) -> f32,
) -> Vec<String> {
    let mut out = Vec::new();
    for t in ts {
        m.on_decision_point(t, &[x_of(t)], None, 1000, ModelCall::Skipped);
        let fired: Vec<Alert> = m.take_alerts().collect();
        out.extend(fired.iter().map(|a| m.name(a.monitor).to_owned()));
    }
    out
}

#[test]
fn a_device_unlike_the_profile_from_the_start_is_not_a_broken_one() {
    let cfg = MonitorConfig {
        enabled: true,
        window_points: 40,
        ..MonitorConfig::default()
    };
    let p = profile();
    // This device's values live in the lowest two of the profile's four
    // bins: far from the training population, always.
    let unlike = |t: i64| if t % 2 == 0 { 0.1 } else { 0.3 };
    let mut m = Monitor::new(&cfg, &["x"], Some(&p), 0);
    assert!(feed_points(&mut m, 0..400, unlike).is_empty());
    let x = &m.stats().monitors[0];
    assert!(!x.alerting && x.held >= 1, "{x:?}");
    assert!(x.value.unwrap() >= x.threshold, "{x:?}");
    // Its distance from the profile is reported instead.
    let d = &m.stats().profile_distance[0];
    assert_eq!(d.name, "x");
    assert!(d.psi > 0.25 && d.points >= 200.0, "{d:?}");
    // Its stream then breaks (every value 0.9): against both, an alert.
    let alerts = feed_points(&mut m, 400..460, |_| 0.9);
    assert_eq!(alerts, ["x"]);
    // Judged against the profile alone, the same device alerts at once.
    let alone = MonitorConfig {
        own_history: false,
        ..cfg
    };
    let mut m = Monitor::new(&alone, &["x"], Some(&p), 0);
    assert_eq!(feed_points(&mut m, 0..400, unlike), ["x"]);
}

#[test]
fn before_a_device_has_history_crossings_are_held_and_a_break_is_not_learnt() {
    let cfg = MonitorConfig {
        enabled: true,
        window_points: 40,
        ..MonitorConfig::default()
    };
    let mut m = Monitor::new(&cfg, &["x"], Some(&profile()), 0);
    // A window and a half: too little history to judge against.
    assert!(feed_points(&mut m, 0..60, |_| 0.9).is_empty());
    assert!(m.stats().monitors[0].held >= 1);
    // A long normal stretch, then a break that lasts: one alert, which
    // stands (the history is frozen while it does, so the break never
    // becomes this device's normal).
    let normal = |t: i64| (t % 4) as f32 * 0.25 + 0.1;
    feed_points(&mut m, 60..2000, normal);
    assert_eq!(feed_points(&mut m, 2000..4000, |_| 0.9), ["x"]);
    assert!(m.stats().monitors[0].alerting);
}

#[test]
fn a_rare_type_is_judged_by_the_device_own_share_and_vanishes_when_it_stops() {
    let cfg = MonitorConfig {
        enabled: true,
        event_window: 100,
        ..MonitorConfig::default()
    };
    let fg = crate::event::EventKind::AppForeground;
    // Half of the profile's events are clicks; this device sends one in 25.
    let rare = |t: i64| match t % 25 {
        0 => EventType::Click,
        _ => EventType::Scroll,
    };
    let run = |cfg: &MonitorConfig, stop_at: i64| {
        let mut m = Monitor::new(cfg, &["x"], Some(&profile()), 0);
        let mut fired = Vec::new();
        for t in 0..1500 {
            let ty = if t < stop_at {
                rare(t)
            } else {
                EventType::Scroll
            };
            m.on_event(t, ty, &fg);
            let a: Vec<Alert> = m.take_alerts().collect();
            fired.extend(a.iter().map(|a| (t, m.name(a.monitor).to_owned())));
        }
        (m, fired)
    };
    let (m, fired) = run(&cfg, i64::MAX);
    assert!(fired.is_empty(), "{fired:?}");
    let click = m
        .stats()
        .monitors
        .into_iter()
        .find(|s| s.reason == "monitor:event_rate:click")
        .unwrap();
    assert!(click.held >= 1, "{click:?}");
    // The clicks stop: within two windows, an alert.
    let (_, fired) = run(&cfg, 1000);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert!(fired[0].0 < 1200 && fired[0].1 == "click", "{fired:?}");
    // Against the profile alone, the rare clicks "vanished" from the start.
    let alone = MonitorConfig {
        own_history: false,
        ..cfg.clone()
    };
    let (_, fired) = run(&alone, i64::MAX);
    assert!(
        fired.first().is_some_and(|(t, n)| *t < 200 && n == "click"),
        "{fired:?}"
    );
}

#[test]
fn the_own_history_survives_a_snapshot() {
    let cfg = MonitorConfig {
        enabled: true,
        window_points: 40,
        ..MonitorConfig::default()
    };
    let p = profile();
    let mut m = Monitor::new(&cfg, &["x"], Some(&p), 0);
    feed_points(&mut m, 0..400, |t| if t % 2 == 0 { 0.1 } else { 0.3 });
    let mut back = Monitor::new(&cfg, &["x"], Some(&p), 0);
    back.restore(m.save()).unwrap();
    assert_eq!(back.stats(), m.stats());
    // A history that does not fit is refused.
    let mut bad = m.save();
    bad.own.points[0] = f32::NAN;
    assert!(back.restore(bad).is_err());
    // Both go on alike: the restored one has the history to judge by.
    assert_eq!(
        feed_points(&mut m, 400..460, |_| 0.9),
        feed_points(&mut back, 400..460, |_| 0.9)
    );
}
