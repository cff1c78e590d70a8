//! Decisions as lines of the decision contract, with names in place of indices.

use serde::Serialize;

use super::state::Runtime;
use crate::decision::{Action, Decision};

impl Runtime {
    /// A decision as one line of the decision contract, with names in place
    /// of indices: `show` decisions get their slot's name and current items,
    /// slot refreshes the slot's name, fence decisions the fence id (also in
    /// the reason, `geofence:enter:<id>`). With `updates` configured, every
    /// line also carries the `version` in force when it was decided; with
    /// `context.enabled`, `refresh` lines carry their `context` for the cloud
    /// ranker (at most [`crate::context::MAX_CONTEXT_BYTES`]).
    pub fn decision_json(&self, d: &Decision) -> String {
        let mut line = self.contract_json(d);
        let context = d.context.and_then(|c| self.contexts.get(c));
        if !self.updates.enabled() && context.is_none() {
            return line;
        }
        // Every line is a JSON object: reopen it for the extra fields.
        line.pop();
        if self.updates.enabled() {
            line.push_str(",\"version\":");
            line.push_str(&self.version_json(d.generation));
        }
        if let Some(c) = context {
            line.push_str(",\"context\":");
            c.write_json(self.config.context(), &mut line);
        }
        line.push('}');
        line
    }

    /// `{"config":…,"model":…}` with the arms of any roll-outs, for generation `g`.
    fn version_json(&self, g: u32) -> String {
        let Some(l) = self.updates.labels(g) else {
            return format!("{{\"generation\":{g}}}");
        };
        let mut m = serde_json::Map::new();
        m.insert("config".into(), l.config.version.clone().into());
        m.insert("model".into(), l.model.version.clone().into());
        if let Some(a) = &l.config.arm {
            m.insert("config_arm".into(), a.clone().into());
        }
        if let Some(a) = &l.model.arm {
            m.insert("model_arm".into(), a.clone().into());
        }
        serde_json::Value::Object(m).to_string()
    }

    /// The decision-contract fields alone.
    fn contract_json(&self, d: &Decision) -> String {
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
        if let Some(a) = d.alert {
            let name = self.monitor.as_ref().map_or("?", |m| m.name(a.monitor));
            let round = |v: f32| (f64::from(v) * 1e4).round() / 1e4;
            return serde_json::json!({
                "ts_ms": d.ts_ms,
                "action": d.action.name(),
                "reason": format!("{}:{name}", d.reason.as_str()),
                "value": round(a.value),
                "threshold": round(a.threshold),
            })
            .to_string();
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
