//! Persistence: the runtime's snapshot is the states of its components.

use serde::{Deserialize, Serialize};

use super::state::Runtime;
use crate::dedup::SlotArbiter;
use crate::features::FeatureState;
use crate::geo::Geo;
use crate::policy::RefreshGate;
use crate::snapshot::{Persist, SnapshotError, StateError};
use crate::triggers::Triggers;

/// What a snapshot holds (see [`Runtime::snapshot`]): the state of every
/// stateful component, never their settings, which come from the config.
#[derive(Serialize, Deserialize)]
struct SavedState {
    /// First, so it can be read from a snapshot of another configuration.
    versions: SavedVersions,
    features: <FeatureState as Persist>::State,
    gate: <RefreshGate as Persist>::State,
    triggers: <Triggers as Persist>::State,
    arbiter: <SlotArbiter as Persist>::State,
    geo: Option<<Geo as Persist>::State>,
    newest_ms: Option<i64>,
    next_tick_ms: Option<i64>,
    activity: crate::context::Activity,
    monitor: Option<crate::monitor::MonitorSaved>,
}

/// The config and model versions in force: (label, sequence) each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SavedVersions {
    config: (String, u64),
    model: (String, u64),
}

impl std::fmt::Display for SavedVersions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "config {} (sequence {}) and model {} (sequence {})",
            self.config.0, self.config.1, self.model.0, self.model.1
        )
    }
}

/// `component` with `state` installed, checked on a copy: on error the
/// original is untouched.
fn restored<C: Persist + Clone>(component: &C, state: C::State) -> Result<C, SnapshotError> {
    let mut c = component.clone();
    c.restore_state(state)?;
    Ok(c)
}

impl Runtime {
    /// Identifies the configuration a snapshot's state is shaped by: the
    /// feature spec, the triggers, the dedup settings, the budget and the fences.
    fn fingerprint(&self) -> u64 {
        let c = &self.config;
        let fences: Vec<&str> = c
            .geofence()
            .into_iter()
            .flat_map(|g| g.fences.iter().map(|f| f.id.as_str()))
            .collect();
        let key = serde_json::json!([
            c.features().hash(),
            c.triggers(),
            c.dedup(),
            c.policy().budget_per_hour,
            fences,
        ]);
        crate::hash::fnv1a64(key.to_string().as_bytes())
    }

    fn saved_versions(&self) -> SavedVersions {
        let v = self.versions();
        SavedVersions {
            config: (v.config.version, v.config.sequence),
            model: (v.model.version, v.model.sequence),
        }
    }

    /// The state that survives an app restart, as snapshot bytes: features,
    /// policy timers, trigger debounce, the dedup lists and geofence states
    /// (not queued events, counters or a recurrent model's hidden state).
    /// Call [`Runtime::pump`] first to include events still in the channel.
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        crate::snapshot::encode(
            &SavedState {
                versions: self.saved_versions(),
                features: self.features.save_state(),
                gate: self.gate.save_state(),
                triggers: self.triggers.save_state(),
                arbiter: self.arbiter.save_state(),
                geo: self.geo.as_ref().map(Geo::save_state),
                newest_ms: self.clock.newest_ms(),
                next_tick_ms: self.next_tick_ms,
                activity: self.activity,
                monitor: self.monitor.as_ref().map(|m| m.save()),
            },
            self.fingerprint(),
        )
    }

    /// Restores state saved by [`Runtime::snapshot`]. Any problem (truncated,
    /// corrupt, another format version or configuration) is an error and
    /// leaves the runtime exactly as it was.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let running = self.saved_versions();
        let payload = match crate::snapshot::open(bytes, self.fingerprint()) {
            Err(SnapshotError::ConfigMismatch) => {
                // Made under another update? Say which, rather than just "another config".
                let saved = crate::snapshot::open_any(bytes)
                    .and_then(crate::snapshot::decode_prefix::<SavedVersions>);
                return Err(match saved {
                    Ok(v) if v.config != running.config => SnapshotError::VersionMismatch {
                        snapshot: v.to_string(),
                        running: running.to_string(),
                    },
                    _ => SnapshotError::ConfigMismatch,
                });
            }
            other => other?,
        };
        let s: SavedState = crate::snapshot::decode_payload(payload)?;
        // The config in force shapes the state: one made under another
        // config version is refused even when its shape happens to fit.
        if s.versions.config != running.config {
            return Err(SnapshotError::VersionMismatch {
                snapshot: s.versions.to_string(),
                running: running.to_string(),
            });
        }
        // Timestamps from a file are input like any other: in range, or the
        // tick arithmetic could run away.
        for (what, ts) in [("newest_ms", s.newest_ms), ("next_tick_ms", s.next_tick_ms)] {
            if ts.is_some_and(|t| !crate::limits::ts_in_range(t)) {
                return Err(StateError::Impossible {
                    component: "runtime",
                    what,
                }
                .into());
            }
        }
        s.activity.check().map_err(|what| StateError::Impossible {
            component: "context",
            what,
        })?;
        // The monitors judge the model's scores against its own reference:
        // under another model they start over, and the runtime says so.
        let other_model = s.versions.model != running.model;
        if other_model {
            log::warn!(target: "edgeintent", "snapshot made under model {} (sequence {}) restored under model {} (sequence {}): features, timers and lists restored, the monitors start over", s.versions.model.0, s.versions.model.1, running.model.0, running.model.1);
        }
        let monitor = match (self.monitor.as_ref(), s.monitor) {
            (Some(_), Some(_)) if other_model => {
                super::state::monitor_for(&self.config, self.model.as_ref())
            }
            (Some(m), Some(saved)) => {
                let mut m = m.clone();
                m.restore(saved).map_err(|what| StateError::Impossible {
                    component: "monitor",
                    what,
                })?;
                Some(m)
            }
            (None, None) => None,
            _ => return Err(SnapshotError::ConfigMismatch),
        };
        // Everything is checked on copies first, so a failure changes nothing.
        let features = restored(&self.features, s.features)?;
        let gate = restored(&self.gate, s.gate)?;
        let triggers = restored(&self.triggers, s.triggers)?;
        let arbiter = restored(&self.arbiter, s.arbiter)?;
        let geo = match (self.geo.as_ref(), s.geo) {
            (Some(g), Some(state)) => Some(restored(g, state)?),
            (None, None) => None,
            _ => return Err(SnapshotError::ConfigMismatch),
        };
        self.features = features;
        self.gate = gate;
        self.triggers = triggers;
        self.arbiter = arbiter;
        self.geo = geo;
        self.clock.restore(s.newest_ms);
        self.next_tick_ms = s.next_tick_ms;
        self.activity = s.activity;
        self.monitor = monitor;
        self.counters.restored_under_other_model += u64::from(other_model);
        Ok(())
    }

    /// Writes [`Runtime::snapshot`] to `path` atomically (temporary file,
    /// fsync, rename): a crash leaves the previous snapshot intact.
    pub fn save_snapshot(&self, path: impl AsRef<std::path::Path>) -> Result<(), SnapshotError> {
        crate::snapshot::write_atomic(path.as_ref(), &self.snapshot()?, || Ok(()))
    }

    /// Reads and restores a snapshot file (see [`Runtime::restore`]).
    pub fn load_snapshot(
        &mut self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<(), SnapshotError> {
        let bytes = crate::snapshot::read(path.as_ref())?;
        self.restore(&bytes)
    }
}
