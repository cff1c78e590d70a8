//! Incremental feature state compiled from a [`FeatureSpec`]: O(1) per event
//! and per decision point, no allocation after construction.

use serde::{Deserialize, Serialize};

use super::spec::{CyclicPart, FeatureKind, FeatureSpec, Weight};
use crate::event::{Event, EventKind, EventType};
use crate::hash::fnv1a64;
use crate::snapshot::{Persist, StateError};

/// Matches events by type and, optionally, page.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Selector {
    ty: EventType,
    page: Option<String>,
}

impl Selector {
    fn new(ty: EventType, page: &Option<String>) -> Selector {
        Selector {
            ty,
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

/// Counts events per time bucket in a ring; the window is the newest `len`
/// buckets. The bucket width is a setting, passed in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct BucketRing {
    counts: Box<[u32]>,
    head: i64,
    sum: u32,
}

impl BucketRing {
    fn new(buckets: usize) -> BucketRing {
        BucketRing {
            counts: vec![0; buckets].into_boxed_slice(),
            head: i64::MIN,
            sum: 0,
        }
    }

    fn advance(&mut self, width_ms: i64, now_ms: i64) {
        let b = now_ms.div_euclid(width_ms);
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

    fn add(&mut self, width_ms: i64, now_ms: i64) {
        self.advance(width_ms, now_ms);
        let slot = self.head.rem_euclid(self.counts.len() as i64) as usize;
        self.counts[slot] = self.counts[slot].saturating_add(1);
        self.sum = self.sum.saturating_add(1);
    }
}

/// How one feature is computed: its settings, compiled from the spec.
#[derive(Debug, Clone)]
enum SlotDef {
    Window {
        sel: Selector,
        width_ms: i64,
        buckets: usize,
    },
    SinceLast {
        sel: Selector,
        cap_s: f64,
    },
    Decayed {
        sel: Selector,
        weight: Weight,
        /// ln 2 / half-life, per ms.
        lambda: f64,
    },
    CountSince {
        sel: Selector,
        reset: EventType,
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

impl SlotDef {
    /// The memory a fresh feature of this kind starts with.
    fn fresh(&self) -> SlotMemory {
        match self {
            SlotDef::Window { buckets, .. } => SlotMemory::Window(BucketRing::new(*buckets)),
            SlotDef::SinceLast { .. } => SlotMemory::SinceLast(None),
            SlotDef::Decayed { .. } => SlotMemory::Decayed {
                value: 0.0,
                at_ms: 0,
            },
            SlotDef::CountSince { .. } => SlotMemory::CountSince(0),
            _ => SlotMemory::Stateless,
        }
    }

    /// Whether `m` is memory this feature could have (kind and sizes).
    fn fits(&self, m: &SlotMemory) -> bool {
        match (self, m) {
            (SlotDef::Window { buckets, .. }, SlotMemory::Window(r)) => {
                r.counts.len() == *buckets
                    && r.sum == r.counts.iter().fold(0u32, |s, c| s.saturating_add(*c))
            }
            (SlotDef::SinceLast { .. }, SlotMemory::SinceLast(_)) => true,
            (SlotDef::Decayed { .. }, SlotMemory::Decayed { value, .. }) => value.is_finite(),
            (SlotDef::CountSince { .. }, SlotMemory::CountSince(_)) => true,
            (
                SlotDef::Window { .. }
                | SlotDef::SinceLast { .. }
                | SlotDef::Decayed { .. }
                | SlotDef::CountSince { .. },
                _,
            ) => false,
            (_, m) => *m == SlotMemory::Stateless,
        }
    }
}

/// What one feature remembers between events: its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum SlotMemory {
    Window(BucketRing),
    SinceLast(Option<i64>),
    Decayed {
        value: f64,
        at_ms: i64,
    },
    CountSince(u32),
    /// The feature reads only session-wide facts.
    Stateless,
}

const SEEN_SLOTS: usize = 4096;

/// The feature state's settings: one definition per feature, from the spec.
#[derive(Debug, Clone)]
struct FeatureSettings {
    slots: Box<[SlotDef]>,
    utc_offset_ms: i64,
    sequence_length: usize,
}

/// What the feature state remembers: per-feature memory and the session-wide
/// facts several features share. This, and only this, is saved in snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FeatureMemory {
    slots: Box<[SlotMemory]>,
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

/// Incremental feature state for one user, compiled from a [`FeatureSpec`].
///
/// Call [`FeatureState::update`] for every event and [`FeatureState::write`] at
/// decision points; both are O(1) per feature and allocation-free.
#[derive(Debug, Clone)]
pub struct FeatureState {
    settings: FeatureSettings,
    state: FeatureMemory,
}

impl FeatureState {
    /// Compiles a validated spec into fresh state.
    pub fn new(spec: &FeatureSpec) -> FeatureState {
        let slots: Box<[SlotDef]> = spec
            .features
            .iter()
            .map(|f| match &f.kind {
                FeatureKind::WindowCount {
                    event,
                    page,
                    window_s,
                    buckets,
                } => SlotDef::Window {
                    sel: Selector::new(*event, page),
                    width_ms: ((window_s * 1000.0) / f64::from(*buckets)).ceil().max(1.0) as i64,
                    buckets: *buckets as usize,
                },
                FeatureKind::SinceLast { event, page, cap_s } => SlotDef::SinceLast {
                    sel: Selector::new(*event, page),
                    cap_s: *cap_s,
                },
                FeatureKind::DecayedRate {
                    event,
                    page,
                    half_life_s,
                    weight,
                } => SlotDef::Decayed {
                    sel: Selector::new(*event, page),
                    weight: *weight,
                    lambda: std::f64::consts::LN_2 / (half_life_s * 1000.0),
                },
                FeatureKind::CountSince {
                    event,
                    page,
                    reset_on,
                } => SlotDef::CountSince {
                    sel: Selector::new(*event, page),
                    reset: *reset_on,
                },
                FeatureKind::SessionAge { cap_s } => SlotDef::SessionAge(*cap_s),
                FeatureKind::Absence { cap_s } => SlotDef::Absence(*cap_s),
                FeatureKind::HomeViewsSession => SlotDef::HomeViews,
                FeatureKind::SinceRefresh { cap_s } => SlotDef::SinceRefresh(*cap_s),
                FeatureKind::ExposureNovelty => SlotDef::Novelty,
                FeatureKind::HomeVisible => SlotDef::HomeVisible,
                FeatureKind::TimeOfDay { part } => SlotDef::TimeOfDay(*part),
                FeatureKind::DayOfWeek { part } => SlotDef::DayOfWeek(*part),
            })
            .collect();
        let settings = FeatureSettings {
            utc_offset_ms: i64::from(spec.utc_offset_min) * 60_000,
            sequence_length: spec.sequence_length,
            slots,
        };
        let state = settings.fresh();
        FeatureState { settings, state }
    }

    /// Number of features written by [`FeatureState::write`].
    pub fn len(&self) -> usize {
        self.settings.slots.len()
    }

    /// True when there are no features.
    pub fn is_empty(&self) -> bool {
        self.settings.slots.is_empty()
    }

    /// Length of the sequence written by [`FeatureState::write_sequence`].
    pub fn sequence_len(&self) -> usize {
        self.state.seq.len()
    }

    /// Whether the homepage is currently shown (as far as events tell).
    pub fn home_visible(&self) -> bool {
        self.state.home_visible
    }

    /// Folds one event into the state. `now_ms` must never decrease between calls.
    pub fn update(&mut self, event: &Event, now_ms: i64) {
        self.update_typed(event, event.kind.event_type(), now_ms);
    }

    /// [`FeatureState::update`] with the event's type already known.
    pub(crate) fn update_typed(&mut self, event: &Event, ty: EventType, now_ms: i64) {
        let kind = &event.kind;
        // Payload weights, read once and only for their own kind. Written
        // inside the per-slot loop, the optimiser hoisted the reads of
        // `Custom { value }` out of it and branched on that Option's tag for
        // events of every kind: harmless (the result was then unused), but
        // valgrind reported it as a jump on uninitialised memory.
        let (abs_dy_kpx, custom_value) = match kind {
            EventKind::Scroll { dy_px, .. } => (dy_px.abs() / 1000.0, 0.0),
            EventKind::Custom { value: Some(v), .. } => (0.0, *v),
            _ => (0.0, 0.0),
        };
        let st = &mut self.state;
        match kind {
            EventKind::AppForeground => {
                if let Some(bg) = st.background_since_ms.take() {
                    st.absence_ms = now_ms - bg;
                }
                st.session_start_ms = Some(now_ms);
                st.home_views = 0;
                // The app resumes on the page it left.
                st.home_visible = st.last_page_home;
            }
            EventKind::AppBackground => {
                st.background_since_ms = Some(now_ms);
                st.home_visible = false;
            }
            EventKind::PageView { page } => {
                st.home_visible = page == "home";
                st.last_page_home = st.home_visible;
                if st.home_visible {
                    st.home_views = st.home_views.saturating_add(1);
                }
            }
            EventKind::Exposure { items, .. } => {
                st.last_novelty = st.observe_exposure(items);
            }
            _ => {}
        }
        if !st.seq.is_empty() {
            st.seq[st.seq_next] = ty.sequence_id();
            st.seq_next = (st.seq_next + 1) % st.seq.len();
        }
        for (def, mem) in self.settings.slots.iter().zip(st.slots.iter_mut()) {
            match (def, mem) {
                (SlotDef::Window { sel, width_ms, .. }, SlotMemory::Window(ring))
                    if sel.matches(ty, kind) =>
                {
                    ring.add(*width_ms, now_ms)
                }
                (SlotDef::SinceLast { sel, .. }, SlotMemory::SinceLast(last_ms))
                    if sel.matches(ty, kind) =>
                {
                    *last_ms = Some(now_ms)
                }
                (
                    SlotDef::Decayed {
                        sel,
                        weight,
                        lambda,
                    },
                    SlotMemory::Decayed { value, at_ms },
                ) if sel.matches(ty, kind) => {
                    let w = match (weight, kind) {
                        (Weight::Count, _) => 1.0,
                        (Weight::AbsDyKpx, EventKind::Scroll { .. }) => abs_dy_kpx,
                        (Weight::Value, EventKind::Custom { .. }) => custom_value,
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
                (SlotDef::CountSince { sel, reset }, SlotMemory::CountSince(n)) => {
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
        self.state.last_refresh_ms = Some(now_ms);
    }

    /// Writes the feature vector as of `now_ms` into `out` (which must hold
    /// [`FeatureState::len`] values).
    pub fn write(&mut self, now_ms: i64, out: &mut [f32]) {
        let st = &mut self.state;
        let offset = self.settings.utc_offset_ms;
        let slots = self.settings.slots.iter().zip(st.slots.iter_mut());
        for ((def, mem), out) in slots.zip(out.iter_mut()) {
            *out = match (def, mem) {
                (SlotDef::Window { width_ms, .. }, SlotMemory::Window(ring)) => {
                    ring.advance(*width_ms, now_ms);
                    ring.sum as f32
                }
                (SlotDef::SinceLast { cap_s, .. }, SlotMemory::SinceLast(last_ms)) => {
                    log_age(*last_ms, now_ms, *cap_s)
                }
                (SlotDef::Decayed { lambda, .. }, SlotMemory::Decayed { value, at_ms }) => {
                    decay(*value, *lambda, now_ms - *at_ms) as f32
                }
                (SlotDef::CountSince { .. }, SlotMemory::CountSince(n)) => {
                    (f64::from(*n)).ln_1p() as f32
                }
                (SlotDef::SessionAge(cap), _) => log_age(st.session_start_ms, now_ms, *cap),
                (SlotDef::Absence(cap), _) => (ms_to_s(st.absence_ms).min(*cap)).ln_1p() as f32,
                (SlotDef::HomeViews, _) => f64::from(st.home_views).ln_1p() as f32,
                (SlotDef::SinceRefresh(cap), _) => log_age(st.last_refresh_ms, now_ms, *cap),
                (SlotDef::Novelty, _) => st.last_novelty,
                (SlotDef::HomeVisible, _) => f32::from(u8::from(st.home_visible)),
                (SlotDef::TimeOfDay(part), _) => {
                    let local = now_ms + offset;
                    cyclic(local.rem_euclid(86_400_000) as f64 / 86_400_000.0, *part)
                }
                (SlotDef::DayOfWeek(part), _) => {
                    let local = now_ms + offset;
                    let week = 7 * 86_400_000;
                    cyclic(local.rem_euclid(week) as f64 / week as f64, *part)
                }
                // Memory always matches its definition (built and restored so).
                _ => 0.0,
            };
        }
    }

    /// Writes the last-N event types as sequence ids (oldest first, 0-padded)
    /// into `out` (which must hold [`FeatureState::sequence_len`] values).
    pub fn write_sequence(&self, out: &mut [f32]) {
        let st = &self.state;
        let n = st.seq.len();
        for (i, out) in out.iter_mut().enumerate().take(n) {
            *out = st.seq[(st.seq_next + i) % n] as f32;
        }
    }
}

impl FeatureSettings {
    /// The memory of a user never seen.
    fn fresh(&self) -> FeatureMemory {
        FeatureMemory {
            slots: self.slots.iter().map(SlotDef::fresh).collect(),
            session_start_ms: None,
            background_since_ms: None,
            absence_ms: 0,
            home_views: 0,
            last_refresh_ms: None,
            home_visible: true,
            last_page_home: true,
            last_novelty: 0.0,
            seen: vec![0; SEEN_SLOTS].into_boxed_slice(),
            seq: vec![0; self.sequence_length].into_boxed_slice(),
            seq_next: 0,
        }
    }
}

impl FeatureMemory {
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

impl Persist for FeatureState {
    type State = FeatureMemory;

    fn save_state(&self) -> FeatureMemory {
        self.state.clone()
    }

    fn restore_state(&mut self, m: FeatureMemory) -> Result<(), StateError> {
        let size = |what, got, want| StateError::Size {
            component: "features",
            what,
            got,
            want,
        };
        let impossible = |what| StateError::Impossible {
            component: "features",
            what,
        };
        let defs = &self.settings.slots;
        if m.slots.len() != defs.len() {
            return Err(size("features", m.slots.len(), defs.len()));
        }
        if !defs.iter().zip(m.slots.iter()).all(|(d, s)| d.fits(s)) {
            return Err(impossible("a feature's memory (another kind or window)"));
        }
        if m.seen.len() != SEEN_SLOTS {
            return Err(size("seen items", m.seen.len(), SEEN_SLOTS));
        }
        if m.seq.len() != self.settings.sequence_length {
            return Err(size("sequence", m.seq.len(), self.settings.sequence_length));
        }
        if !m.seq.is_empty() && m.seq_next >= m.seq.len() {
            return Err(impossible("sequence position"));
        }
        if !m.last_novelty.is_finite() {
            return Err(impossible("novelty"));
        }
        self.state = m;
        Ok(())
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
