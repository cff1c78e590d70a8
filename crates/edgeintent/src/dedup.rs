//! Cross-slot de-duplication: when a slot receives recommendations, its list is
//! resolved against what the other slots show now (within a time window), so an
//! entity appears in one slot only, in the slot where it is worth most
//! (score × slot weight). Placements the user has already seen are never taken
//! away; a slot that loses an entity refills from its own candidates.
//! Steady state allocates nothing: candidate lists are moved in from events and
//! per-slot buffers are reused.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::RecItem;
use crate::hash::fnv1a64;
use crate::snapshot::{Persist, StateError};

/// The `dedup` section of the runtime config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    /// How long (s) a slot's list counts as on screen after it was filled.
    #[serde(default = "default_window")]
    pub window_s: f64,
    /// Items a slot shows when the slot has no `size` of its own.
    #[serde(default = "default_size")]
    pub default_size: usize,
    /// Per-slot weight (a number) or `{"weight": w, "size": n}`; unlisted slots weigh 1.
    #[serde(default)]
    pub slots: BTreeMap<String, SlotSettings>,
    /// How conflicts are resolved (the baselines exist for evaluation).
    #[serde(default)]
    pub strategy: Strategy,
    /// At most this many slots are tracked (the configured ones count first).
    /// A slot not configured whose list has been off screen for `window_s`
    /// gives its place to a new one; recommendations for a slot beyond them
    /// while every place is in use are refused and counted.
    #[serde(default = "default_max_slots")]
    pub max_slots: usize,
    /// Candidates kept per slot from one `recommendations` event (in the order
    /// given); the rest are dropped and counted.
    #[serde(default = "default_max_candidates")]
    pub max_candidates: usize,
}

fn default_max_slots() -> usize {
    64
}
fn default_max_candidates() -> usize {
    500
}

fn default_window() -> f64 {
    600.0
}
fn default_size() -> usize {
    10
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            window_s: default_window(),
            default_size: default_size(),
            slots: BTreeMap::new(),
            strategy: Strategy::default(),
            max_slots: default_max_slots(),
            max_candidates: default_max_candidates(),
        }
    }
}

/// A slot's weight, optionally with its list size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SlotSettings {
    /// Just a weight.
    Weight(f64),
    /// Weight and size.
    Full {
        /// Multiplies item scores in this slot.
        weight: f64,
        /// Items shown.
        #[serde(default)]
        size: Option<usize>,
    },
}

/// How cross-slot conflicts are resolved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The entity goes where it is worth most; exposed placements stay.
    #[default]
    ValueAware,
    /// Whichever slot got the entity first keeps it (the reference approach).
    FirstComeFirstServed,
    /// No de-duplication: every slot shows its own top items.
    None,
}

/// A `dedup` setting that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("dedup.{field}: {why}")]
pub struct DedupError {
    /// The offending field.
    pub field: String,
    /// What it must be.
    pub why: String,
}

impl DedupConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<(), DedupError> {
        let err = |field: &str, why: &str| {
            Err(DedupError {
                field: field.to_owned(),
                why: why.to_owned(),
            })
        };
        if !self.window_s.is_finite() || self.window_s <= 0.0 {
            return err("window_s", "must be a positive number of seconds");
        }
        if !(1..=1000).contains(&self.default_size) {
            return err("default_size", "must be in 1..=1000");
        }
        // Slot ids in decisions are u16: more slots could not be named apart.
        if !(1..=4096).contains(&self.max_slots) {
            return err("max_slots", "must be in 1..=4096");
        }
        if self.slots.len() > self.max_slots {
            return err(
                "max_slots",
                "must be at least the number of configured slots",
            );
        }
        if !(1..=100_000).contains(&self.max_candidates) {
            return err("max_candidates", "must be in 1..=100000");
        }
        for (name, s) in &self.slots {
            let (w, size) = match s {
                SlotSettings::Weight(w) => (*w, None),
                SlotSettings::Full { weight, size } => (*weight, *size),
            };
            if !w.is_finite() || w <= 0.0 {
                return err(&format!("slots.{name}"), "weight must be a positive number");
            }
            if size.is_some_and(|n| !(1..=1000).contains(&n)) {
                return err(&format!("slots.{name}.size"), "must be in 1..=1000");
            }
        }
        Ok(())
    }

    fn slot(&self, name: &str) -> (f32, usize) {
        match self.slots.get(name) {
            None => (1.0, self.default_size),
            Some(SlotSettings::Weight(w)) => (*w as f32, self.default_size),
            Some(SlotSettings::Full { weight, size }) => {
                (*weight as f32, size.unwrap_or(self.default_size))
            }
        }
    }
}

/// One slot's candidates and what it shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Slot {
    name: String,
    weight: f32,
    size: usize,
    candidates: Vec<RecItem>,
    keys: Vec<u64>,
    values: Vec<f32>,
    exposed: Vec<bool>,
    /// Indices into `candidates`, in display order.
    shown: Vec<u32>,
    filled_ms: i64,
    changed: bool,
}

impl Slot {
    fn live(&self, now_ms: i64, window_ms: i64) -> bool {
        !self.shown.is_empty() && now_ms - self.filled_ms < window_ms
    }

    fn shows_key(&self, key: u64) -> Option<usize> {
        self.shown
            .iter()
            .position(|&i| self.keys[i as usize] == key)
    }
}

/// Resolves duplicate entities across slots.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlotArbiter {
    config: DedupConfig,
    window_ms: i64,
    slots: Vec<Slot>,
    /// Recommendations refused because every slot place was taken.
    #[serde(default)]
    refused: u64,
    /// Candidates dropped past `max_candidates`.
    #[serde(default)]
    dropped: u64,
    /// Places given by slots off screen for the window to new slots.
    #[serde(default)]
    recycled: u64,
}

fn key_of(item: &RecItem) -> u64 {
    fnv1a64(item.entity.as_deref().unwrap_or(&item.id).as_bytes())
}

impl SlotArbiter {
    /// An arbiter with no slot filled yet.
    pub fn new(config: DedupConfig) -> SlotArbiter {
        SlotArbiter {
            window_ms: (config.window_s * 1000.0).round() as i64,
            config,
            slots: Vec::new(),
            refused: 0,
            dropped: 0,
            recycled: 0,
        }
    }

    /// Slot places that expired slots gave to new ones so far.
    pub fn recycled(&self) -> u64 {
        self.recycled
    }

    /// Recommendations refused (slot table full) and candidates dropped
    /// (past `max_candidates`) so far.
    pub fn limited(&self) -> (u64, u64) {
        (self.refused, self.dropped)
    }

    fn slot_index(&mut self, now_ms: i64, name: &str) -> Option<usize> {
        if let Some(i) = self.slots.iter().position(|s| s.name == name) {
            return Some(i);
        }
        // Unconfigured slots may take only the places configured ones leave.
        let reserved = self
            .config
            .slots
            .keys()
            .filter(|k| *k != name && !self.slots.iter().any(|s| &s.name == *k))
            .count();
        let (weight, size) = self.config.slot(name);
        if self.slots.len() + reserved >= self.config.max_slots {
            // Full: the unconfigured slot off screen longest gives its place
            // (its id goes to the new slot; its buffers are reused).
            let window = self.window_ms;
            let i = self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    !self.config.slots.contains_key(&s.name)
                        && now_ms.saturating_sub(s.filled_ms) >= window
                })
                .min_by_key(|(_, s)| s.filled_ms)
                .map(|(i, _)| i)?;
            let s = &mut self.slots[i];
            s.name.clear();
            s.name.push_str(name);
            (s.weight, s.size) = (weight, size);
            s.candidates.clear();
            s.keys.clear();
            s.values.clear();
            s.exposed.clear();
            s.shown.clear();
            s.filled_ms = i64::MIN;
            s.changed = false;
            self.recycled += 1;
            return Some(i);
        }
        // First sight of a slot: the only allocation per slot, not per event.
        self.slots.push(Slot {
            name: name.to_owned(),
            weight,
            size,
            candidates: Vec::new(),
            keys: Vec::new(),
            values: Vec::new(),
            exposed: Vec::new(),
            shown: Vec::with_capacity(size),
            filled_ms: i64::MIN,
            changed: false,
        });
        Some(self.slots.len() - 1)
    }

    /// A slot received recommendations: resolves its list (and any list that
    /// lost an entity to it). Afterwards [`SlotArbiter::changed`] names them.
    /// Returns false, changing nothing, when the slot table is full.
    pub fn recommendations(&mut self, now_ms: i64, slot: &str, mut items: Vec<RecItem>) -> bool {
        for other in &mut self.slots {
            other.changed = false;
        }
        let Some(s) = self.slot_index(now_ms, slot) else {
            self.refused += 1;
            return false;
        };
        if items.len() > self.config.max_candidates {
            self.dropped += (items.len() - self.config.max_candidates) as u64;
            items.truncate(self.config.max_candidates);
        }
        {
            let sl = &mut self.slots[s];
            sl.candidates = items;
            sl.keys.clear();
            sl.values.clear();
            sl.exposed.clear();
            for c in &sl.candidates {
                sl.keys.push(key_of(c));
                sl.values.push(c.score.unwrap_or(1.0) as f32 * sl.weight);
                sl.exposed.push(false);
            }
            sl.shown.clear();
            sl.filled_ms = now_ms;
            sl.changed = true;
        }
        let window = self.window_ms;
        let strategy = self.config.strategy;
        let n = self.slots[s].candidates.len();
        for c in 0..n {
            if self.slots[s].shown.len() >= self.slots[s].size {
                break;
            }
            let key = self.slots[s].keys[c];
            let value = self.slots[s].values[c];
            // The same entity twice within one slot's list: keep the first.
            if self.slots[s].shows_key(key).is_some() {
                continue;
            }
            if strategy == Strategy::None {
                self.slots[s].shown.push(c as u32);
                continue;
            }
            let holder = (0..self.slots.len()).find_map(|t| {
                let other = &self.slots[t];
                (t != s && other.live(now_ms, window))
                    .then(|| other.shows_key(key).map(|p| (t, p)))
                    .flatten()
            });
            match holder {
                None => self.slots[s].shown.push(c as u32),
                Some((t, p)) => {
                    let other = &self.slots[t];
                    let idx = other.shown[p] as usize;
                    let take = strategy == Strategy::ValueAware
                        && !other.exposed[idx]
                        && value > other.values[idx];
                    if take {
                        let other = &mut self.slots[t];
                        other.shown.remove(p);
                        other.changed = true;
                        self.slots[s].shown.push(c as u32);
                    }
                }
            }
        }
        if strategy == Strategy::ValueAware {
            for t in 0..self.slots.len() {
                if t != s && self.slots[t].changed {
                    self.refill(t, now_ms);
                }
            }
        }
        true
    }

    /// Tops a slot back up from its own candidates that no other live slot shows.
    fn refill(&mut self, t: usize, now_ms: i64) {
        let window = self.window_ms;
        let n = self.slots[t].candidates.len();
        for c in 0..n {
            if self.slots[t].shown.len() >= self.slots[t].size {
                break;
            }
            let key = self.slots[t].keys[c];
            if self.slots[t].shown.contains(&(c as u32)) || self.slots[t].shows_key(key).is_some() {
                continue;
            }
            let taken = (0..self.slots.len()).any(|o| {
                o != t
                    && self.slots[o].live(now_ms, window)
                    && self.slots[o].shows_key(key).is_some()
            });
            if !taken {
                self.slots[t].shown.push(c as u32);
            }
        }
    }

    /// Items of `slot` the user has seen (exposure or click): never taken away.
    pub fn exposed(&mut self, slot: &str, items: &[String]) {
        if let Some(sl) = self.slots.iter_mut().find(|s| s.name == slot) {
            for &i in &sl.shown {
                if items.iter().any(|id| *id == sl.candidates[i as usize].id) {
                    sl.exposed[i as usize] = true;
                }
            }
        }
    }

    /// Slots whose list changed in the last [`SlotArbiter::recommendations`] call.
    pub fn changed(&self) -> impl Iterator<Item = &str> {
        self.slots
            .iter()
            .filter(|s| s.changed)
            .map(|s| s.name.as_str())
    }

    /// Number of slots seen so far.
    pub(crate) fn slot_count(&self) -> u16 {
        self.slots.len() as u16
    }

    /// Whether slot `id` changed in the last [`SlotArbiter::recommendations`] call.
    pub(crate) fn is_changed(&self, id: u16) -> bool {
        self.slots.get(usize::from(id)).is_some_and(|s| s.changed)
    }

    /// The slot that shows `item` now, if any.
    pub(crate) fn slot_showing(&self, item: &str) -> Option<u16> {
        self.slots
            .iter()
            .position(|s| s.shown.iter().any(|&i| s.candidates[i as usize].id == item))
            .map(|i| i as u16)
    }

    /// The id of a slot seen before.
    pub(crate) fn slot_id(&self, name: &str) -> Option<u16> {
        self.slots
            .iter()
            .position(|s| s.name == name)
            .map(|i| i as u16)
    }

    /// The name of a slot id.
    pub(crate) fn slot_name(&self, id: u16) -> &str {
        self.slots
            .get(usize::from(id))
            .map_or("", |s| s.name.as_str())
    }

    /// The items of a slot id, in display order.
    pub(crate) fn shown_by_id(&self, id: u16) -> impl Iterator<Item = &str> {
        self.slots.get(usize::from(id)).into_iter().flat_map(|s| {
            s.shown
                .iter()
                .map(move |&i| s.candidates[i as usize].id.as_str())
        })
    }

    /// The item ids a slot shows now, in display order.
    pub fn shown(&self, slot: &str) -> impl Iterator<Item = &str> {
        self.slots
            .iter()
            .find(|s| s.name == slot)
            .into_iter()
            .flat_map(|s| {
                s.shown
                    .iter()
                    .map(move |&i| s.candidates[i as usize].id.as_str())
            })
    }

    /// For evaluation: how many of `slot`'s exposed items are also exposed in
    /// another live slot (the user saw the same entity twice).
    pub fn exposed_duplicates(&self, now_ms: i64, slot: &str) -> u64 {
        let Some(s) = self.slots.iter().find(|s| s.name == slot) else {
            return 0;
        };
        let mut n = 0;
        for &i in &s.shown {
            if !s.exposed[i as usize] {
                continue;
            }
            let key = s.keys[i as usize];
            let seen_elsewhere = self.slots.iter().any(|o| {
                o.name != s.name
                    && o.live(now_ms, self.window_ms)
                    && o.shows_key(key)
                        .is_some_and(|p| o.exposed[o.shown[p] as usize])
            });
            n += u64::from(seen_elsewhere);
        }
        n
    }

    /// For evaluation, over the slots live at `now_ms`: placements of an entity
    /// beyond its first (duplicates), the value shown (each entity counted once,
    /// at its best placement), items shown, and item capacity.
    pub fn snapshot(&self, now_ms: i64) -> Snapshot {
        let mut placements: Vec<(u64, f32)> = Vec::new();
        let mut snap = Snapshot::default();
        for s in self.slots.iter().filter(|s| s.live(now_ms, self.window_ms)) {
            snap.capacity += s.size as u64;
            snap.shown += s.shown.len() as u64;
            placements.extend(
                s.shown
                    .iter()
                    .map(|&i| (s.keys[i as usize], s.values[i as usize])),
            );
        }
        placements.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        for (i, (key, value)) in placements.iter().enumerate() {
            if i > 0 && placements[i - 1].0 == *key {
                snap.duplicates += 1;
            } else {
                snap.value += f64::from(*value);
            }
        }
        snap
    }
}

/// What the slots show at one moment (see [`SlotArbiter::snapshot`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// Placements of an entity beyond its first, across live slots.
    pub duplicates: u64,
    /// Value shown, each entity once at its best placement.
    pub value: f64,
    /// Items shown.
    pub shown: u64,
    /// Items the live slots could show.
    pub capacity: u64,
}

impl Persist for SlotArbiter {
    /// The slots' lists and exposures (the settings are the config's).
    type State = Vec<Slot>;

    fn save_state(&self) -> Vec<Slot> {
        self.slots.clone()
    }

    fn restore_state(&mut self, slots: Vec<Slot>) -> Result<(), StateError> {
        let impossible = |what| StateError::Impossible {
            component: "dedup",
            what,
        };
        for s in &slots {
            let n = s.candidates.len();
            if s.keys.len() != n
                || s.values.len() != n
                || s.exposed.len() != n
                || s.shown.len() > s.size.max(n)
                || s.shown.iter().any(|&i| i as usize >= n)
            {
                return Err(impossible("a slot's lists (of different lengths)"));
            }
            if !s.weight.is_finite() {
                return Err(impossible("a slot's weight"));
            }
        }
        if slots.len() > self.config.max_slots {
            return Err(StateError::Size {
                component: "dedup",
                what: "slots",
                got: slots.len(),
                want: self.config.max_slots,
            });
        }
        self.slots = slots;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(spec: &[(&str, &str, f64)]) -> Vec<RecItem> {
        spec.iter()
            .map(|(id, entity, score)| RecItem {
                id: (*id).to_owned(),
                entity: Some((*entity).to_owned()),
                score: Some(*score),
            })
            .collect()
    }

    fn arbiter(strategy: Strategy, size: usize) -> SlotArbiter {
        let mut slots = BTreeMap::new();
        slots.insert("search".to_owned(), SlotSettings::Weight(1.5));
        SlotArbiter::new(DedupConfig {
            window_s: 600.0,
            default_size: size,
            slots,
            strategy,
            ..DedupConfig::default()
        })
    }

    fn shown(a: &SlotArbiter, slot: &str) -> Vec<String> {
        a.shown(slot).map(str::to_owned).collect()
    }

    #[test]
    fn an_entity_goes_to_the_slot_where_it_is_worth_most_and_the_loser_refills() {
        let mut a = arbiter(Strategy::ValueAware, 2);
        a.recommendations(
            0,
            "feed",
            items(&[("f1", "A", 0.5), ("f2", "B", 0.5), ("f3", "C", 0.4)]),
        );
        assert_eq!(shown(&a, "feed"), ["f1", "f2"]);
        // search weighs 1.5: A is worth 0.75 there, more than 0.5 in the feed.
        a.recommendations(
            1_000,
            "search",
            items(&[("s1", "A", 0.5), ("s2", "D", 0.1)]),
        );
        assert_eq!(shown(&a, "search"), ["s1", "s2"]);
        assert_eq!(
            shown(&a, "feed"),
            ["f2", "f3"],
            "feed lost A and refilled with C"
        );
        let changed: Vec<&str> = a.changed().collect();
        assert_eq!(changed, ["feed", "search"]);
        assert_eq!(a.snapshot(1_000).duplicates, 0);
    }

    #[test]
    fn exposed_placements_are_never_taken_away() {
        let mut a = arbiter(Strategy::ValueAware, 2);
        a.recommendations(0, "feed", items(&[("f1", "A", 0.5), ("f2", "B", 0.5)]));
        a.exposed("feed", &["f1".to_owned()]);
        a.recommendations(
            1_000,
            "search",
            items(&[("s1", "A", 0.9), ("s2", "D", 0.1), ("s3", "E", 0.1)]),
        );
        assert_eq!(shown(&a, "feed"), ["f1", "f2"]);
        assert_eq!(
            shown(&a, "search"),
            ["s2", "s3"],
            "search skips A and fills from its own list"
        );
    }

    #[test]
    fn first_come_first_served_keeps_the_first_holder_and_none_keeps_duplicates() {
        let mut g = arbiter(Strategy::FirstComeFirstServed, 2);
        g.recommendations(0, "feed", items(&[("f1", "A", 0.1), ("f2", "B", 0.5)]));
        g.recommendations(1, "search", items(&[("s1", "A", 0.9), ("s2", "D", 0.1)]));
        assert_eq!(shown(&g, "search"), ["s2"]);
        let mut n = arbiter(Strategy::None, 2);
        n.recommendations(0, "feed", items(&[("f1", "A", 0.1), ("f2", "B", 0.5)]));
        n.recommendations(1, "search", items(&[("s1", "A", 0.9), ("s2", "D", 0.1)]));
        assert_eq!(n.snapshot(1).duplicates, 1, "A shows twice");
    }

    #[test]
    fn lists_older_than_the_window_no_longer_block() {
        let mut a = arbiter(Strategy::FirstComeFirstServed, 2);
        a.recommendations(0, "feed", items(&[("f1", "A", 0.5)]));
        a.recommendations(700_000, "search", items(&[("s1", "A", 0.1)]));
        assert_eq!(shown(&a, "search"), ["s1"]);
    }

    #[test]
    fn items_without_entity_are_keyed_by_id_and_bad_settings_are_named() {
        let mut a = arbiter(Strategy::ValueAware, 3);
        let plain = |id: &str| RecItem {
            id: id.into(),
            entity: None,
            score: None,
        };
        a.recommendations(0, "feed", vec![plain("x"), plain("y")]);
        a.recommendations(1, "badge", vec![plain("x"), plain("z")]);
        assert_eq!(a.snapshot(1).duplicates, 0);
        let bad = DedupConfig {
            window_s: -1.0,
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "window_s");
        let mut slots = BTreeMap::new();
        slots.insert("feed".to_owned(), SlotSettings::Weight(0.0));
        let bad = DedupConfig {
            slots,
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "slots.feed");
    }

    #[test]
    fn a_slot_off_screen_for_the_window_gives_its_place_to_a_new_one() {
        let mut a = arbiter(Strategy::ValueAware, 2);
        // 63 places for unconfigured slots ("search" keeps the 64th).
        for k in 0..63 {
            assert!(a.recommendations(k * 1_000, &format!("s{k}"), items(&[("x", "x", 1.0)])));
        }
        assert!(!a.recommendations(100_000, "late", items(&[("y", "y", 1.0)])));
        assert_eq!(a.limited().0, 1, "every slot still on screen: refused");
        // An hour on, the oldest expired slot's place goes to the new slot.
        let later = 3_600_000;
        assert!(a.recommendations(later, "late", items(&[("y", "y", 1.0)])));
        assert_eq!(shown(&a, "late"), ["y"]);
        assert_eq!(a.slot_id("late"), Some(0));
        assert!(shown(&a, "s0").is_empty());
        assert_eq!(a.recycled(), 1);
        // The configured slot's place was kept for it.
        assert!(a.recommendations(later, "search", items(&[("z", "z", 1.0)])));
        assert_eq!(a.slots.len(), 64);
    }
}
