//! Incremental feature state compiled from a [`FeatureSpec`]: O(1) per event
//! and per decision point, no allocation after construction.

use serde::{Deserialize, Serialize};

use super::spec::{CyclicPart, FeatureKind, FeatureSpec, Weight, OTHER_PAGE};
use crate::event::{Event, EventKind, EventType};
use crate::hash::fnv1a64;
use crate::snapshot::{Persist, StateError};

/// Matches events by type and, optionally, page.
#[derive(Debug, Clone)]
struct Selector {
    ty: EventType,
    page: PageMatch,
}

/// Which pages a selector accepts.
#[derive(Debug, Clone)]
enum PageMatch {
    Any,
    Is(String),
    /// Pages outside the spec's vocabulary.
    Outside(Box<[String]>),
}

impl Selector {
    fn new(ty: EventType, page: &Option<String>, vocabulary: &[String]) -> Selector {
        let page = match page.as_deref() {
            None => PageMatch::Any,
            Some(OTHER_PAGE) => PageMatch::Outside(vocabulary.into()),
            Some(p) => PageMatch::Is(p.to_owned()),
        };
        Selector { ty, page }
    }

    /// Whether the event (of type `ty`, computed once per event) matches.
    fn matches(&self, ty: EventType, e: &EventKind) -> bool {
        ty == self.ty
            && match &self.page {
                PageMatch::Any => true,
                PageMatch::Is(p) => e.page() == Some(p.as_str()),
                PageMatch::Outside(known) => {
                    e.page().is_some_and(|p| !known.iter().any(|k| k == p))
                }
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
    Interval {
        sel: Selector,
    },
    SinceHomeView(f64),
    MeanGap {
        gaps: usize,
        cap_s: f64,
    },
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
            SlotDef::Interval { .. } => SlotMemory::Interval { open: 0, closed: 0 },
            SlotDef::SinceHomeView(_) => SlotMemory::HomeViews {
                last: None,
                previous: None,
            },
            SlotDef::MeanGap { gaps, .. } => SlotMemory::Times {
                ring: vec![0; gaps + 1].into_boxed_slice(),
                len: 0,
                next: 0,
            },
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
            (SlotDef::Interval { .. }, SlotMemory::Interval { .. }) => true,
            (SlotDef::SinceHomeView(_), SlotMemory::HomeViews { .. }) => true,
            (SlotDef::MeanGap { gaps, .. }, SlotMemory::Times { ring, len, next }) => {
                ring.len() == gaps + 1 && *len <= ring.len() && *next < ring.len()
            }
            (
                SlotDef::Window { .. }
                | SlotDef::SinceLast { .. }
                | SlotDef::Decayed { .. }
                | SlotDef::CountSince { .. }
                | SlotDef::Interval { .. }
                | SlotDef::SinceHomeView(_)
                | SlotDef::MeanGap { .. },
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
    /// Matching events since the last home view (`open`) and in the interval
    /// that ended with it (`closed`).
    Interval {
        open: u32,
        closed: u32,
    },
    /// The last two home views.
    HomeViews {
        last: Option<i64>,
        previous: Option<i64>,
    },
    /// The times of this session's latest events, a ring.
    Times {
        ring: Box<[i64]>,
        len: usize,
        next: usize,
    },
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
        let vocabulary = spec.pages.as_slice();
        let sel =
            |event: &EventType, page: &Option<String>| Selector::new(*event, page, vocabulary);
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
                    sel: sel(event, page),
                    width_ms: ((window_s * 1000.0) / f64::from(*buckets)).ceil().max(1.0) as i64,
                    buckets: *buckets as usize,
                },
                FeatureKind::SinceLast { event, page, cap_s } => SlotDef::SinceLast {
                    sel: sel(event, page),
                    cap_s: *cap_s,
                },
                FeatureKind::DecayedRate {
                    event,
                    page,
                    half_life_s,
                    weight,
                } => SlotDef::Decayed {
                    sel: sel(event, page),
                    weight: *weight,
                    lambda: std::f64::consts::LN_2 / (half_life_s * 1000.0),
                },
                FeatureKind::CountSince {
                    event,
                    page,
                    reset_on,
                } => SlotDef::CountSince {
                    sel: sel(event, page),
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
                FeatureKind::IntervalCount { event, page } => SlotDef::Interval {
                    sel: sel(event, page),
                },
                FeatureKind::SinceHomeView { cap_s } => SlotDef::SinceHomeView(*cap_s),
                FeatureKind::MeanGap { events, cap_s } => SlotDef::MeanGap {
                    gaps: *events as usize,
                    cap_s: *cap_s,
                },
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
        let home_view = matches!(kind, EventKind::PageView { page } if page == "home");
        let foreground = matches!(kind, EventKind::AppForeground);
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
                (SlotDef::Interval { sel }, SlotMemory::Interval { open, closed }) => {
                    if sel.matches(ty, kind) {
                        *open = open.saturating_add(1);
                    }
                    if home_view {
                        *closed = *open;
                        *open = 0;
                    }
                }
                (SlotDef::SinceHomeView(_), SlotMemory::HomeViews { last, previous })
                    if home_view =>
                {
                    *previous = *last;
                    *last = Some(now_ms);
                }
                (SlotDef::MeanGap { .. }, SlotMemory::Times { ring, len, next }) => {
                    // Pace within a session: a new session starts it over.
                    if foreground {
                        *len = 0;
                        *next = 0;
                    } else if !matches!(kind, EventKind::AppBackground) {
                        ring[*next] = now_ms;
                        *next = (*next + 1) % ring.len();
                        *len = (*len + 1).min(ring.len());
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
                (SlotDef::Interval { .. }, SlotMemory::Interval { open, closed }) => {
                    let n = if st.home_visible {
                        open.saturating_add(*closed)
                    } else {
                        *open
                    };
                    f64::from(n).ln_1p() as f32
                }
                (SlotDef::SinceHomeView(cap), SlotMemory::HomeViews { last, previous }) => {
                    let since = if st.home_visible { *previous } else { *last };
                    log_age(since, now_ms, *cap)
                }
                (SlotDef::MeanGap { cap_s, .. }, SlotMemory::Times { ring, len, next }) => {
                    if *len < 2 {
                        cap_s.ln_1p() as f32
                    } else {
                        let n = ring.len();
                        let newest = ring[(*next + n - 1) % n];
                        let oldest = ring[(*next + n - *len) % n];
                        let gap = ms_to_s(newest - oldest) / (*len - 1) as f64;
                        gap.min(*cap_s).ln_1p() as f32
                    }
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
#[path = "state_tests.rs"]
mod tests;
