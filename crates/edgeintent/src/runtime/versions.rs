//! What a runtime knows about updates, apart from the runtime itself: the
//! versions in force and their history, the pinned keys, the update store,
//! the counters; and what an update's outcome is.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::update::{parse_app_version, Manifest, UpdateError, UpdateKind};

/// The label of what the app shipped with.
pub const SHIPPED: &str = "shipped";

/// Version labels kept for decisions not yet written.
pub(super) const HISTORY: usize = 16;

/// The version of one kind (config or model) in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInForce {
    /// The label of the version in force (`shipped` before any update).
    pub version: String,
    /// The highest update sequence accepted (0: none).
    pub sequence: u64,
    /// This device's arm in the latest staged roll-out it took part in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
    /// That roll-out's update version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<String>,
}

impl Default for VersionInForce {
    fn default() -> Self {
        VersionInForce {
            version: SHIPPED.into(),
            sequence: 0,
            arm: None,
            rollout: None,
        }
    }
}

/// Live-update counters and the versions in force (see [`crate::Runtime::stats`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateStats {
    /// Whether the config pins keys, so updates can be applied.
    pub enabled: bool,
    /// Bumped whenever a version or an arm changes; decisions carry it.
    pub generation: u32,
    /// The config in force.
    pub config: VersionInForce,
    /// The model in force.
    pub model: VersionInForce,
    /// Updates accepted (applied, rolled back, or kept for another arm).
    pub accepted: u64,
    /// Updates refused.
    pub refused: u64,
    /// Why the last refused update was refused.
    pub last_error: Option<String>,
}

/// What an accepted update did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpdateOutcome {
    /// The update is in force.
    Applied {
        /// What it replaced.
        kind: UpdateKind,
        /// Its version label.
        version: String,
    },
    /// The version the app shipped with is back in force.
    RolledBack {
        /// What was rolled back.
        kind: UpdateKind,
    },
    /// A staged roll-out whose arm for this user keeps the running version
    /// (the arm is reported in stats and decisions).
    NotInArm {
        /// The update's kind.
        kind: UpdateKind,
        /// Its version label.
        version: String,
        /// This user's arm.
        arm: String,
    },
}

/// Version labels of one generation, for decision lines.
#[derive(Debug, Clone)]
pub(crate) struct Labels {
    pub(crate) config: VersionInForce,
    pub(crate) model: VersionInForce,
}

/// Everything a runtime knows about updates.
pub(crate) struct Updates {
    pub(super) keys: Vec<VerifyingKey>,
    pub(super) dir: Option<PathBuf>,
    pub(super) app_version: Option<(String, Vec<u32>)>,
    pub(super) user_id: Option<String>,
    pub(super) forced_arm: Option<String>,
    pub(super) without_model: bool,
    pub(super) shipped: Config,
    pub(super) config: VersionInForce,
    pub(super) model: VersionInForce,
    /// The model package in force, kept so a config update can reload it.
    pub(super) model_bytes: Option<Arc<[u8]>>,
    pub(super) accepted: u64,
    pub(super) refused: u64,
    pub(super) last_error: Option<String>,
    pub(super) history: VecDeque<(u32, Labels)>,
}

impl Updates {
    /// The arm this device was put in by `RuntimeBuilder::force_arm`.
    pub(crate) fn forced_arm(&self) -> Option<&str> {
        self.forced_arm.as_deref()
    }

    /// Whether the runtime was built to ignore models.
    pub(crate) fn without_model(&self) -> bool {
        self.without_model
    }

    /// The config the runtime was built with, before any update.
    pub(crate) fn shipped(&self) -> &Config {
        &self.shipped
    }

    pub(crate) fn new(
        shipped: &Config,
        user_id: Option<String>,
        forced_arm: Option<String>,
        without_model: bool,
    ) -> Updates {
        let u = shipped.updates();
        let mut history = VecDeque::with_capacity(HISTORY);
        history.push_back((
            0,
            Labels {
                config: VersionInForce::default(),
                model: VersionInForce::default(),
            },
        ));
        Updates {
            keys: u.map(|u| u.keys()).unwrap_or_default(),
            dir: u.and_then(|u| u.dir.clone()),
            app_version: u
                .and_then(|u| u.app_version.clone())
                .and_then(|v| parse_app_version(&v).ok().map(|p| (v, p))),
            user_id,
            forced_arm,
            without_model,
            shipped: shipped.clone(),
            config: VersionInForce::default(),
            model: VersionInForce::default(),
            model_bytes: None,
            accepted: 0,
            refused: 0,
            last_error: None,
            history,
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The labels of generation `g`, while still kept.
    pub(crate) fn labels(&self, g: u32) -> Option<&Labels> {
        self.history.iter().find(|(n, _)| *n == g).map(|(_, l)| l)
    }

    pub(super) fn state(&mut self, kind: UpdateKind) -> &mut VersionInForce {
        match kind {
            UpdateKind::Config => &mut self.config,
            UpdateKind::Model => &mut self.model,
        }
    }

    pub(super) fn file(&self, kind: UpdateKind, seen: bool) -> Option<PathBuf> {
        let name = match seen {
            false => format!("{}.eiu", kind.name()),
            true => format!("{}.seen.eiu", kind.name()),
        };
        self.dir.as_ref().map(|d| d.join(name))
    }

    /// Keeps an accepted package for the next start: the one in force, or
    /// (`seen`) one this device's arm does not apply.
    pub(super) fn store(&self, m: &Manifest, bytes: &[u8], seen: bool) -> Result<(), UpdateError> {
        let Some(path) = self.file(m.kind, seen) else {
            return Ok(());
        };
        let err = |path: &Path, why: String| UpdateError::Store {
            version: m.version.clone(),
            path: path.to_owned(),
            why,
        };
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|e| err(d, e.to_string()))?;
        }
        crate::snapshot::write_atomic(&path, bytes, || Ok(()))
            .map_err(|e| err(&path, e.to_string()))?;
        if !seen {
            // A package in force supersedes one kept for another arm.
            if let Some(p) = self.file(m.kind, true) {
                match std::fs::remove_file(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(err(&p, e.to_string()))
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}
