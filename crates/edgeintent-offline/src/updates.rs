//! Rehearsing a roll-out offline: update packages applied at given times of
//! a replay (`replay --updates`, `evaluate --updates`).

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use edgeintent::{Runtime, UpdateOutcome};

/// One line of an updates file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    ts_ms: i64,
    package: String,
}

#[derive(Debug, Clone)]
struct Scheduled {
    ts_ms: i64,
    name: String,
    bytes: Arc<[u8]>,
}

/// Update packages to apply during a replay, in time order.
#[derive(Debug, Clone, Default)]
pub struct UpdateSchedule {
    entries: Vec<Scheduled>,
}

/// What one scheduled update did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateRecord {
    /// When it was applied (before the first event at or after this time).
    pub ts_ms: i64,
    /// The package file.
    pub package: String,
    /// `applied <version>`, `rolled back`, `kept: arm <arm>`, or `refused`.
    pub outcome: String,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl UpdateSchedule {
    /// Reads an updates file: JSON Lines of `{"ts_ms": …, "package": "FILE.eiu"}`,
    /// package paths relative to the file's folder. Lines may come in any
    /// order; updates at the same time apply in file order.
    pub fn from_file(path: &Path) -> Result<UpdateSchedule, Error> {
        let io = |p: &Path, why: String| Error::Io {
            path: p.display().to_string(),
            why,
        };
        let text = std::fs::File::open(path).map_err(|e| io(path, e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut entries = Vec::new();
        for (i, line) in std::io::BufReader::new(text).lines().enumerate() {
            let line = line.map_err(|e| io(path, e.to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            let l: Line = serde_json::from_str(&line).map_err(|e| {
                io(
                    path,
                    format!(
                        "line {}: {e} (expected {{\"ts_ms\": …, \"package\": \"FILE.eiu\"}})",
                        i + 1
                    ),
                )
            })?;
            let file = base.join(&l.package);
            let bytes =
                edgeintent::update::read_package(&file).map_err(|e| io(&file, e.to_string()))?;
            entries.push(Scheduled {
                ts_ms: l.ts_ms,
                name: l.package,
                bytes: bytes.into(),
            });
        }
        entries.sort_by_key(|e| e.ts_ms);
        Ok(UpdateSchedule { entries })
    }

    /// Whether it holds no update.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The arms of every staged roll-out it holds, in first-seen order (from
    /// the manifests, unverified: the runtime verifies when it applies them).
    pub fn arms(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in &self.entries {
            let Ok(m) = edgeintent::update::read_manifest_unverified(&e.bytes) else {
                continue;
            };
            for a in m.rollout.iter().flat_map(|r| &r.arms) {
                if !out.contains(&a.name) {
                    out.push(a.name.clone());
                }
            }
        }
        out
    }

    pub(crate) fn cursor(&self) -> UpdateCursor<'_> {
        UpdateCursor {
            schedule: self,
            next: 0,
            log: Vec::new(),
        }
    }
}

/// How far a replay has got through a schedule.
pub(crate) struct UpdateCursor<'a> {
    schedule: &'a UpdateSchedule,
    next: usize,
    pub(crate) log: Vec<UpdateRecord>,
}

impl UpdateCursor<'_> {
    /// Applies every update due by `now_ms`, before the event at that time.
    pub(crate) fn apply_due(&mut self, rt: &mut Runtime, now_ms: i64) {
        while let Some(e) = self
            .schedule
            .entries
            .get(self.next)
            .filter(|e| e.ts_ms <= now_ms)
        {
            self.next += 1;
            let (outcome, error) = match rt.update(&e.bytes) {
                Ok(UpdateOutcome::Applied { version, .. }) => (format!("applied {version}"), None),
                Ok(UpdateOutcome::RolledBack { .. }) => ("rolled back".to_owned(), None),
                Ok(UpdateOutcome::NotInArm { arm, .. }) => (format!("kept: arm {arm}"), None),
                Ok(other) => (format!("{other:?}"), None),
                Err(err) => ("refused".to_owned(), Some(err.to_string())),
            };
            self.log.push(UpdateRecord {
                ts_ms: e.ts_ms,
                package: e.name.clone(),
                outcome,
                error,
            });
        }
    }
}
