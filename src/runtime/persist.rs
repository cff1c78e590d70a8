//! Persistence: the runtime's snapshot is the states of its components.

use serde::Serialize;

use super::Runtime;
use crate::features::FeatureState;
use crate::geo::Geo;
use crate::snapshot::SnapshotError;

/// What a snapshot holds (see [`Runtime::snapshot`]).
#[derive(Serialize, serde::Deserialize)]
struct SavedState {
    features: FeatureState,
    gate: crate::policy::GateState,
    triggers: (Vec<Option<i64>>, u64),
    arbiter: Vec<crate::dedup::Slot>,
    geo: Option<crate::geo::GeoState>,
    newest_ms: Option<i64>,
    next_tick_ms: Option<i64>,
}

impl Runtime {
    /// Identifies the configuration a snapshot's state is shaped by: the
    /// feature spec, the triggers, the dedup settings, the budget and the fences.
    fn fingerprint(&self) -> u64 {
        let c = &self.config;
        let fences: Vec<&str> = c
            .geofence
            .iter()
            .flat_map(|g| g.fences.iter().map(|f| f.id.as_str()))
            .collect();
        let key = serde_json::json!([
            c.features.hash(),
            c.triggers,
            c.dedup,
            c.policy.budget_per_hour,
            fences,
        ]);
        crate::features::fnv1a64(key.to_string().as_bytes())
    }

    /// The state that survives an app restart, as snapshot bytes: features,
    /// policy timers, trigger debounce, the dedup lists and geofence states
    /// (not queued events, counters or a recurrent model's hidden state).
    /// Call [`Runtime::pump`] first to include events still in the channel.
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        crate::snapshot::encode(
            &SavedState {
                features: self.features.clone(),
                gate: self.gate.export(),
                triggers: self.triggers.export(),
                arbiter: self.arbiter.export(),
                geo: self.geo.as_ref().map(Geo::export),
                newest_ms: self.newest_ms,
                next_tick_ms: self.next_tick_ms,
            },
            self.fingerprint(),
        )
    }

    /// Restores state saved by [`Runtime::snapshot`]. Any problem (truncated,
    /// corrupt, another format version or configuration) is an error and
    /// leaves the runtime exactly as it was.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let payload = crate::snapshot::open(bytes, self.fingerprint())?;
        let s: SavedState = crate::snapshot::decode_payload(payload)?;
        if !s
            .features
            .same_shape(&FeatureState::new(&self.config.features))
        {
            return Err(SnapshotError::Invalid(
                "feature state does not fit the feature spec".into(),
            ));
        }
        // Everything is checked on copies first, so a failure changes nothing.
        let invalid = SnapshotError::Invalid;
        let mut gate = self.gate.clone();
        gate.import(s.gate).map_err(invalid)?;
        let mut triggers = self.triggers.clone();
        triggers.import(s.triggers).map_err(invalid)?;
        let mut arbiter = self.arbiter.clone();
        arbiter.import(s.arbiter).map_err(invalid)?;
        let geo = match (self.geo.as_ref(), s.geo) {
            (Some(g), Some(state)) => {
                let mut g = g.clone();
                g.import(state).map_err(invalid)?;
                Some(g)
            }
            (None, None) => None,
            _ => return Err(SnapshotError::ConfigMismatch),
        };
        self.features = s.features;
        self.gate = gate;
        self.triggers = triggers;
        self.arbiter = arbiter;
        self.geo = geo;
        self.newest_ms = s.newest_ms;
        self.next_tick_ms = s.next_tick_ms;
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
