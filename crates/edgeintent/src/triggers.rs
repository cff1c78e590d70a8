//! Event triggers: hard overrides declared in the config (`triggers`). An
//! event that matches a rule either refreshes now or marks content stale so
//! that the next decision point the user sees refreshes it. Debounce and
//! coalesce windows keep bursts of matching events to one request.

use serde::{Deserialize, Serialize};

use crate::event::{EventKind, EventType, FeedbackKind};
use crate::snapshot::{Persist, StateError};

/// What a matching event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerAction {
    /// Refresh now, overriding the cooldown, the budget and the model.
    Refresh,
    /// Mark the content stale: the next decision point where the user sees
    /// the homepage (foreground or home view) refreshes it, unless another
    /// refresh has happened in between.
    MarkStale,
    /// Like `mark_stale`, but only for the slot showing the event's item
    /// (the whole page when no slot shows it).
    RefreshSlot,
}

impl TriggerAction {
    fn name(self) -> &'static str {
        match self {
            TriggerAction::Refresh => "refresh",
            TriggerAction::MarkStale => "mark_stale",
            TriggerAction::RefreshSlot => "refresh_slot",
        }
    }
}

/// Optional conditions on the matching event; all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerWhen {
    /// `page` of `page_view`, `scroll` or `pull_to_refresh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// `kind` of `feedback` (`dislike`, `like`, `report`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<FeedbackKind>,
    /// `name` of `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `topic` of `notification`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Inclusive lower bound on the event's number (`custom.value`,
    /// `scroll.dy_px`, `search.query_len`, `notification.importance`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Inclusive upper bound on the same number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// One trigger rule: an element of the config's `triggers` array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerRule {
    /// The event type it listens to (the trace contract's `type`).
    pub event: EventType,
    /// Conditions on that event.
    #[serde(default, skip_serializing_if = "is_default")]
    pub when: TriggerWhen,
    /// What it does.
    pub action: TriggerAction,
    /// Matching events within this many seconds of the last one that fired
    /// are ignored.
    #[serde(default)]
    pub debounce_s: f64,
    /// Deferred actions only: the stale mark waits at least this long before
    /// a decision point serves it, so a burst of hints (and any refresh that
    /// happens meanwhile) folds into one request.
    #[serde(default)]
    pub coalesce_s: f64,
}

/// A rule as written in the config file, its event type still a name: parsed
/// by [`parse`], so an unknown name is an error naming its index, never dropped.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTriggerRule {
    event: String,
    #[serde(default)]
    when: TriggerWhen,
    action: TriggerAction,
    #[serde(default)]
    debounce_s: f64,
    #[serde(default)]
    coalesce_s: f64,
}

/// Parses the config's rules and checks them ([`validate`]); the first problem
/// is an error naming its index and field.
pub(crate) fn parse(raw: Vec<RawTriggerRule>) -> Result<Vec<TriggerRule>, TriggerError> {
    let rules = raw
        .into_iter()
        .enumerate()
        .map(|(index, r)| {
            let Some(event) = EventType::from_name(&r.event) else {
                let known: Vec<&str> = EventType::ALL.iter().map(|t| t.name()).collect();
                let hint = EventType::closest(&r.event).map_or(String::new(), |t| {
                    format!(" (did you mean {:?}?)", t.name())
                });
                return Err(TriggerError {
                    index,
                    field: "event",
                    why: format!(
                        "unknown event type {:?}{hint}; expected one of {}",
                        r.event,
                        known.join(", ")
                    ),
                });
            };
            Ok(TriggerRule {
                event,
                when: r.when,
                action: r.action,
                debounce_s: r.debounce_s,
                coalesce_s: r.coalesce_s,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    validate(&rules)?;
    Ok(rules)
}

fn is_default(w: &TriggerWhen) -> bool {
    *w == TriggerWhen::default()
}

/// A trigger rule that cannot work, with the field named
/// (`triggers[<i>].<field>`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("triggers[{index}].{field}: {why}")]
pub struct TriggerError {
    /// Position in the `triggers` array.
    pub index: usize,
    /// The offending field.
    pub field: &'static str,
    /// What it must be.
    pub why: String,
}

/// The built-in rules used when the config has no `triggers` key:
/// pull-to-refresh refreshes (debounced 2 s), a dislike refreshes the
/// affected slot at the next view (at most one every 2 minutes), and server
/// notifications mark the content stale, coalesced over 10 minutes.
pub fn default_triggers() -> Vec<TriggerRule> {
    vec![
        TriggerRule {
            event: EventType::PullToRefresh,
            when: TriggerWhen::default(),
            action: TriggerAction::Refresh,
            debounce_s: 2.0,
            coalesce_s: 0.0,
        },
        TriggerRule {
            event: EventType::Feedback,
            when: TriggerWhen {
                kind: Some(FeedbackKind::Dislike),
                ..TriggerWhen::default()
            },
            action: TriggerAction::RefreshSlot,
            debounce_s: 120.0,
            coalesce_s: 0.0,
        },
        TriggerRule {
            event: EventType::Notification,
            when: TriggerWhen::default(),
            action: TriggerAction::MarkStale,
            debounce_s: 0.0,
            coalesce_s: 600.0,
        },
    ]
}

/// Checks every rule; the first problem is returned with its index and field.
pub fn validate(rules: &[TriggerRule]) -> Result<(), TriggerError> {
    for (index, r) in rules.iter().enumerate() {
        let err = |field, why: String| Err(TriggerError { index, field, why });
        let ty = r.event;
        for (field, v) in [("debounce_s", r.debounce_s), ("coalesce_s", r.coalesce_s)] {
            if let Some(why) = crate::limits::bad_duration(v) {
                return err(field, why);
            }
        }
        if r.action == TriggerAction::Refresh && r.coalesce_s > 0.0 {
            return err(
                "coalesce_s",
                "applies to deferred actions (mark_stale, refresh_slot), not refresh".into(),
            );
        }
        let w = &r.when;
        let allowed = |field: &'static str, ok: bool, types: &str| {
            if ok {
                Ok(())
            } else {
                Err(TriggerError {
                    index,
                    field,
                    why: format!("applies to {types} events, not {}", r.event.name()),
                })
            }
        };
        use EventType as T;
        allowed(
            "when.page",
            w.page.is_none() || matches!(ty, T::PageView | T::Scroll | T::PullToRefresh),
            "page_view, scroll or pull_to_refresh",
        )?;
        allowed(
            "when.kind",
            w.kind.is_none() || ty == T::Feedback,
            "feedback",
        )?;
        allowed("when.name", w.name.is_none() || ty == T::Custom, "custom")?;
        allowed(
            "when.topic",
            w.topic.is_none() || ty == T::Notification,
            "notification",
        )?;
        let numeric = matches!(ty, T::Custom | T::Scroll | T::Search | T::Notification);
        allowed(
            "when.min",
            w.min.is_none() || numeric,
            "custom, scroll, search or notification",
        )?;
        allowed(
            "when.max",
            w.max.is_none() || numeric,
            "custom, scroll, search or notification",
        )?;
        for (field, v) in [("when.min", w.min), ("when.max", w.max)] {
            if v.is_some_and(|v| !v.is_finite()) {
                return err(field, "must be a finite number".into());
            }
        }
        if let (Some(lo), Some(hi)) = (w.min, w.max) {
            if lo > hi {
                return err(
                    "when.max",
                    format!("must be at least when.min ({lo}), got {hi}"),
                );
            }
        }
        if r.action == TriggerAction::RefreshSlot && ty != T::Feedback && ty != T::Click {
            return err(
                "action",
                format!(
                    "{} needs an event that names an item (feedback or click), not {}",
                    r.action.name(),
                    r.event.name()
                ),
            );
        }
    }
    Ok(())
}

/// A rule compiled for matching: the type resolved, times in ms.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Compiled {
    ty: EventType,
    rule: TriggerRule,
    debounce_ms: i64,
    coalesce_ms: i64,
}

/// What a matched event asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fired {
    /// The event type (the decision's `trigger:<type>` reason).
    pub ty: EventType,
    /// The action.
    pub action: TriggerAction,
    /// For deferred actions: the earliest time a decision point may serve it.
    pub not_before_ms: i64,
}

/// The compiled rules and their debounce state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Triggers {
    /// Settings: the compiled rules.
    rules: Vec<Compiled>,
    state: TriggerState,
}

/// What the triggers remember: when each rule last fired, and how many
/// matching events a debounce window ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TriggerState {
    last_fired_ms: Vec<Option<i64>>,
    debounced: u64,
}

impl Triggers {
    /// Compiles validated rules, one for one.
    pub(crate) fn new(rules: &[TriggerRule]) -> Triggers {
        let ms = |s: f64| (s * 1000.0).round() as i64;
        Triggers {
            rules: rules
                .iter()
                .map(|r| Compiled {
                    ty: r.event,
                    rule: r.clone(),
                    debounce_ms: ms(r.debounce_s),
                    coalesce_ms: ms(r.coalesce_s),
                })
                .collect(),
            state: TriggerState {
                last_fired_ms: vec![None; rules.len()],
                debounced: 0,
            },
        }
    }

    /// Matching events ignored by a debounce window.
    pub(crate) fn debounced(&self) -> u64 {
        self.state.debounced
    }

    /// The first rule the event (of type `ty`) matches, if it is not debounced.
    pub(crate) fn fire(&mut self, now_ms: i64, ty: EventType, event: &EventKind) -> Option<Fired> {
        let i = self
            .rules
            .iter()
            .position(|c| c.ty == ty && matches(&c.rule.when, event))?;
        let (c, last) = (&self.rules[i], &mut self.state.last_fired_ms[i]);
        if last.is_some_and(|t| now_ms - t < c.debounce_ms) {
            self.state.debounced += 1;
            return None;
        }
        *last = Some(now_ms);
        Some(Fired {
            ty,
            action: c.rule.action,
            not_before_ms: now_ms + c.coalesce_ms,
        })
    }
}

fn matches(w: &TriggerWhen, event: &EventKind) -> bool {
    let page = match event {
        EventKind::PageView { page }
        | EventKind::Scroll { page, .. }
        | EventKind::PullToRefresh { page } => Some(page.as_str()),
        _ => None,
    };
    let number = match event {
        EventKind::Custom { value, .. } => *value,
        EventKind::Scroll { dy_px, .. } => Some(*dy_px),
        EventKind::Search { query_len } => query_len.map(f64::from),
        EventKind::Notification { importance, .. } => *importance,
        _ => None,
    };
    let eq =
        |want: &Option<String>, got: Option<&str>| want.as_deref().is_none_or(|w| got == Some(w));
    eq(&w.page, page)
        && w.kind
            .is_none_or(|k| matches!(event, EventKind::Feedback { kind, .. } if *kind == k))
        && eq(
            &w.name,
            match event {
                EventKind::Custom { name, .. } => Some(name.as_str()),
                _ => None,
            },
        )
        && eq(
            &w.topic,
            match event {
                EventKind::Notification { topic, .. } => Some(topic.as_str()),
                _ => None,
            },
        )
        && w.min.is_none_or(|lo| number.is_some_and(|v| v >= lo))
        && w.max.is_none_or(|hi| number.is_some_and(|v| v <= hi))
}

impl Persist for Triggers {
    type State = TriggerState;

    fn save_state(&self) -> TriggerState {
        self.state.clone()
    }

    fn restore_state(&mut self, state: TriggerState) -> Result<(), StateError> {
        if state.last_fired_ms.len() != self.rules.len() {
            return Err(StateError::Size {
                component: "triggers",
                what: "rules",
                got: state.last_fired_ms.len(),
                want: self.rules.len(),
            });
        }
        self.state = state;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire(t: &mut Triggers, now_ms: i64, e: &EventKind) -> Option<Fired> {
        t.fire(now_ms, e.event_type(), e)
    }

    fn rule(json: &str) -> TriggerRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_are_valid() {
        validate(&default_triggers()).unwrap();
    }

    #[test]
    fn bad_rules_name_the_field() {
        let cases = [
            (
                r#"{"event":"teleport","action":"refresh"}"#,
                "triggers[0].event",
            ),
            (
                r#"{"event":"feedback","action":"refresh","debounce_s":-1}"#,
                "triggers[0].debounce_s",
            ),
            (
                r#"{"event":"notification","when":{"kind":"dislike"},"action":"mark_stale"}"#,
                "triggers[0].when.kind",
            ),
            (
                r#"{"event":"custom","when":{"min":5,"max":1},"action":"refresh"}"#,
                "triggers[0].when.max",
            ),
            (
                r#"{"event":"notification","action":"refresh_slot"}"#,
                "triggers[0].action",
            ),
            (
                r#"{"event":"pull_to_refresh","action":"refresh","coalesce_s":3}"#,
                "triggers[0].coalesce_s",
            ),
        ];
        for (json, field) in cases {
            let raw: RawTriggerRule = serde_json::from_str(json).unwrap();
            let e = parse(vec![raw]).unwrap_err().to_string();
            assert!(e.starts_with(field), "{json}: {e}");
        }
    }

    #[test]
    fn conditions_and_debounce() {
        let mut t = Triggers::new(&[
            rule(
                r#"{"event":"custom","when":{"name":"cart_add","min":1},"action":"refresh","debounce_s":10}"#,
            ),
            rule(
                r#"{"event":"notification","when":{"topic":"feed"},"action":"mark_stale","coalesce_s":60}"#,
            ),
        ]);
        let custom = |name: &str, value| EventKind::Custom {
            name: name.into(),
            value,
        };
        assert_eq!(fire(&mut t, 0, &custom("share", Some(3.0))), None);
        assert_eq!(fire(&mut t, 0, &custom("cart_add", Some(0.5))), None);
        assert_eq!(fire(&mut t, 0, &custom("cart_add", None)), None);
        let f = fire(&mut t, 1_000, &custom("cart_add", Some(2.0))).unwrap();
        assert_eq!(
            (f.ty, f.action),
            (EventType::Custom, TriggerAction::Refresh)
        );
        assert_eq!(fire(&mut t, 10_999, &custom("cart_add", Some(2.0))), None);
        assert_eq!(t.debounced(), 1);
        assert!(fire(&mut t, 11_000, &custom("cart_add", Some(2.0))).is_some());
        let note = |topic: &str| EventKind::Notification {
            topic: topic.into(),
            importance: None,
        };
        assert_eq!(fire(&mut t, 0, &note("promo")), None);
        let f = fire(&mut t, 5_000, &note("feed")).unwrap();
        assert_eq!(
            (f.action, f.not_before_ms),
            (TriggerAction::MarkStale, 65_000)
        );
    }

    #[test]
    fn a_server_hint_lets_meaningful_pushes_refresh_and_routine_ones_coalesce() {
        let rules: Vec<TriggerRule> = serde_json::from_str(
            r#"[{"event":"notification","when":{"min":0.8},"action":"refresh"},
                {"event":"notification","action":"mark_stale","coalesce_s":600}]"#,
        )
        .unwrap();
        validate(&rules).unwrap();
        let mut t = Triggers::new(&rules);
        let note = |importance| EventKind::Notification {
            topic: "feed".into(),
            importance,
        };
        let action = |t: &mut Triggers, ms, e| fire(t, ms, &e).map(|f| f.action);
        assert_eq!(
            action(&mut t, 1_000, note(Some(0.9))),
            Some(TriggerAction::Refresh)
        );
        assert_eq!(
            action(&mut t, 2_000, note(Some(0.3))),
            Some(TriggerAction::MarkStale)
        );
        // No hint: routine.
        assert_eq!(
            action(&mut t, 3_000, note(None)),
            Some(TriggerAction::MarkStale)
        );
        // A bound on importance is refused where the event has none.
        let bad: TriggerRule =
            serde_json::from_str(r#"{"event":"click","when":{"min":1},"action":"refresh"}"#)
                .unwrap();
        assert!(validate(&[bad])
            .unwrap_err()
            .to_string()
            .contains("notification"));
    }
}
