//! Decisions: what the runtime tells the app to do, and who decided it (the
//! decision contract, `docs/contracts.md`). Plain `Copy` values, so emitting one
//! allocates nothing; JSON exists only when a host asks for it.

use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::event::EventType;
use crate::monitor::MonitorKind;

/// One decision: at `ts_ms`, do `action`, because of `reason`.
///
/// A `show` decision names its slot by index; [`crate::Runtime::decision_json`]
/// writes the slot's name and items.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Event time the decision was made at (ms since the Unix epoch, device clock).
    pub ts_ms: i64,
    /// What the app should do.
    pub action: Action,
    /// Who decided.
    pub reason: Reason,
    /// The model's score, when the model was consulted.
    pub score: Option<f32>,
    /// For `show` and slot refreshes: which slot (the runtime's slot index).
    pub slot: Option<u16>,
    /// For `fetch_card` / `reclaim_card`: which fence (its index in the config).
    pub fence: Option<u32>,
    /// For `set_location_interval`: seconds until the next fix is due.
    pub interval_s: Option<f32>,
    /// Which config and model were in force: the runtime's update generation
    /// (0 until the first live update); [`crate::Runtime::decision_json`]
    /// writes their version labels.
    pub generation: u32,
    /// For `refresh` decisions with `context.enabled`: the number of the
    /// context recorded for the cloud ranker ([`crate::Runtime::decision_json`]
    /// writes it).
    pub context: Option<u32>,
    /// For `alert` decisions: which monitor, its value and its threshold.
    pub alert: Option<AlertDetail>,
}

/// What an `alert` decision reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertDetail {
    /// The monitor's index (its name is in [`crate::Runtime::decision_json`]).
    pub monitor: u32,
    /// Its value when it crossed.
    pub value: f32,
    /// The threshold it crossed.
    pub threshold: f32,
}

/// What the app should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Ask the cloud for fresh recommendations.
    Refresh,
    /// Show a slot's de-duplicated list.
    Show,
    /// Fetch a point of interest's service card (a fence was entered).
    FetchCard,
    /// Take the card away again (the fence was left).
    ReclaimCard,
    /// Ask the server for a new coverage circle (the device left the old one).
    RequestCoverage,
    /// Deliver the next location fix after `interval_s` seconds.
    SetLocationInterval,
    /// A monitor crossed its threshold: tell whoever watches the fleet.
    Alert,
}

impl Action {
    /// Every action, in a stable order.
    pub const ALL: [Action; 7] = [
        Action::Refresh,
        Action::Show,
        Action::FetchCard,
        Action::ReclaimCard,
        Action::RequestCoverage,
        Action::SetLocationInterval,
        Action::Alert,
    ];

    /// The contract's name for the action.
    pub fn name(self) -> &'static str {
        match self {
            Action::Refresh => "refresh",
            Action::Show => "show",
            Action::FetchCard => "fetch_card",
            Action::ReclaimCard => "reclaim_card",
            Action::RequestCoverage => "request_coverage",
            Action::SetLocationInterval => "set_location_interval",
            Action::Alert => "alert",
        }
    }
}

/// Who decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The model's score passed the threshold.
    Model,
    /// An explicit user event forced it (`trigger:<event type>`).
    Trigger(EventType),
    /// The content was older than the maximum staleness.
    Staleness,
    /// The model is unavailable, so the rules decided (`fallback:<cause>`).
    Fallback(FallbackCause),
    /// The cross-slot arbiter resolved a slot's list.
    Dedup,
    /// A fence was entered (`geofence:enter:<fence id>` in JSON).
    GeofenceEnter,
    /// A fence was left (`geofence:exit:<fence id>` in JSON).
    GeofenceExit,
    /// The device left the coverage circle (`coverage:exit`).
    CoverageExit,
    /// The location sampling interval changed (`sampling`).
    Sampling,
    /// A monitor crossed its threshold (`monitor:<kind>:<name>` in JSON).
    Monitor(MonitorKind),
}

/// Why the rules decided instead of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FallbackCause {
    /// No model is configured or it failed to load.
    NoModel,
    /// The model failed on this call.
    ModelError,
    /// A monitor's alert stands, so the model is set aside (`fallback:monitor`).
    Monitor,
}

/// Number of distinct reasons (see [`Reason::index`]).
pub(crate) const REASON_COUNT: usize = 10 + EventType::ALL.len() + MonitorKind::ALL.len();

impl Reason {
    /// The contract's text for the reason, e.g. `trigger:pull_to_refresh`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Model => "model",
            Reason::Staleness => "staleness",
            Reason::Fallback(FallbackCause::NoModel) => "fallback:no_model",
            Reason::Fallback(FallbackCause::ModelError) => "fallback:model_error",
            Reason::Fallback(FallbackCause::Monitor) => "fallback:monitor",
            Reason::Monitor(k) => k.reason(),
            Reason::Dedup => "dedup",
            Reason::GeofenceEnter => "geofence:enter",
            Reason::GeofenceExit => "geofence:exit",
            Reason::CoverageExit => "coverage:exit",
            Reason::Sampling => "sampling",
            Reason::Trigger(t) => match t {
                EventType::AppForeground => "trigger:app_foreground",
                EventType::AppBackground => "trigger:app_background",
                EventType::PageView => "trigger:page_view",
                EventType::Scroll => "trigger:scroll",
                EventType::Exposure => "trigger:exposure",
                EventType::Click => "trigger:click",
                EventType::PullToRefresh => "trigger:pull_to_refresh",
                EventType::Feedback => "trigger:feedback",
                EventType::Search => "trigger:search",
                EventType::Location => "trigger:location",
                EventType::Notification => "trigger:notification",
                EventType::Recommendations => "trigger:recommendations",
                EventType::Custom => "trigger:custom",
            },
        }
    }

    /// Dense index in `0..REASON_COUNT`, for counters.
    pub(crate) fn index(self) -> usize {
        match self {
            Reason::Model => 0,
            Reason::Staleness => 1,
            Reason::Fallback(FallbackCause::NoModel) => 2,
            Reason::Fallback(FallbackCause::ModelError) => 3,
            Reason::Dedup => 4,
            Reason::GeofenceEnter => 5,
            Reason::GeofenceExit => 6,
            Reason::CoverageExit => 7,
            Reason::Sampling => 8,
            Reason::Trigger(t) => 9 + t.index(),
            Reason::Fallback(FallbackCause::Monitor) => 9 + EventType::ALL.len(),
            Reason::Monitor(k) => 10 + EventType::ALL.len() + k.index(),
        }
    }

    /// Inverse of [`Reason::index`].
    pub(crate) fn from_index(i: usize) -> Option<Reason> {
        Some(match i {
            0 => Reason::Model,
            1 => Reason::Staleness,
            2 => Reason::Fallback(FallbackCause::NoModel),
            3 => Reason::Fallback(FallbackCause::ModelError),
            4 => Reason::Dedup,
            5 => Reason::GeofenceEnter,
            6 => Reason::GeofenceExit,
            7 => Reason::CoverageExit,
            8 => Reason::Sampling,
            i if i < 9 + EventType::ALL.len() => Reason::Trigger(EventType::ALL[i - 9]),
            i if i == 9 + EventType::ALL.len() => Reason::Fallback(FallbackCause::Monitor),
            i => Reason::Monitor(*MonitorKind::ALL.get(i - 10 - EventType::ALL.len())?),
        })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Decision {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ts_ms", &self.ts_ms)?;
        m.serialize_entry("action", self.action.name())?;
        m.serialize_entry("reason", self.reason.as_str())?;
        if let Some(score) = self.score {
            // Six decimals: enough to compare runs, short enough to read.
            m.serialize_entry("score", &((f64::from(score) * 1e6).round() / 1e6))?;
        }
        if let Some(s) = self.slot {
            m.serialize_entry("slot", &s)?;
        }
        if let Some(f) = self.fence {
            m.serialize_entry("fence", &f)?;
        }
        if let Some(v) = self.interval_s {
            m.serialize_entry("interval_s", &((f64::from(v) * 10.0).round() / 10.0))?;
        }
        if let Some(a) = self.alert {
            m.serialize_entry("monitor", &a.monitor)?;
            m.serialize_entry("value", &((f64::from(a.value) * 1e4).round() / 1e4))?;
            m.serialize_entry("threshold", &((f64::from(a.threshold) * 1e4).round() / 1e4))?;
        }
        m.end()
    }
}

impl Decision {
    /// A decision with only its time, action and reason; the optional
    /// fields are empty and the runtime stamps the generation.
    pub fn new(ts_ms: i64, action: Action, reason: Reason) -> Decision {
        Decision {
            ts_ms,
            action,
            reason,
            score: None,
            slot: None,
            fence: None,
            interval_s: None,
            generation: 0,
            context: None,
            alert: None,
        }
    }

    /// One line of the decision contract, e.g.
    /// `{"ts_ms":5,"action":"refresh","reason":"model","score":0.91}`. Slots and
    /// fences appear as indices here; [`crate::Runtime::decision_json`] writes
    /// their names (and `geofence:enter:<id>` reasons).
    pub fn to_json(&self) -> String {
        // Serialising this map of plain values cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_have_contract_names_and_round_trip_their_index() {
        for i in 0..REASON_COUNT {
            let r = Reason::from_index(i).unwrap();
            assert_eq!(r.index(), i);
        }
        assert!(Reason::from_index(REASON_COUNT).is_none());
        assert_eq!(
            Reason::Trigger(EventType::PullToRefresh).as_str(),
            "trigger:pull_to_refresh"
        );
    }

    #[test]
    fn decision_json_matches_the_contract() {
        let d = Decision {
            ts_ms: 42,
            action: Action::Refresh,
            reason: Reason::Model,
            score: Some(0.8125),
            slot: None,
            fence: None,
            interval_s: None,
            generation: 0,
            context: None,
            alert: None,
        };
        assert_eq!(
            d.to_json(),
            r#"{"ts_ms":42,"action":"refresh","reason":"model","score":0.8125}"#
        );
        let d = Decision {
            score: None,
            reason: Reason::Staleness,
            ..d
        };
        assert_eq!(
            d.to_json(),
            r#"{"ts_ms":42,"action":"refresh","reason":"staleness"}"#
        );
    }
}
