//! Tests of the incremental feature state.
use super::*;
use proptest::prelude::*;

fn spec(features: &str) -> FeatureSpec {
    FeatureSpec::from_json(&format!(
        r#"{{"version":"t","sequence_length":4,"features":{features}}}"#
    ))
    .unwrap()
}

fn at(ts_ms: i64, kind: EventKind) -> Event {
    Event { ts_ms, kind }
}

fn home() -> EventKind {
    EventKind::PageView {
        page: "home".into(),
    }
}

#[test]
fn hash_ignores_formatting_and_changes_with_meaning() {
    let a = spec(r#"[{"name":"a","kind":"since_last","event":"click"}]"#);
    let b = FeatureSpec::from_json(
        "{ \"features\": [ {\"event\": \"click\", \"kind\": \"since_last\", \"name\": \"a\", \"cap_s\": 86400} ],\n \"sequence_length\": 4, \"version\": \"t\" }",
    )
    .unwrap();
    assert_eq!(a.hash(), b.hash());
    let c = spec(r#"[{"name":"a","kind":"since_last","event":"click","cap_s":60}]"#);
    assert_ne!(a.hash(), c.hash());
    let d = spec(r#"[{"name":"b","kind":"since_last","event":"click"}]"#);
    assert_ne!(a.hash(), d.hash());
}

#[test]
fn bad_specs_name_the_feature_and_the_fix() {
    let cases = [
        (
            r#"[{"name":"x","kind":"since_last","event":"clik"}]"#,
            "feature `x`: `event`: unknown event type `clik` (did you mean `click`?)",
        ),
        (
            r#"[{"name":"y","kind":"count_since","event":"click","reset_on":"teleport"}]"#,
            "feature `y`: `reset_on`: unknown event type `teleport`;",
        ),
        (
            r#"[{"name":"x","kind":"window_count","event":"click","window_s":-1}]"#,
            "window_s",
        ),
        (
            r#"[{"name":"x","kind":"home_visible"},{"name":"x","kind":"home_visible"}]"#,
            "twice",
        ),
        (
            r#"[{"name":"x","kind":"decayed_rate","event":"click","half_life_s":5,"weight":"abs_dy_kpx"}]"#,
            "does not apply",
        ),
        ("[]", "empty"),
    ];
    for (features, needle) in cases {
        let err = FeatureSpec::from_json(&format!(r#"{{"version":"t","features":{features}}}"#))
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{features}: {err}");
    }
    let err = FeatureSpec::from_json(r#"{"version":"t","features":[{"name":"x","kind":"nope"}]}"#)
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn session_features_follow_foreground_background_and_home_views() {
    let s = spec(
        r#"[{"name":"age","kind":"session_age"},{"name":"away","kind":"absence"},
            {"name":"views","kind":"home_views_session"},{"name":"vis","kind":"home_visible"},
            {"name":"fresh","kind":"since_refresh","cap_s":100}]"#,
    );
    let mut st = FeatureState::new(&s);
    let mut out = [0f32; 5];
    st.update(&at(0, EventKind::AppForeground), 0);
    st.update(&at(1_000, home()), 1_000);
    st.update(&at(2_000, home()), 2_000);
    st.update(&at(10_000, EventKind::AppBackground), 10_000);
    st.update(&at(70_000, EventKind::AppForeground), 70_000);
    st.update(&at(71_000, home()), 71_000);
    st.write(80_000, &mut out);
    assert!((out[0] - 10f32.ln_1p()).abs() < 1e-6);
    assert!((out[1] - 60f32.ln_1p()).abs() < 1e-6);
    assert!((out[2] - 1f32.ln_1p()).abs() < 1e-6);
    assert_eq!(out[3], 1.0);
    assert!(
        (out[4] - 100f32.ln_1p()).abs() < 1e-6,
        "never refreshed: cap"
    );
    st.note_refresh(75_000);
    st.write(80_000, &mut out);
    assert!((out[4] - 5f32.ln_1p()).abs() < 1e-6);
}

#[test]
fn novelty_is_the_share_of_items_seen_before() {
    let s = spec(r#"[{"name":"nov","kind":"exposure_novelty"}]"#);
    let mut st = FeatureState::new(&s);
    let mut out = [0f32];
    let expo = |items: &[&str]| EventKind::Exposure {
        slot: "feed".into(),
        items: items.iter().map(|s| s.to_string()).collect(),
    };
    st.update(&at(0, expo(&["a", "b"])), 0);
    st.write(0, &mut out);
    assert_eq!(out[0], 0.0);
    st.update(&at(1, expo(&["a", "b", "c", "d"])), 1);
    st.write(1, &mut out);
    assert_eq!(out[0], 0.5);
}

#[test]
fn decayed_rate_halves_every_half_life_and_count_since_resets() {
    let s = spec(
        r#"[{"name":"r","kind":"decayed_rate","event":"search","half_life_s":10},
            {"name":"n","kind":"count_since","event":"exposure","reset_on":"click"},
            {"name":"px","kind":"decayed_rate","event":"scroll","half_life_s":10,"weight":"abs_dy_kpx"}]"#,
    );
    let mut st = FeatureState::new(&s);
    let mut out = [0f32; 3];
    st.update(&at(0, EventKind::Search { query_len: None }), 0);
    st.update(&at(0, EventKind::Search { query_len: None }), 0);
    st.update(
        &at(
            0,
            EventKind::Scroll {
                page: "home".into(),
                dy_px: -2000.0,
            },
        ),
        0,
    );
    st.write(10_000, &mut out);
    assert!((out[0] - 1.0).abs() < 1e-6);
    assert!((out[2] - 1.0).abs() < 1e-6);
    let expo = EventKind::Exposure {
        slot: "feed".into(),
        items: vec![],
    };
    st.update(&at(10_000, expo.clone()), 10_000);
    st.update(&at(10_000, expo.clone()), 10_000);
    st.write(10_000, &mut out);
    assert!((out[1] - 2f32.ln_1p()).abs() < 1e-6);
    st.update(
        &at(
            10_000,
            EventKind::Click {
                slot: "feed".into(),
                item: "a".into(),
            },
        ),
        10_000,
    );
    st.write(10_000, &mut out);
    assert_eq!(out[1], 0.0);
}

#[test]
fn sequence_holds_the_last_n_types_oldest_first() {
    let s = spec(r#"[{"name":"v","kind":"home_visible"}]"#);
    let mut st = FeatureState::new(&s);
    let mut seq = [9f32; 4];
    st.update(&at(0, EventKind::AppForeground), 0);
    st.write_sequence(&mut seq);
    assert_eq!(seq, [0.0, 0.0, 0.0, 1.0]);
    for t in 1..=4 {
        st.update(&at(t, home()), t);
    }
    st.update(&at(5, EventKind::Search { query_len: None }), 5);
    st.write_sequence(&mut seq);
    let pv = EventType::PageView.sequence_id() as f32;
    let se = EventType::Search.sequence_id() as f32;
    assert_eq!(seq, [pv, pv, pv, se]);
}

#[test]
fn time_of_day_uses_the_utc_offset() {
    let s = FeatureSpec::from_json(
        r#"{"version":"t","utc_offset_min":360,"features":[{"name":"s","kind":"time_of_day","part":"sin"},{"name":"c","kind":"day_of_week","part":"cos"}]}"#,
    )
    .unwrap();
    let mut st = FeatureState::new(&s);
    let mut out = [0f32; 2];
    // 00:00 UTC + 6 h = 06:00 local: a quarter of a day.
    st.write(0, &mut out);
    assert!((out[0] - 1.0).abs() < 1e-6);
}

fn page(name: &str) -> EventKind {
    EventKind::PageView { page: name.into() }
}

fn close(a: f32, b: f64) -> bool {
    (f64::from(a) - b).abs() < 1e-5
}

#[test]
fn interval_features_look_back_to_the_previous_home_view() {
    let s = FeatureSpec::from_json(
        r#"{"version":"t","pages":["home","search"],"features":[
            {"name":"scrolls","kind":"interval_count","event":"scroll"},
            {"name":"search_pages","kind":"interval_count","event":"page_view","page":"search"},
            {"name":"other_pages","kind":"interval_count","event":"page_view","page":"(other)"},
            {"name":"since_home","kind":"since_home_view","cap_s":1000},
            {"name":"pace","kind":"mean_gap","events":2,"cap_s":500}]}"#,
    )
    .unwrap();
    let mut st = FeatureState::new(&s);
    let mut out = [0f32; 5];
    let scroll = || EventKind::Scroll {
        page: "home".into(),
        dy_px: 10.0,
    };
    st.update(&at(0, EventKind::AppForeground), 0);
    st.write(0, &mut out);
    assert!(close(out[3], 1000f64.ln_1p()), "no home view yet: the cap");
    assert!(close(out[4], 500f64.ln_1p()), "no gap yet: the cap");
    st.update(&at(1_000, home()), 1_000);
    st.update(&at(2_000, scroll()), 2_000);
    st.update(&at(4_000, page("search")), 4_000);
    st.update(&at(6_000, page("cart")), 6_000);
    st.update(&at(7_000, page("promo")), 7_000);
    // Away from home: since the last home view.
    st.write(8_000, &mut out);
    assert!(close(out[0], 1f64.ln_1p()));
    assert!(close(out[1], 1f64.ln_1p()));
    assert!(
        close(out[2], 2f64.ln_1p()),
        "cart and promo are outside the vocabulary"
    );
    assert!(close(out[3], 7f64.ln_1p()));
    assert!(close(out[4], 1.5f64.ln_1p()), "mean of the last two gaps");
    // Back on home: the interval that this view closed, and what follows.
    st.update(&at(10_000, home()), 10_000);
    st.update(&at(11_000, scroll()), 11_000);
    st.write(12_000, &mut out);
    assert!(close(out[0], 2f64.ln_1p()));
    assert!(close(out[1], 1f64.ln_1p()));
    assert!(
        close(out[3], 11f64.ln_1p()),
        "since the view before this one"
    );
    // The next home view starts a new interval.
    st.update(&at(20_000, home()), 20_000);
    st.write(20_000, &mut out);
    assert!(close(out[0], 1f64.ln_1p()));
    assert!(close(out[1], 0.0));
    assert!(close(out[3], 10f64.ln_1p()));
    // A new session starts the pace over.
    st.update(&at(30_000, EventKind::AppBackground), 30_000);
    st.update(&at(90_000, EventKind::AppForeground), 90_000);
    st.write(90_000, &mut out);
    assert!(close(out[4], 500f64.ln_1p()));
    // The memory survives a snapshot round trip.
    let mut again = FeatureState::new(&s);
    again.restore_state(st.save_state()).unwrap();
    let mut out2 = [0f32; 5];
    again.write(95_000, &mut out2);
    st.write(95_000, &mut out);
    assert_eq!(out, out2);
}

#[test]
fn a_page_vocabulary_is_checked_and_leaves_old_hashes_alone() {
    let without = spec(r#"[{"name":"w","kind":"since_refresh"}]"#);
    let mut with = without.clone();
    with.pages = vec!["home".into()];
    assert_ne!(without.hash(), with.hash());
    let json = serde_json::to_string(&without).unwrap();
    assert!(
        !json.contains("pages"),
        "an empty vocabulary is not written"
    );
    for bad in [r#"["home","home"]"#, r#"["(other)"]"#, r#"[""]"#] {
        let err = FeatureSpec::from_json(&format!(
            r#"{{"version":"t","pages":{bad},"features":[{{"name":"w","kind":"since_refresh"}}]}}"#
        ))
        .unwrap_err();
        assert!(err.to_string().contains("`pages`"), "{err}");
    }
    let err = FeatureSpec::from_json(
        r#"{"version":"t","features":[{"name":"g","kind":"mean_gap","events":0}]}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("`events`"), "{err}");
}

proptest! {
    /// The bucketed ring agrees with a naive recount over all events.
    #[test]
    fn window_count_matches_a_naive_recount(
        gaps in proptest::collection::vec(0i64..3_000, 1..200),
        query_gap in 0i64..20_000,
    ) {
        let s = spec(r#"[{"name":"w","kind":"window_count","event":"click","window_s":10,"buckets":7}]"#);
        let mut st = FeatureState::new(&s);
        let mut times = Vec::new();
        let mut t = 1_000_000;
        for g in gaps {
            t += g;
            times.push(t);
            st.update(&at(t, EventKind::Click { slot: "f".into(), item: "i".into() }), t);
        }
        let now = t + query_gap;
        let mut out = [0f32];
        st.write(now, &mut out);
        let width = (10_000f64 / 7.0).ceil() as i64;
        let b_now = now.div_euclid(width);
        let naive = times.iter().filter(|&&x| x.div_euclid(width) > b_now - 7).count();
        prop_assert_eq!(out[0] as usize, naive);
    }
}
