//! The refresh gate: at decision points, turns a model score (or its absence)
//! into a refresh decision under a threshold, a cooldown and a maximum
//! staleness; explicit user triggers override it. It takes time as an argument
//! and never calls the model itself unless it needs a score.

use serde::{Deserialize, Serialize};

use crate::decision::{Action, Decision, FallbackCause, Reason};
use crate::event::EventType;
use crate::snapshot::{Persist, StateError};

/// Refresh-gate settings: the `policy` section of the runtime config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Refresh when the model's score is at least this (0..=1). With
    /// `buckets` and a user id, the user's bucket threshold replaces it.
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// A/B "gradient thresholds": a stable hash of the user id picks a bucket,
    /// each bucket its own threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Buckets>,
    /// After a refresh the model may refresh again only once its score has
    /// fallen below `threshold - hysteresis` (it re-arms at each foreground).
    /// Absent: the model may refresh whenever the score passes the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hysteresis: Option<f32>,
    /// No refresh the runtime decides on its own (model, staleness, fallback,
    /// a server hint's stale mark) within this many seconds of the last one.
    /// What the user asked for goes through: pull-to-refresh, and stale marks
    /// from user actions (a search, a custom event, feedback), which each
    /// rule's `debounce_s` bounds instead.
    #[serde(default = "default_cooldown")]
    pub cooldown_s: f64,
    /// Refresh at the next decision point once content is this old, whatever the score.
    #[serde(default = "default_staleness")]
    pub max_staleness_s: f64,
    /// Seconds between periodic decision points while the homepage is shown (0: none).
    #[serde(default = "default_tick")]
    pub tick_interval_s: f64,
    /// Without a usable model, refresh when content is this old.
    #[serde(default = "default_fallback")]
    pub fallback_interval_s: f64,
    /// At most this many refreshes in any hour (0: no limit). Explicit refresh
    /// triggers (pull-to-refresh) always go through but count against it.
    #[serde(default)]
    pub budget_per_hour: u32,
}

/// Per-bucket thresholds for A/B tests: the `policy.buckets` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Buckets {
    /// Mixed into the hash so that each experiment splits users afresh.
    pub salt: String,
    /// One threshold per bucket; users spread evenly over them.
    pub thresholds: Vec<f32>,
}

impl Buckets {
    /// The bucket of a user: FNV-1a of `salt:user_id`, modulo the bucket count.
    pub fn bucket_of(&self, user_id: &str) -> usize {
        let key = format!("{}:{user_id}", self.salt);
        (crate::hash::fnv1a64(key.as_bytes()) % self.thresholds.len().max(1) as u64) as usize
    }
}

fn default_threshold() -> f32 {
    0.5
}
fn default_cooldown() -> f64 {
    60.0
}
fn default_staleness() -> f64 {
    1800.0
}
fn default_tick() -> f64 {
    30.0
}
fn default_fallback() -> f64 {
    300.0
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            threshold: default_threshold(),
            buckets: None,
            hysteresis: None,
            cooldown_s: default_cooldown(),
            max_staleness_s: default_staleness(),
            tick_interval_s: default_tick(),
            fallback_interval_s: default_fallback(),
            budget_per_hour: 0,
        }
    }
}

/// A policy setting that cannot work, with the field named.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("policy.{field}: {why}")]
pub struct PolicyError {
    /// The offending field.
    pub field: &'static str,
    /// What it must be.
    pub why: String,
}

impl PolicyConfig {
    /// Checks ranges and consistency.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let err = |field, why: String| Err(PolicyError { field, why });
        if !(0.0..=1.0).contains(&self.threshold) {
            return err(
                "threshold",
                format!("must be within [0, 1], got {}", self.threshold),
            );
        }
        if let Some(b) = &self.buckets {
            if b.thresholds.is_empty() || b.thresholds.len() > 1024 {
                return err(
                    "buckets.thresholds",
                    format!("must hold 1 to 1024 thresholds, got {}", b.thresholds.len()),
                );
            }
            if let Some((i, t)) = b
                .thresholds
                .iter()
                .enumerate()
                .find(|(_, t)| !(0.0..=1.0).contains(*t))
            {
                return err(
                    "buckets.thresholds",
                    format!("element {i} must be within [0, 1], got {t}"),
                );
            }
        }
        if let Some(h) = self.hysteresis {
            if !(0.0..1.0).contains(&h) {
                return err("hysteresis", format!("must be within [0, 1), got {h}"));
            }
            // Re-arming needs a score below threshold - hysteresis.
            let lowest = self
                .buckets
                .iter()
                .flat_map(|b| b.thresholds.iter().copied())
                .fold(self.threshold, f32::min);
            if h >= lowest {
                return err(
                    "hysteresis",
                    format!(
                        "must be below the lowest threshold ({lowest}), got {h}: the model could never re-arm"
                    ),
                );
            }
        }
        let secs = [
            ("cooldown_s", self.cooldown_s),
            ("max_staleness_s", self.max_staleness_s),
            ("tick_interval_s", self.tick_interval_s),
            ("fallback_interval_s", self.fallback_interval_s),
        ];
        for (field, v) in secs {
            if let Some(why) = crate::limits::bad_duration(v) {
                return err(field, why);
            }
        }
        if self.tick_interval_s > 0.0 && self.tick_interval_s < 1.0 {
            return err(
                "tick_interval_s",
                "must be 0 (no ticks) or at least 1 second".into(),
            );
        }
        if self.max_staleness_s <= self.cooldown_s {
            return err(
                "max_staleness_s",
                format!(
                    "must exceed cooldown_s ({}), got {}",
                    self.cooldown_s, self.max_staleness_s
                ),
            );
        }
        if self.fallback_interval_s < self.cooldown_s {
            return err(
                "fallback_interval_s",
                format!("must be at least cooldown_s ({})", self.cooldown_s),
            );
        }
        if self.budget_per_hour > 3600 {
            return err(
                "budget_per_hour",
                format!(
                    "must be at most 3600 (0: no limit), got {}",
                    self.budget_per_hour
                ),
            );
        }
        Ok(())
    }

    /// The threshold for a user: their bucket's when buckets and an id are given.
    pub fn threshold_for(&self, user_id: Option<&str>) -> (f32, Option<usize>) {
        match (&self.buckets, user_id) {
            (Some(b), Some(id)) if !b.thresholds.is_empty() => {
                let i = b.bucket_of(id);
                (b.thresholds[i], Some(i))
            }
            _ => (self.threshold, None),
        }
    }
}

/// What the model said at a decision point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Score {
    /// Not computed: the gate said no score could change the answer.
    NotAsked,
    /// A probability in [0, 1].
    Value(f32),
    /// No model is loaded.
    NoModel,
    /// The model failed on this call.
    Failed,
    /// A monitor's alert stands: the model is set aside.
    SetAside,
}

/// Refreshes in the last hour, in a fixed ring (no allocation per decision).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Budget {
    times: Box<[i64]>,
    next: usize,
    len: usize,
}

const HOUR_MS: i64 = 3_600_000;

impl Budget {
    fn new(per_hour: u32) -> Budget {
        Budget {
            times: vec![0; per_hour as usize].into_boxed_slice(),
            next: 0,
            len: 0,
        }
    }

    fn allows(&self, now_ms: i64) -> bool {
        // The oldest of the last `cap` refreshes sits where the next one goes.
        self.times.is_empty()
            || self.len < self.times.len()
            || now_ms - self.times[self.next] >= HOUR_MS
    }

    /// The newest refreshes of `self` that fit a ring of `cap`, oldest first.
    fn refit(&self, cap: usize) -> Budget {
        let mut out = Budget::new(cap as u32);
        let n = self.len.min(cap);
        let size = self.times.len();
        for k in (1..=n).rev() {
            out.record(self.times[(self.next + size - k) % size]);
        }
        out
    }

    fn record(&mut self, now_ms: i64) {
        if self.times.is_empty() {
            return;
        }
        self.times[self.next] = now_ms;
        self.next = (self.next + 1) % self.times.len();
        self.len = (self.len + 1).min(self.times.len());
    }
}

/// A deferred refresh waiting for a decision point the user sees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Pending {
    ty: EventType,
    since_ms: i64,
    not_before_ms: i64,
    /// `None`: the whole page.
    slot: Option<u16>,
}

/// Counters the gate keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct GateCounters {
    pub suppressed_by_budget: u64,
    pub stale_marks: u64,
    pub marks_absorbed: u64,
}

/// What of the gate changes over time (its settings come from the config).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GateState {
    last_refresh_ms: Option<i64>,
    armed: bool,
    budget: Budget,
    pending: Option<Pending>,
    counters: GateCounters,
}

/// The gate's settings, from the policy config and the user's bucket.
#[derive(Debug, Clone)]
struct GateSettings {
    threshold: f32,
    hysteresis: Option<f32>,
    cooldown_ms: i64,
    max_staleness_ms: i64,
    fallback_ms: i64,
}

/// Decides refreshes; remembers when the content was last refreshed, whether
/// the model is armed, recent refreshes (budget) and a pending stale mark.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGate {
    settings: GateSettings,
    state: GateState,
}

fn ms(s: f64) -> i64 {
    (s * 1000.0).round() as i64
}

impl RefreshGate {
    /// Takes over `old`'s state under these settings (a live config update):
    /// the last refresh, the arming, a pending stale mark, the counters, and
    /// as many of the recent refreshes as the new budget holds.
    pub(crate) fn carry_from(&mut self, old: &RefreshGate) {
        let cap = self.state.budget.times.len();
        self.state = GateState {
            budget: old.state.budget.refit(cap),
            ..old.state.clone()
        };
    }

    /// Forgets every time it holds (the last refresh, the budget's
    /// refreshes, a pending stale mark), keeping settings and counters: the
    /// clock they were stamped by was wrong.
    pub(crate) fn forget_times(&mut self) {
        let cap = self.state.budget.times.len();
        self.state.last_refresh_ms = None;
        self.state.budget = Budget::new(cap as u32);
        self.state.pending = None;
    }

    pub(crate) fn new(cfg: &PolicyConfig, threshold: f32) -> RefreshGate {
        RefreshGate {
            settings: GateSettings {
                threshold,
                hysteresis: cfg.hysteresis,
                cooldown_ms: ms(cfg.cooldown_s),
                max_staleness_ms: ms(cfg.max_staleness_s),
                fallback_ms: ms(cfg.fallback_interval_s),
            },
            state: GateState {
                last_refresh_ms: None,
                armed: true,
                budget: Budget::new(cfg.budget_per_hour),
                pending: None,
                counters: GateCounters::default(),
            },
        }
    }

    /// The threshold in use (the bucket's, when bucketed).
    pub(crate) fn threshold(&self) -> f32 {
        self.settings.threshold
    }

    /// Age of the content in ms, `None` if it was never refreshed.
    fn age_ms(&self, now_ms: i64) -> Option<i64> {
        self.state.last_refresh_ms.map(|t| now_ms - t)
    }

    fn refreshed(&mut self, now_ms: i64, slot: Option<u16>) {
        self.state.budget.record(now_ms);
        if slot.is_none() {
            self.state.last_refresh_ms = Some(now_ms);
            self.state.armed = self.settings.hysteresis.is_none();
        }
        if let Some(p) = self.state.pending {
            if slot.is_none() || p.slot == slot {
                self.state.pending = None;
            }
        }
    }

    /// An explicit trigger that refreshes now, overriding cooldown and budget.
    pub(crate) fn trigger(&mut self, now_ms: i64, ty: EventType) -> Decision {
        if self.state.pending.is_some_and(|p| p.slot.is_none()) {
            self.state.counters.marks_absorbed += 1;
        }
        self.refreshed(now_ms, None);
        Decision::new(now_ms, Action::Refresh, Reason::Trigger(ty))
    }

    /// Marks content (or one slot) stale: a later decision point the user
    /// sees, at or after `not_before_ms`, refreshes it. Marks fold into one
    /// pending mark; two different slots fold into the whole page.
    pub(crate) fn mark_stale(
        &mut self,
        now_ms: i64,
        ty: EventType,
        not_before_ms: i64,
        slot: Option<u16>,
    ) {
        self.state.counters.stale_marks += 1;
        self.state.pending = Some(match self.state.pending {
            None => Pending {
                ty,
                since_ms: now_ms,
                not_before_ms,
                slot,
            },
            // A user action's mark speaks for the merged one: it may pass
            // the cooldown, and need not wait out a server hint's coalescing.
            Some(p) if ty.is_user_action() && !p.ty.is_user_action() => Pending {
                ty,
                not_before_ms: not_before_ms.min(p.not_before_ms),
                slot: if p.slot == slot { slot } else { None },
                ..p
            },
            Some(p) => Pending {
                slot: if p.slot == slot { slot } else { None },
                ..p
            },
        });
    }

    /// A new session began: the model is armed again.
    pub(crate) fn session_start(&mut self) {
        self.state.armed = true;
    }

    /// Whether a decision point now would be suppressed by the cooldown.
    pub(crate) fn cooling_down(&self, now_ms: i64) -> bool {
        self.age_ms(now_ms)
            .is_some_and(|a| a < self.settings.cooldown_ms)
    }

    /// Whether a score can change the answer at a decision point now: not
    /// while the cooldown runs, nor when staleness refreshes anyway.
    pub(crate) fn wants_score(&self, now_ms: i64) -> bool {
        !self.cooling_down(now_ms)
            && self
                .age_ms(now_ms)
                .is_some_and(|a| a < self.settings.max_staleness_ms)
    }

    /// A decision point; `visible` when the user sees the homepage now
    /// (foreground, home view), which is when stale marks are served. `score`
    /// is the model's, computed when [`RefreshGate::wants_score`] said so.
    pub(crate) fn decide(&mut self, now_ms: i64, visible: bool, score: Score) -> Option<Decision> {
        let ready = |p: &Pending| visible && now_ms >= p.not_before_ms;
        if self.cooling_down(now_ms)
            && !self
                .state
                .pending
                .is_some_and(|p| ready(&p) && p.ty.is_user_action())
        {
            return None;
        }
        let age = self.age_ms(now_ms);
        let refresh = |reason, score, slot| Decision {
            score,
            slot,
            ..Decision::new(now_ms, Action::Refresh, reason)
        };
        let decision = if self.cooling_down(now_ms) {
            // Only a user action's stale mark gets here (checked above).
            self.state
                .pending
                .map(|p| refresh(Reason::Trigger(p.ty), None, p.slot))
        } else if age.is_none_or(|a| a >= self.settings.max_staleness_ms) {
            Some(refresh(Reason::Staleness, None, None))
        } else {
            let s = score;
            let model = match s {
                Score::Value(p) => {
                    if let Some(h) = self.settings.hysteresis {
                        self.state.armed |= p < self.settings.threshold - h;
                    }
                    (self.state.armed && p >= self.settings.threshold)
                        .then(|| refresh(Reason::Model, Some(p), None))
                }
                _ => None,
            };
            let pending = self
                .state
                .pending
                .filter(ready)
                .map(|p| refresh(Reason::Trigger(p.ty), None, p.slot));
            let fallback = |cause| {
                age.is_some_and(|a| a >= self.settings.fallback_ms)
                    .then(|| refresh(Reason::Fallback(cause), None, None))
            };
            model.or(pending).or_else(|| match s {
                Score::Value(_) => None,
                Score::NoModel | Score::NotAsked => fallback(FallbackCause::NoModel),
                Score::Failed => fallback(FallbackCause::ModelError),
                Score::SetAside => fallback(FallbackCause::Monitor),
            })
        };
        let d = decision?;
        // The first refresh ever is never held back: there is no content yet.
        if age.is_some() && !self.state.budget.allows(now_ms) {
            self.state.counters.suppressed_by_budget += 1;
            return None;
        }
        if d.slot.is_none()
            && !matches!(d.reason, Reason::Trigger(_))
            && self.state.pending.is_some_and(|p| p.since_ms <= now_ms)
        {
            self.state.counters.marks_absorbed += 1;
        }
        self.refreshed(now_ms, d.slot);
        Some(d)
    }

    /// The gate's counters.
    pub(crate) fn counters(&self) -> &GateCounters {
        &self.state.counters
    }

    /// When the content was last refreshed.
    pub(crate) fn last_refresh_ms(&self) -> Option<i64> {
        self.state.last_refresh_ms
    }
}

impl Persist for RefreshGate {
    type State = GateState;

    fn save_state(&self) -> GateState {
        self.state.clone()
    }

    fn restore_state(&mut self, s: GateState) -> Result<(), StateError> {
        let cap = self.state.budget.times.len();
        if s.budget.times.len() != cap {
            return Err(StateError::Size {
                component: "policy",
                what: "budget ring",
                got: s.budget.times.len(),
                want: cap,
            });
        }
        if s.budget.len > cap || (cap > 0 && s.budget.next >= cap) {
            return Err(StateError::Impossible {
                component: "policy",
                what: "budget ring position",
            });
        }
        self.state = s;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runtime's order: the score is computed only when the gate wants it.
    fn decide(
        g: &mut RefreshGate,
        now_ms: i64,
        visible: bool,
        score: impl FnOnce() -> Score,
    ) -> Option<Decision> {
        let s = if g.wants_score(now_ms) {
            score()
        } else {
            Score::NotAsked
        };
        g.decide(now_ms, visible, s)
    }

    fn cfg() -> PolicyConfig {
        PolicyConfig {
            threshold: 0.6,
            cooldown_s: 60.0,
            max_staleness_s: 600.0,
            tick_interval_s: 30.0,
            fallback_interval_s: 300.0,
            ..Default::default()
        }
    }

    fn gate() -> RefreshGate {
        RefreshGate::new(&cfg(), 0.6)
    }

    #[test]
    fn a_new_budget_keeps_the_newest_refreshes_it_holds() {
        let mut b = Budget::new(3);
        for t in [10, 20, 30, 40] {
            b.record(t);
        }
        let small = b.refit(2);
        assert_eq!((small.len, &small.times[..]), (2, &[30, 40][..]));
        let big = b.refit(5);
        assert_eq!(big.len, 3);
        assert_eq!(&big.times[..3], &[20, 30, 40]);
        assert_eq!(b.refit(0).len, 0);
    }

    #[test]
    fn first_decision_point_refreshes_for_staleness_without_scoring() {
        let mut g = gate();
        let d = decide(&mut g, 0, true, || panic!("no score needed")).unwrap();
        assert_eq!(d.reason, Reason::Staleness);
    }

    #[test]
    fn score_above_threshold_refreshes_after_cooldown_only() {
        let mut g = gate();
        decide(&mut g, 0, true, || Score::NoModel);
        assert_eq!(
            decide(&mut g, 59_000, true, || panic!("cooldown: no scoring")),
            None
        );
        assert_eq!(decide(&mut g, 61_000, true, || Score::Value(0.59)), None);
        let d = decide(&mut g, 62_000, true, || Score::Value(0.6)).unwrap();
        assert_eq!((d.reason, d.score), (Reason::Model, Some(0.6)));
        assert_eq!(g.last_refresh_ms(), Some(62_000));
    }

    #[test]
    fn pull_to_refresh_overrides_cooldown() {
        let mut g = gate();
        decide(&mut g, 0, true, || Score::NoModel);
        let d = g.trigger(1_000, EventType::PullToRefresh);
        assert_eq!(d.reason.as_str(), "trigger:pull_to_refresh");
        assert!(g.cooling_down(2_000));
    }

    #[test]
    fn max_staleness_forces_a_refresh_whatever_the_score() {
        let mut g = gate();
        decide(&mut g, 0, true, || Score::NoModel);
        let d = decide(&mut g, 600_000, true, || Score::Value(0.0)).unwrap();
        assert_eq!(d.reason, Reason::Staleness);
    }

    #[test]
    fn without_a_model_the_rules_refresh_on_the_fallback_interval_and_say_so() {
        let mut g = gate();
        decide(&mut g, 0, true, || Score::NoModel);
        assert_eq!(decide(&mut g, 299_000, true, || Score::NoModel), None);
        let d = decide(&mut g, 300_000, true, || Score::Failed).unwrap();
        assert_eq!(d.reason.as_str(), "fallback:model_error");
        assert_eq!(decide(&mut g, 599_999, true, || Score::NoModel), None);
        let d = decide(&mut g, 600_000, true, || Score::NoModel);
        assert_eq!(d.unwrap().reason.as_str(), "fallback:no_model");
    }

    #[test]
    fn invalid_settings_name_the_field() {
        let bad = [
            (
                PolicyConfig {
                    threshold: 1.5,
                    ..Default::default()
                },
                "threshold",
            ),
            (
                PolicyConfig {
                    cooldown_s: -1.0,
                    ..Default::default()
                },
                "cooldown_s",
            ),
            (
                PolicyConfig {
                    max_staleness_s: 10.0,
                    ..Default::default()
                },
                "max_staleness_s",
            ),
            (
                PolicyConfig {
                    tick_interval_s: 0.5,
                    ..Default::default()
                },
                "tick_interval_s",
            ),
            (
                PolicyConfig {
                    fallback_interval_s: 1.0,
                    ..Default::default()
                },
                "fallback_interval_s",
            ),
        ];
        for (cfg, field) in bad {
            let e = cfg.validate().unwrap_err();
            assert_eq!(e.field, field);
            assert!(e.to_string().starts_with(&format!("policy.{field}")));
        }
        assert!(PolicyConfig::default().validate().is_ok());
    }

    #[test]
    fn more_invalid_settings_name_the_field() {
        let bad = [
            (
                PolicyConfig {
                    buckets: Some(Buckets {
                        salt: "s".into(),
                        thresholds: vec![0.4, 1.2],
                    }),
                    ..Default::default()
                },
                "buckets.thresholds",
            ),
            (
                PolicyConfig {
                    hysteresis: Some(-0.1),
                    ..Default::default()
                },
                "hysteresis",
            ),
            (
                PolicyConfig {
                    hysteresis: Some(0.5),
                    ..Default::default()
                },
                "hysteresis",
            ),
            (
                PolicyConfig {
                    budget_per_hour: 10_000,
                    ..Default::default()
                },
                "budget_per_hour",
            ),
        ];
        for (cfg, field) in bad {
            assert_eq!(cfg.validate().unwrap_err().field, field);
        }
    }

    #[test]
    fn buckets_split_users_stably_and_evenly() {
        let cfg = PolicyConfig {
            buckets: Some(Buckets {
                salt: "exp1".into(),
                thresholds: vec![0.3, 0.5, 0.7],
            }),
            ..Default::default()
        };
        let mut counts = [0usize; 3];
        for u in 0..3000 {
            let id = format!("user-{u}");
            let (t, b) = cfg.threshold_for(Some(&id));
            assert_eq!(cfg.threshold_for(Some(&id)), (t, b), "stable");
            let b = b.unwrap();
            assert_eq!(t, [0.3, 0.5, 0.7][b]);
            counts[b] += 1;
        }
        assert!(
            counts.iter().all(|&c| (850..1150).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(cfg.threshold_for(None), (0.5, None));
    }

    #[test]
    fn hysteresis_rearms_only_after_the_score_falls() {
        let mut g = RefreshGate::new(
            &PolicyConfig {
                hysteresis: Some(0.2),
                ..cfg()
            },
            0.6,
        );
        decide(&mut g, 0, true, || Score::NoModel);
        // Disarmed after the first refresh: a high score does nothing...
        assert_eq!(decide(&mut g, 100_000, true, || Score::Value(0.9)), None);
        assert_eq!(
            decide(&mut g, 130_000, true, || Score::Value(0.5)),
            None,
            "above 0.4"
        );
        // ...until it has been below threshold - hysteresis.
        assert_eq!(decide(&mut g, 160_000, true, || Score::Value(0.3)), None);
        let d = decide(&mut g, 190_000, true, || Score::Value(0.7)).unwrap();
        assert_eq!(d.reason, Reason::Model);
        assert_eq!(decide(&mut g, 290_000, true, || Score::Value(0.9)), None);
        g.session_start();
        assert!(decide(&mut g, 300_000, true, || Score::Value(0.9)).is_some());
    }

    #[test]
    fn budget_caps_refreshes_per_hour_but_not_explicit_triggers() {
        let mut g = RefreshGate::new(
            &PolicyConfig {
                budget_per_hour: 2,
                cooldown_s: 0.0,
                ..cfg()
            },
            0.6,
        );
        assert!(
            decide(&mut g, 0, true, || Score::NoModel).is_some(),
            "first refresh"
        );
        assert!(decide(&mut g, 1_000, true, || Score::Value(0.9)).is_some());
        assert_eq!(decide(&mut g, 2_000, true, || Score::Value(0.9)), None);
        assert_eq!(g.counters().suppressed_by_budget, 1);
        assert_eq!(
            g.trigger(3_000, EventType::PullToRefresh).reason.as_str(),
            "trigger:pull_to_refresh"
        );
        assert_eq!(decide(&mut g, 3_599_999, true, || Score::Value(0.9)), None);
        assert!(decide(&mut g, 3_601_000, true, || Score::Value(0.9)).is_some());
    }

    #[test]
    fn stale_marks_wait_for_a_visible_point_and_fold_into_other_refreshes() {
        let mut g = gate();
        decide(&mut g, 0, true, || Score::NoModel);
        g.mark_stale(70_000, EventType::Notification, 100_000, None);
        g.mark_stale(80_000, EventType::Notification, 110_000, None);
        assert_eq!(
            decide(&mut g, 90_000, true, || Score::Value(0.1)),
            None,
            "coalescing"
        );
        assert_eq!(
            decide(&mut g, 100_000, false, || Score::Value(0.1)),
            None,
            "not seen"
        );
        let d = decide(&mut g, 101_000, true, || Score::Value(0.1)).unwrap();
        assert_eq!(d.reason.as_str(), "trigger:notification");
        assert_eq!(g.counters().stale_marks, 2);
        // A later mark folds into the model's refresh instead of its own request.
        g.mark_stale(170_000, EventType::Notification, 170_000, None);
        let d = decide(&mut g, 200_000, true, || Score::Value(0.9)).unwrap();
        assert_eq!(d.reason, Reason::Model);
        assert_eq!(g.counters().marks_absorbed, 1);
        assert_eq!(decide(&mut g, 300_000, true, || Score::Value(0.1)), None);
    }

    #[test]
    fn a_user_action_s_mark_passes_the_cooldown_a_server_hint_s_does_not() {
        // Cooldown 60 s from the refresh at 0.
        let mut g = gate();
        decide(&mut g, 0, true, || Score::NoModel);
        g.mark_stale(10_000, EventType::Notification, 10_000, None);
        assert_eq!(decide(&mut g, 20_000, true, || panic!("cooldown")), None);
        g.mark_stale(25_000, EventType::Search, 25_000, None);
        assert_eq!(
            decide(&mut g, 26_000, false, || panic!("cooldown")),
            None,
            "not seen yet"
        );
        let d = decide(&mut g, 30_000, true, || panic!("cooldown")).unwrap();
        assert_eq!(d.reason.as_str(), "trigger:search");
        // The cooldown starts again from that refresh; the model waits it out.
        assert_eq!(decide(&mut g, 80_000, true, || panic!("cooldown")), None);
        assert!(decide(&mut g, 91_000, true, || Score::Value(0.9)).is_some());
    }

    #[test]
    fn slot_marks_refresh_the_slot_only() {
        let mut g = gate();
        decide(&mut g, 0, true, || Score::NoModel);
        g.mark_stale(70_000, EventType::Feedback, 70_000, Some(2));
        let d = decide(&mut g, 80_000, true, || Score::Value(0.1)).unwrap();
        assert_eq!((d.reason.as_str(), d.slot), ("trigger:feedback", Some(2)));
        assert_eq!(
            g.last_refresh_ms(),
            Some(0),
            "the page itself is as old as before"
        );
        g.mark_stale(90_000, EventType::Feedback, 90_000, Some(1));
        g.mark_stale(91_000, EventType::Feedback, 91_000, Some(2));
        let d = decide(&mut g, 95_000, true, || Score::Value(0.1)).unwrap();
        assert_eq!(d.slot, None, "two slots fold into the page");
    }
}
