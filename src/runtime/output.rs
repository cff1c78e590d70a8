//! Decisions as lines of the decision contract, with names in place of indices.

use serde::Serialize;

use super::Runtime;
use crate::decision::{Action, Decision};

impl Runtime {
    /// A decision as one line of the decision contract, with names in place
    /// of indices: `show` decisions get their slot's name and current items,
    /// slot refreshes the slot's name, fence decisions the fence id (also in
    /// the reason, `geofence:enter:<id>`).
    pub fn decision_json(&self, d: &Decision) -> String {
        /// Field order of the decision contract.
        #[derive(Serialize)]
        struct Line<'a> {
            ts_ms: i64,
            action: &'static str,
            reason: std::borrow::Cow<'a, str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            slot: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            items: Option<Vec<&'a str>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            fence: Option<&'a str>,
        }
        let fence = d.fence.zip(self.geo.as_ref()).map(|(i, g)| g.fence_id(i));
        if d.slot.is_none() && fence.is_none() {
            return d.to_json();
        }
        let line = Line {
            ts_ms: d.ts_ms,
            action: d.action.name(),
            reason: match fence {
                Some(id) => format!("{}:{id}", d.reason.as_str()).into(),
                None => d.reason.as_str().into(),
            },
            slot: d.slot.map(|id| self.arbiter.slot_name(id)),
            items: (d.action == Action::Show)
                .then(|| d.slot.map(|id| self.arbiter.shown_by_id(id).collect()))
                .flatten(),
            fence,
        };
        // Serialising plain strings cannot fail.
        serde_json::to_string(&line).unwrap_or_default()
    }
}
