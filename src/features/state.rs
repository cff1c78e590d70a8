//! Incremental feature state compiled from a [`FeatureSpec`]: O(1) per event
//! and per decision point, no allocation after construction.

use serde::{Deserialize, Serialize};

use super::spec::{fnv1a64, CyclicPart, FeatureKind, FeatureSpec, Weight};
use crate::event::{Event, EventKind, EventType};

/// Matches events by type and, optionally, page.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Selector {
    ty: EventType,
    page: Option<String>,
}

impl Selector {
    fn new(event: &str, page: &Option<String>) -> Selector {
        Selector {
            // Only called on validated specs, whose event names all parse.
            ty: EventType::from_name(event).unwrap_or(EventType::Custom),
            page: page.clone(),
        }
    }

    /// Whether the event (of type `ty`, computed once per event) matches.
    fn matches(&self, ty: EventType, e: &EventKind) -> bool {
        ty == self.ty
            && match &self.page {
                None => true,
                Some(p) => e.page() == Some(p.as_str()),
            }
    }
}

/// Counts events per time bucket in a ring; the window is the newest `len` buckets.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BucketRing {
    width_ms: i64,
    counts: Box<[u32]>,
    head: i64,
    sum: u32,
}

impl BucketRing {
    fn new(window_s: f64, buckets: u32) -> BucketRing {
        let width_ms = ((window_s * 1000.0) / f64::from(buckets)).ceil().max(1.0) as i64;
        BucketRing {
            width_ms,
            counts: vec![0; buckets as usize].into_boxed_slice(),
            head: i64::MIN,
            sum: 0,
        }
    }

    fn advance(&mut self, now_ms: i64) {
        let b = now_ms.div_euclid(self.width_ms);
        if self.head == i64::MIN {
            self.head = b;
            return;
        }
        if b <= self.head {
            return;
        }
        let n = self.counts.len() as i64;
        let steps = (b - self.head).min(n);
        for k in 1..=steps {
            let slot = (self.head + k).rem_euclid(n) as usize;
            self.sum -= self.counts[slot];
            self.counts[slot] = 0;
        }
        self.head = b;
    }

    fn add(&mut self, now_ms: i64) {
        self.advance(now_ms);
        let slot = self.head.rem_euclid(self.counts.len() as i64) as usize;
        self.counts[slot] = self.counts[slot].saturating_add(1);
        self.sum = self.sum.saturating_add(1);
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Slot {
    Window {
        sel: Selector,
        ring: BucketRing,
    },
    SinceLast {
        sel: Selector,
        cap_s: f64,
        last_ms: Option<i64>,
    },
    Decayed {
        sel: Selector,
        weight: Weight,
        /// ln 2 / half-life, per ms.
        lambda: f64,
        value: f64,
        at_ms: i64,
    },
    CountSince {
        sel: Selector,
        reset: EventType,
        n: u32,
    },
    SessionAge(f64),
    Absence(f64),
    HomeViews,
    SinceRefresh(f64),
    Novelty,
    HomeVisible,
    TimeOfDay(CyclicPart),
    DayOfWeek(CyclicPart),
}

const SEEN_SLOTS: usize = 4096;

/// Incremental feature state for one user, compiled from a [`FeatureSpec`].
///
/// Call [`FeatureState::update`] for every event and [`FeatureState::write`] at
/// decision points; both are O(1) per feature and allocation-free.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureState {
    slots: Box<[Slot]>,
    utc_offset_ms: i64,
    // Session-wide facts shared by several features.
    session_start_ms: Option<i64>,
    background_since_ms: Option<i64>,
    absence_ms: i64,
    home_views: u32,
    last_refresh_ms: Option<i64>,
    home_visible: bool,
    last_page_home: bool,
    last_novelty: f32,
    /// Direct-mapped table of item-id hashes already exposed (a collision forgets
    /// the older item, which only makes novelty slightly overestimated).
    seen: Box<[u64]>,
    seq: Box<[u32]>,
    seq_next: usize,
}

impl FeatureState {
    /// Compiles a validated spec into fresh state.
    pub fn new(spec: &FeatureSpec) -> FeatureState {
        let slots = spec
            .features
            .iter()
            .map(|f| match &f.kind {
                FeatureKind::WindowCount {
                    event,
                    page,
                    window_s,
                    buckets,
                } => Slot::Window {
                    sel: Selector::new(event, page),
                    ring: BucketRing::new(*window_s, *buckets),
                },
                FeatureKind::SinceLast { event, page, cap_s } => Slot::SinceLast {
                    sel: Selector::new(event, page),
                    cap_s: *cap_s,
                    last_ms: None,
                },
                FeatureKind::DecayedRate {
                    event,
                    page,
                    half_life_s,
                    weight,
                } => Slot::Decayed {
                    sel: Selector::new(event, page),
                    weight: *weight,
                    lambda: std::f64::consts::LN_2 / (half_life_s * 1000.0),
                    value: 0.0,
                    at_ms: 0,
                },
                FeatureKind::CountSince {
                    event,
                    page,
                    reset_on,
                } => Slot::CountSince {
                    sel: Selector::new(event, page),
                    reset: EventType::from_name(reset_on).unwrap_or(EventType::Custom),
                    n: 0,
                },
                FeatureKind::SessionAge { cap_s } => Slot::SessionAge(*cap_s),
                FeatureKind::Absence { cap_s } => Slot::Absence(*cap_s),
                FeatureKind::HomeViewsSession => Slot::HomeViews,
                FeatureKind::SinceRefresh { cap_s } => Slot::SinceRefresh(*cap_s),
                FeatureKind::ExposureNovelty => Slot::Novelty,
                FeatureKind::HomeVisible => Slot::HomeVisible,
                FeatureKind::TimeOfDay { part } => Slot::TimeOfDay(*part),
                FeatureKind::DayOfWeek { part } => Slot::DayOfWeek(*part),
            })
            .collect();
        FeatureState {
            slots,
            utc_offset_ms: i64::from(spec.utc_offset_min) * 60_000,
            session_start_ms: None,
            background_since_ms: None,
            absence_ms: 0,
            home_views: 0,
            last_refresh_ms: None,
            home_visible: true,
            last_page_home: true,
            last_novelty: 0.0,
            seen: vec![0; SEEN_SLOTS].into_boxed_slice(),
            seq: vec![0; spec.sequence_length].into_boxed_slice(),
            seq_next: 0,
        }
    }

    /// Whether restored state fits the spec `fresh` was compiled from: the
    /// same features with the same buffer sizes, and finite numbers.
    pub(crate) fn same_shape(&self, fresh: &FeatureState) -> bool {
        let slots_fit = self.slots.len() == fresh.slots.len()
            && self.slots.iter().zip(fresh.slots.iter()).all(|(a, b)| {
                std::mem::discriminant(a) == std::mem::discriminant(b)
                    && match (a, b) {
                        (Slot::Window { ring: r, .. }, Slot::Window { ring: f, .. }) => {
                            r.counts.len() == f.counts.len()
                                && r.width_ms == f.width_ms
                                && r.sum == r.counts.iter().fold(0u32, |s, c| s.saturating_add(*c))
                        }
                        (Slot::Decayed { value, lambda, .. }, Slot::Decayed { lambda: l2, .. }) => {
                            value.is_finite() && lambda == l2
                        }
                        _ => true,
                    }
            });
        slots_fit
            && self.seen.len() == fresh.seen.len()
            && self.seq.len() == fresh.seq.len()
            && (self.seq.is_empty() || self.seq_next < self.seq.len())
            && self.last_novelty.is_finite()
    }

    /// Number of features written by [`FeatureState::write`].
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when there are no features.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Length of the sequence written by [`FeatureState::write_sequence`].
    pub fn sequence_len(&self) -> usize {
        self.seq.len()
    }

    /// Whether the homepage is currently shown (as far as events tell).
    pub fn home_visible(&self) -> bool {
        self.home_visible
    }

    /// Folds one event into the state. `now_ms` must never decrease between calls.
    pub fn update(&mut self, event: &Event, now_ms: i64) {
        self.update_typed(event, event.kind.event_type(), now_ms);
    }

    /// [`FeatureState::update`] with the event's type already known.
    pub(crate) fn update_typed(&mut self, event: &Event, ty: EventType, now_ms: i64) {
        let kind = &event.kind;
        match kind {
            EventKind::AppForeground => {
                if let Some(bg) = self.background_since_ms.take() {
                    self.absence_ms = now_ms - bg;
                }
                self.session_start_ms = Some(now_ms);
                self.home_views = 0;
                // The app resumes on the page it left.
                self.home_visible = self.last_page_home;
            }
            EventKind::AppBackground => {
                self.background_since_ms = Some(now_ms);
                self.home_visible = false;
            }
            EventKind::PageView { page } => {
                self.home_visible = page == "home";
                self.last_page_home = self.home_visible;
                if self.home_visible {
                    self.home_views = self.home_views.saturating_add(1);
                }
            }
            EventKind::Exposure { items, .. } => {
                self.last_novelty = self.observe_exposure(items);
            }
            _ => {}
        }
        if !self.seq.is_empty() {
            self.seq[self.seq_next] = ty.sequence_id();
            self.seq_next = (self.seq_next + 1) % self.seq.len();
        }
        for slot in self.slots.iter_mut() {
            match slot {
                Slot::Window { sel, ring } if sel.matches(ty, kind) => ring.add(now_ms),
                Slot::SinceLast { sel, last_ms, .. } if sel.matches(ty, kind) => {
                    *last_ms = Some(now_ms)
                }
                Slot::Decayed {
                    sel,
                    weight,
                    lambda,
                    value,
                    at_ms,
                } if sel.matches(ty, kind) => {
                    let w = match (weight, kind) {
                        (Weight::Count, _) => 1.0,
                        (Weight::AbsDyKpx, EventKind::Scroll { dy_px, .. }) => dy_px.abs() / 1000.0,
                        (Weight::Value, EventKind::Custom { value, .. }) => value.unwrap_or(0.0),
                        _ => 0.0,
                    };
                    // Absurd inputs (a scroll of 1e200 px) must not overflow the
                    // f32 the model reads: bound each event and the running sum.
                    let w = if w.is_finite() {
                        w.clamp(-MAX_EVENT_WEIGHT, MAX_EVENT_WEIGHT)
                    } else {
                        0.0
                    };
                    *value = (decay(*value, *lambda, now_ms - *at_ms) + w)
                        .clamp(-MAX_DECAYED, MAX_DECAYED);
                    *at_ms = now_ms;
                }
                Slot::CountSince { sel, reset, n } => {
                    if ty == *reset {
                        *n = 0;
                    } else if sel.matches(ty, kind) {
                        *n = n.saturating_add(1);
                    }
                }
                _ => {}
            }
        }
    }

    /// Records that fresh content was fetched at `now_ms`.
    pub fn note_refresh(&mut self, now_ms: i64) {
        self.last_refresh_ms = Some(now_ms);
    }

    /// Writes the feature vector as of `now_ms` into `out` (which must hold
    /// [`FeatureState::len`] values).
    pub fn write(&mut self, now_ms: i64, out: &mut [f32]) {
        for (slot, out) in self.slots.iter_mut().zip(out.iter_mut()) {
            *out = match slot {
                Slot::Window { ring, .. } => {
                    ring.advance(now_ms);
                    ring.sum as f32
                }
                Slot::SinceLast { cap_s, last_ms, .. } => log_age(*last_ms, now_ms, *cap_s),
                Slot::Decayed {
                    lambda,
                    value,
                    at_ms,
                    ..
                } => decay(*value, *lambda, now_ms - *at_ms) as f32,
                Slot::CountSince { n, .. } => (f64::from(*n)).ln_1p() as f32,
                Slot::SessionAge(cap) => log_age(self.session_start_ms, now_ms, *cap),
                Slot::Absence(cap) => (ms_to_s(self.absence_ms).min(*cap)).ln_1p() as f32,
                Slot::HomeViews => f64::from(self.home_views).ln_1p() as f32,
                Slot::SinceRefresh(cap) => log_age(self.last_refresh_ms, now_ms, *cap),
                Slot::Novelty => self.last_novelty,
                Slot::HomeVisible => f32::from(u8::from(self.home_visible)),
                Slot::TimeOfDay(part) => {
                    let local = now_ms + self.utc_offset_ms;
                    cyclic(local.rem_euclid(86_400_000) as f64 / 86_400_000.0, *part)
                }
                Slot::DayOfWeek(part) => {
                    let local = now_ms + self.utc_offset_ms;
                    let week = 7 * 86_400_000;
                    cyclic(local.rem_euclid(week) as f64 / week as f64, *part)
                }
            };
        }
    }

    /// Writes the last-N event types as sequence ids (oldest first, 0-padded)
    /// into `out` (which must hold [`FeatureState::sequence_len`] values).
    pub fn write_sequence(&self, out: &mut [f32]) {
        let n = self.seq.len();
        for (i, out) in out.iter_mut().enumerate().take(n) {
            *out = self.seq[(self.seq_next + i) % n] as f32;
        }
    }

    fn observe_exposure(&mut self, items: &[String]) -> f32 {
        if items.is_empty() {
            return self.last_novelty;
        }
        let mut seen = 0u32;
        for item in items {
            let h = fnv1a64(item.as_bytes()).max(1);
            let slot = (h as usize) & (SEEN_SLOTS - 1);
            if self.seen[slot] == h {
                seen += 1;
            }
            self.seen[slot] = h;
        }
        seen as f32 / items.len() as f32
    }
}

fn ms_to_s(ms: i64) -> f64 {
    ms.max(0) as f64 / 1000.0
}

fn log_age(since: Option<i64>, now_ms: i64, cap_s: f64) -> f32 {
    let s = since.map_or(cap_s, |t| ms_to_s(now_ms - t).min(cap_s));
    s.ln_1p() as f32
}

/// Largest weight one event adds to a decayed rate (1e6: a million kpx of scroll).
const MAX_EVENT_WEIGHT: f64 = 1e6;
/// Largest magnitude of a decayed rate: far beyond real use, far below f32::MAX.
const MAX_DECAYED: f64 = 1e12;

fn decay(value: f64, lambda: f64, dt_ms: i64) -> f64 {
    if value == 0.0 {
        0.0
    } else {
        value * (-lambda * dt_ms.max(0) as f64).exp()
    }
}

fn cyclic(phase: f64, part: CyclicPart) -> f32 {
    let a = std::f64::consts::TAU * phase;
    match part {
        CyclicPart::Sin => a.sin() as f32,
        CyclicPart::Cos => a.cos() as f32,
    }
}

#[cfg(test)]
mod tests {
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
                "unknown event type `clik`",
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
            let err =
                FeatureSpec::from_json(&format!(r#"{{"version":"t","features":{features}}}"#))
                    .unwrap_err()
                    .to_string();
            assert!(err.contains(needle), "{features}: {err}");
        }
        let err =
            FeatureSpec::from_json(r#"{"version":"t","features":[{"name":"x","kind":"nope"}]}"#)
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
}
