//! The policies under test: the configured one, the fixed intervals, every
//! home view, one request per notification, threshold sweeps, roll-out arms.

use std::sync::Arc;

use serde::Serialize;

use edgeintent::{Config, EventType, PolicyConfig};
use edgeintent::{TriggerAction, TriggerRule, TriggerWhen};

use crate::error::{Error, OfflineError};
use crate::updates::UpdateSchedule;

/// The fixed refresh intervals (seconds) the baselines use.
pub const FIXED_INTERVALS_S: [f64; 11] = [
    5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

/// Which family a policy under test belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// The configured policy (model, triggers, gate).
    Ours,
    /// The configured policy at another threshold (`--sweep-threshold`).
    OursSweep,
    /// The configured policy with its model switched off (rules and
    /// triggers alone): what the model adds.
    OursNoModel,
    /// Refresh at any decision point once content is older than a fixed interval.
    FixedInterval,
    /// Refresh at every app foreground and home view.
    EveryHomeView,
    /// Refresh on open when stale and once per server notification.
    PerNotification,
    /// The configured policy with a roll-out's updates applied, in one arm.
    RolloutArm,
}

/// One policy to replay: a runtime config and whether to load its model.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Display name.
    pub name: String,
    /// Its family.
    pub kind: PolicyKind,
    /// The runtime config it runs with.
    pub config: Config,
    /// Load the config's model (baselines run on rules alone).
    pub use_model: bool,
    /// Updates applied during each trace, and the roll-out arm this
    /// candidate stands for (`evaluate --updates`).
    pub rollout: Option<(Arc<UpdateSchedule>, String)>,
}

/// The thresholds swept when a config with a model is evaluated without an
/// explicit sweep: the model's curve, against which the policy without it
/// is compared at equal recall ([`crate::refresh_eval::Comparison::model_adds_at_equal_recall`]).
pub const MODEL_SWEEP: [f32; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

pub(super) fn ptr_only() -> Vec<TriggerRule> {
    vec![TriggerRule {
        event: EventType::PullToRefresh,
        when: TriggerWhen::default(),
        action: TriggerAction::Refresh,
        debounce_s: 2.0,
        coalesce_s: 0.0,
    }]
}

/// The configured policy, its threshold sweep (each threshold must pass the
/// policy's validation, e.g. stay above the hysteresis), the policy without its
/// model (when it has one), and the baselines: fixed
/// intervals ([`FIXED_INTERVALS_S`]), every home view, and one request per
/// notification. Every baseline honours pull-to-refresh and ticks while the
/// homepage is shown like the configured policy.
pub fn candidates(ours: &Config, sweep: &[f32]) -> Result<Vec<Candidate>, Error> {
    let mut out = vec![Candidate {
        name: "ours".into(),
        kind: PolicyKind::Ours,
        config: ours.clone(),
        use_model: true,
        rollout: None,
    }];
    // Without an explicit sweep, the model's own curve: thresholds the
    // policy cannot take (below its hysteresis) are left out, not errors.
    let auto = sweep.is_empty() && ours.model().is_some();
    let sweep: Vec<f32> = if auto {
        MODEL_SWEEP
            .into_iter()
            .filter(|&t| (t - ours.policy().threshold).abs() > 1e-6)
            .collect()
    } else {
        sweep.to_vec()
    };
    for t in sweep {
        let policy = PolicyConfig {
            threshold: t,
            buckets: None,
            ..ours.policy().clone()
        };
        if let Err(source) = policy.validate() {
            if auto {
                continue;
            }
            return Err(OfflineError::SweepThreshold {
                threshold: t,
                source,
            }
            .into());
        }
        let c = ours.clone().with_policy(policy)?;
        out.push(Candidate {
            name: format!("ours@{t}"),
            kind: PolicyKind::OursSweep,
            config: c,
            use_model: true,
            rollout: None,
        });
    }
    if ours.model().is_some() {
        out.push(Candidate {
            name: "ours, no model".into(),
            kind: PolicyKind::OursNoModel,
            config: ours.clone(),
            use_model: false,
            rollout: None,
        });
    }
    // Rules alone: no model, no cooldown, never stale by age alone.
    let rules = |fallback_s: f64, tick_s: f64, triggers: Vec<TriggerRule>| {
        ours.rules_baseline(fallback_s, tick_s, triggers)
    };
    let tick = ours.policy().tick_interval_s;
    for s in FIXED_INTERVALS_S {
        out.push(Candidate {
            name: format!("fixed {s}s"),
            kind: PolicyKind::FixedInterval,
            config: rules(s, tick, ptr_only())?,
            use_model: false,
            rollout: None,
        });
    }
    out.push(Candidate {
        name: "every home view".into(),
        kind: PolicyKind::EveryHomeView,
        config: rules(0.0, 0.0, ptr_only())?,
        use_model: false,
        rollout: None,
    });
    let mut per_note = ptr_only();
    per_note.push(TriggerRule {
        event: EventType::Notification,
        when: TriggerWhen::default(),
        action: TriggerAction::Refresh,
        debounce_s: 0.0,
        coalesce_s: 0.0,
    });
    out.push(Candidate {
        name: "per notification".into(),
        kind: PolicyKind::PerNotification,
        config: rules(ours.policy().max_staleness_s, 0.0, per_note)?,
        use_model: false,
        rollout: None,
    });
    Ok(out)
}

/// One candidate per arm of the roll-outs in `updates`: the configured
/// policy with the updates applied as they come, the device in that arm.
pub fn rollout_candidates(ours: &Config, updates: &Arc<UpdateSchedule>) -> Vec<Candidate> {
    updates
        .arms()
        .into_iter()
        .map(|arm| Candidate {
            name: format!("rollout: {arm}"),
            kind: PolicyKind::RolloutArm,
            config: ours.clone(),
            use_model: true,
            rollout: Some((Arc::clone(updates), arm)),
        })
        .collect()
}

/// Everything `edgeintent evaluate` compares, from its options: the
/// configured policy (at the threshold of `user_id`'s A/B bucket when the
/// policy has buckets), its sweep, the baselines ([`candidates`]), and one
/// candidate per arm of the staged roll-outs in `updates`.
pub fn evaluation_candidates(
    config: &Config,
    sweep: &[f32],
    user_id: Option<&str>,
    updates: Option<&Arc<UpdateSchedule>>,
) -> Result<Vec<Candidate>, Error> {
    if let Some(&t) = sweep.iter().find(|t| !(0.0..=1.0).contains(*t)) {
        return Err(OfflineError::SweepOutOfRange(t).into());
    }
    let mut config = config.clone();
    if let (Some(id), Some(_)) = (user_id, &config.policy().buckets) {
        // Evaluate the bucket's threshold as "ours".
        let policy = PolicyConfig {
            threshold: config.policy().threshold_for(Some(id)).0,
            ..config.policy().clone()
        };
        config = config.with_policy(policy)?;
    }
    let mut all = candidates(&config, sweep)?;
    if let Some(schedule) = updates {
        let arms = rollout_candidates(&config, schedule);
        if arms.is_empty() {
            return Err(OfflineError::NoRolloutArms.into());
        }
        all.extend(arms);
    }
    Ok(all)
}
