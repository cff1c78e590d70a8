//! The refresh gate: at decision points, turns a model score (or its absence)
//! into a refresh decision under a threshold, a cooldown and a maximum
//! staleness; explicit user triggers override it. It takes time as an argument
//! and never calls the model itself unless it needs a score.

use serde::{Deserialize, Serialize};

use crate::decision::{Action, Decision, FallbackCause, Reason};
use crate::event::EventType;

/// Refresh-gate settings: the `policy` section of the runtime config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Refresh when the model's score is at least this (0..=1).
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// No model- or rule-driven refresh within this many seconds of the last one.
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
            cooldown_s: default_cooldown(),
            max_staleness_s: default_staleness(),
            tick_interval_s: default_tick(),
            fallback_interval_s: default_fallback(),
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
        let secs = [
            ("cooldown_s", self.cooldown_s),
            ("max_staleness_s", self.max_staleness_s),
            ("tick_interval_s", self.tick_interval_s),
            ("fallback_interval_s", self.fallback_interval_s),
        ];
        for (field, v) in secs {
            if !v.is_finite() || v < 0.0 {
                return err(
                    field,
                    format!("must be a non-negative number of seconds, got {v}"),
                );
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
        Ok(())
    }
}

/// What the model said at a decision point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Score {
    /// A probability in [0, 1].
    Value(f32),
    /// No model is loaded.
    NoModel,
    /// The model failed on this call.
    Failed,
}

/// Decides refreshes; remembers only when the content was last refreshed.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGate {
    threshold: f32,
    cooldown_ms: i64,
    max_staleness_ms: i64,
    fallback_ms: i64,
    last_refresh_ms: Option<i64>,
}

fn ms(s: f64) -> i64 {
    (s * 1000.0).round() as i64
}

impl RefreshGate {
    pub(crate) fn new(cfg: &PolicyConfig) -> RefreshGate {
        RefreshGate {
            threshold: cfg.threshold,
            cooldown_ms: ms(cfg.cooldown_s),
            max_staleness_ms: ms(cfg.max_staleness_s),
            fallback_ms: ms(cfg.fallback_interval_s),
            last_refresh_ms: None,
        }
    }

    /// Age of the content in ms, `None` if it was never refreshed.
    fn age_ms(&self, now_ms: i64) -> Option<i64> {
        self.last_refresh_ms.map(|t| now_ms - t)
    }

    /// An explicit user event that always refreshes.
    pub(crate) fn trigger(&mut self, now_ms: i64, ty: EventType) -> Decision {
        self.last_refresh_ms = Some(now_ms);
        Decision {
            ts_ms: now_ms,
            action: Action::Refresh,
            reason: Reason::Trigger(ty),
            score: None,
            slot: None,
        }
    }

    /// Whether a decision point now would be suppressed by the cooldown.
    pub(crate) fn cooling_down(&self, now_ms: i64) -> bool {
        self.age_ms(now_ms).is_some_and(|a| a < self.cooldown_ms)
    }

    /// A decision point. `score` is called only when the score can change the
    /// outcome (not during the cooldown, not when content is already stale).
    pub(crate) fn decide(
        &mut self,
        now_ms: i64,
        score: impl FnOnce() -> Score,
    ) -> Option<Decision> {
        if self.cooling_down(now_ms) {
            return None;
        }
        let age = self.age_ms(now_ms);
        let refresh = |reason, score| Decision {
            ts_ms: now_ms,
            action: Action::Refresh,
            reason,
            score,
            slot: None,
        };
        let decision = if age.is_none_or(|a| a >= self.max_staleness_ms) {
            Some(refresh(Reason::Staleness, None))
        } else {
            let fallback = |cause| {
                age.is_some_and(|a| a >= self.fallback_ms)
                    .then(|| refresh(Reason::Fallback(cause), None))
            };
            match score() {
                Score::Value(p) if p >= self.threshold => Some(refresh(Reason::Model, Some(p))),
                Score::Value(_) => None,
                Score::NoModel => fallback(FallbackCause::NoModel),
                Score::Failed => fallback(FallbackCause::ModelError),
            }
        };
        if decision.is_some() {
            self.last_refresh_ms = Some(now_ms);
        }
        decision
    }

    /// When the content was last refreshed.
    pub(crate) fn last_refresh_ms(&self) -> Option<i64> {
        self.last_refresh_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> RefreshGate {
        RefreshGate::new(&PolicyConfig {
            threshold: 0.6,
            cooldown_s: 60.0,
            max_staleness_s: 600.0,
            tick_interval_s: 30.0,
            fallback_interval_s: 300.0,
        })
    }

    #[test]
    fn first_decision_point_refreshes_for_staleness_without_scoring() {
        let mut g = gate();
        let d = g.decide(0, || panic!("no score needed")).unwrap();
        assert_eq!(d.reason, Reason::Staleness);
    }

    #[test]
    fn score_above_threshold_refreshes_after_cooldown_only() {
        let mut g = gate();
        g.decide(0, || Score::NoModel);
        assert_eq!(g.decide(59_000, || panic!("cooldown: no scoring")), None);
        assert_eq!(g.decide(61_000, || Score::Value(0.59)), None);
        let d = g.decide(62_000, || Score::Value(0.6)).unwrap();
        assert_eq!((d.reason, d.score), (Reason::Model, Some(0.6)));
        assert_eq!(g.last_refresh_ms(), Some(62_000));
    }

    #[test]
    fn pull_to_refresh_overrides_cooldown() {
        let mut g = gate();
        g.decide(0, || Score::NoModel);
        let d = g.trigger(1_000, EventType::PullToRefresh);
        assert_eq!(d.reason.as_str(), "trigger:pull_to_refresh");
        assert!(g.cooling_down(2_000));
    }

    #[test]
    fn max_staleness_forces_a_refresh_whatever_the_score() {
        let mut g = gate();
        g.decide(0, || Score::NoModel);
        let d = g.decide(600_000, || Score::Value(0.0)).unwrap();
        assert_eq!(d.reason, Reason::Staleness);
    }

    #[test]
    fn without_a_model_the_rules_refresh_on_the_fallback_interval_and_say_so() {
        let mut g = gate();
        g.decide(0, || Score::NoModel);
        assert_eq!(g.decide(299_000, || Score::NoModel), None);
        let d = g.decide(300_000, || Score::Failed).unwrap();
        assert_eq!(d.reason.as_str(), "fallback:model_error");
        assert_eq!(g.decide(599_999, || Score::NoModel), None);
        let d = g.decide(600_000, || Score::NoModel);
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
}
