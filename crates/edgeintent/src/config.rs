//! The runtime config file: one JSON document naming the model, the feature
//! spec and the policy settings. Parsed and validated once, into plain structs;
//! relative paths resolve against the config file's folder.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::context::ContextConfig;
use crate::dedup::{DedupConfig, DedupError};
use crate::features::{FeatureSpec, SpecError};
use crate::geo::{GeoError, GeofenceConfig};
use crate::model::ModelOptions;
use crate::monitor::MonitorConfig;
use crate::policy::{PolicyConfig, PolicyError};
use crate::triggers::{default_triggers, RawTriggerRule, TriggerError, TriggerRule};
use crate::update::UpdatesConfig;

/// Ingestion settings: the `ingest` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Events the channel holds before `push` drops.
    #[serde(default = "default_capacity")]
    pub channel_capacity: usize,
    /// Decisions kept for `poll` before the oldest is dropped.
    #[serde(default = "default_capacity")]
    pub decision_queue: usize,
    /// How far (ms) an event may be older than the newest accepted one; older
    /// ones are rejected and counted. Within it, time is treated as not moving.
    #[serde(default = "default_skew")]
    pub max_clock_skew_ms: i64,
    /// How far (ms) an event may be ahead of the newest accepted one before
    /// it is held until the next event confirms the jump (a long absence) or
    /// shows it an outlier (dropped); ticks further ahead are refused.
    #[serde(default = "default_jump")]
    pub max_forward_jump_ms: i64,
}

fn default_capacity() -> usize {
    1024
}
fn default_skew() -> i64 {
    5_000
}
fn default_jump() -> i64 {
    86_400_000
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            channel_capacity: default_capacity(),
            decision_queue: default_capacity(),
            max_clock_skew_ms: default_skew(),
            max_forward_jump_ms: default_jump(),
        }
    }
}

/// Everything the runtime needs, validated: a `Config` is only made by
/// [`Config::from_file`], [`Config::from_json`] or [`Config::rules_only`], and
/// changed only through the `with_*` methods, which check the result again,
/// so it cannot hold an invalid value.
///
/// ```
/// use edgeintent::{Config, FeatureSpec, PolicyConfig};
/// let spec = FeatureSpec::from_json(
///     r#"{"version":"demo-1","features":[{"name":"home","kind":"home_visible"}]}"#,
/// )?;
/// let config = Config::rules_only(spec);
/// let stricter = PolicyConfig { threshold: 0.6, ..config.policy().clone() };
/// let config = config.with_policy(stricter)?;
/// assert_eq!(config.policy().threshold, 0.6);
/// let bad = PolicyConfig { threshold: 1.5, ..config.policy().clone() };
/// assert!(config.with_policy(bad).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    model: Option<ModelOptions>,
    features: FeatureSpec,
    policy: PolicyConfig,
    ingest: IngestConfig,
    dedup: DedupConfig,
    triggers: Vec<TriggerRule>,
    geofence: Option<GeofenceConfig>,
    context: ContextConfig,
    monitor: MonitorConfig,
    updates: Option<UpdatesConfig>,
    /// The folder relative paths resolved against (that of the file).
    base_dir: PathBuf,
}

/// Where a config changed in code comes from, in error messages.
const IN_CODE: &str = "changed in code";

impl Config {
    /// The intent model; `None` runs on rules alone.
    pub fn model(&self) -> Option<&ModelOptions> {
        self.model.as_ref()
    }

    /// The features the runtime computes (and the model must have been trained on).
    pub fn features(&self) -> &FeatureSpec {
        &self.features
    }

    /// Refresh-gate settings.
    pub fn policy(&self) -> &PolicyConfig {
        &self.policy
    }

    /// Channel and clock settings.
    pub fn ingest(&self) -> &IngestConfig {
        &self.ingest
    }

    /// Cross-slot de-duplication settings.
    pub fn dedup(&self) -> &DedupConfig {
        &self.dedup
    }

    /// Event triggers (hard overrides); the built-in defaults when the file
    /// has no `triggers` key.
    pub fn triggers(&self) -> &[TriggerRule] {
        &self.triggers
    }

    /// Coverage circle, fences and location sampling; `None`: no geofencing.
    pub fn geofence(&self) -> Option<&GeofenceConfig> {
        self.geofence.as_ref()
    }

    /// What context a refresh decision carries for the cloud ranker.
    pub fn context(&self) -> &ContextConfig {
        &self.context
    }

    /// The on-device monitors: drift, event mix, refresh rate, model health.
    pub fn monitor(&self) -> &MonitorConfig {
        &self.monitor
    }

    /// This config with other monitor settings; the result is checked.
    pub fn with_monitor(self, monitor: MonitorConfig) -> Result<Config, ConfigError> {
        Config { monitor, ..self }.checked()
    }

    /// The server's pinned keys and the package folder; `None`: live updates
    /// are refused.
    pub fn updates(&self) -> Option<&UpdatesConfig> {
        self.updates.as_ref()
    }

    /// This config with other context settings; the result is checked.
    pub fn with_context(self, context: ContextConfig) -> Result<Config, ConfigError> {
        Config { context, ..self }.checked()
    }

    /// This config with other update settings (or none); the result is checked.
    pub fn with_updates(self, updates: Option<UpdatesConfig>) -> Result<Config, ConfigError> {
        Config { updates, ..self }.checked()
    }

    /// This config with another model (or none); the result is checked.
    pub fn with_model(self, model: Option<ModelOptions>) -> Result<Config, ConfigError> {
        Config { model, ..self }.checked()
    }

    /// This config with other refresh-gate settings; the result is checked.
    pub fn with_policy(self, policy: PolicyConfig) -> Result<Config, ConfigError> {
        Config { policy, ..self }.checked()
    }

    /// This config with other channel and clock settings; the result is checked.
    pub fn with_ingest(self, ingest: IngestConfig) -> Result<Config, ConfigError> {
        Config { ingest, ..self }.checked()
    }

    /// This config with other trigger rules; the result is checked.
    pub fn with_triggers(self, triggers: Vec<TriggerRule>) -> Result<Config, ConfigError> {
        Config { triggers, ..self }.checked()
    }

    /// This config with other geofence settings (or none); the result is checked.
    pub fn with_geofence(self, geofence: Option<GeofenceConfig>) -> Result<Config, ConfigError> {
        Config { geofence, ..self }.checked()
    }

    /// This config, if it passes every check.
    fn checked(self) -> Result<Config, ConfigError> {
        self.validate(IN_CODE)?;
        Ok(self)
    }

    /// A rules-only baseline of this config for evaluation: no model, the given
    /// triggers, no cooldown, never stale by age alone beyond `fallback_s`, and
    /// a refresh at any decision point once content is `fallback_s` old (0:
    /// at every one).
    pub fn rules_baseline(
        &self,
        fallback_s: f64,
        tick_s: f64,
        triggers: Vec<TriggerRule>,
    ) -> Result<Config, ConfigError> {
        let policy = PolicyConfig {
            threshold: 1.0,
            buckets: None,
            hysteresis: None,
            cooldown_s: 0.0,
            max_staleness_s: (fallback_s.max(1.0) * 1000.0).min(crate::limits::MAX_DURATION_S),
            tick_interval_s: tick_s,
            fallback_interval_s: fallback_s,
            budget_per_hour: 0,
        };
        Config {
            model: None,
            triggers,
            policy,
            ..self.clone()
        }
        .checked()
    }
}

/// A config or spec file as text: a regular file of at most
/// [`crate::limits::MAX_CONFIG_BYTES`], in UTF-8.
fn read_text(path: &Path) -> Result<String, ConfigError> {
    let io = |why: String| ConfigError::Io {
        path: path.to_owned(),
        why,
    };
    let bytes = crate::limits::read_regular(path, crate::limits::MAX_CONFIG_BYTES)
        .map_err(|e| io(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| io(format!("not UTF-8: {e}")))
}

/// The file as written: `features` is a path or an inline spec.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    model: Option<ModelOptions>,
    features: serde_json::Value,
    #[serde(default)]
    policy: PolicyConfig,
    #[serde(default)]
    ingest: IngestConfig,
    #[serde(default)]
    dedup: DedupConfig,
    #[serde(default)]
    triggers: Option<Vec<RawTriggerRule>>,
    #[serde(default)]
    geofence: Option<GeofenceConfig>,
    #[serde(default)]
    context: ContextConfig,
    #[serde(default)]
    monitor: MonitorConfig,
    #[serde(default)]
    updates: Option<UpdatesConfig>,
}

/// What is wrong with a config.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    #[error("{path}: cannot read: {why}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        why: String,
    },
    /// The config JSON does not parse.
    #[error("config {origin}: {why}")]
    Json {
        /// Where it came from.
        origin: String,
        /// The parser's message (with line and column).
        why: String,
    },
    /// The feature spec is invalid.
    #[error("{origin}: {source}")]
    Spec {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        source: SpecError,
    },
    /// A setting is out of range.
    #[error("config {origin}: {source}")]
    Policy {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        source: PolicyError,
    },
    /// A `dedup` setting is out of range.
    #[error("config {origin}: {source}")]
    Dedup {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        source: DedupError,
    },
    /// A trigger rule is invalid.
    #[error("config {origin}: {source}")]
    Trigger {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        source: TriggerError,
    },
    /// A `geofence` setting is invalid.
    #[error("config {origin}: {source}")]
    Geo {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        source: GeoError,
    },
    /// Another setting is out of range.
    #[error("config {origin}: {field}: {why}")]
    Invalid {
        /// Where it came from.
        origin: String,
        /// The field.
        field: &'static str,
        /// What it must be.
        why: String,
    },
}

impl Config {
    /// Reads a config file; relative paths inside resolve against its folder.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = read_text(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_json(&text, base, &path.display().to_string())
    }

    /// Parses config JSON; relative paths resolve against `base_dir`, and
    /// `origin` names the source in errors.
    pub fn from_json(text: &str, base_dir: &Path, origin: &str) -> Result<Config, ConfigError> {
        let raw: ConfigFile = serde_json::from_str(text).map_err(|e| ConfigError::Json {
            origin: origin.to_owned(),
            why: e.to_string(),
        })?;
        // Read by hand rather than as an untagged enum, so that a bad inline
        // spec gets the spec's own error (the field and the allowed kinds).
        let features = match raw.features {
            serde_json::Value::Object(_) => FeatureSpec::from_json(&raw.features.to_string())
                .map_err(|source| ConfigError::Spec {
                    origin: format!("config {origin}: features"),
                    source,
                })?,
            serde_json::Value::String(p) => {
                let p = resolve(base_dir, Path::new(&p));
                let text = read_text(&p)?;
                FeatureSpec::from_json(&text).map_err(|source| ConfigError::Spec {
                    origin: p.display().to_string(),
                    source,
                })?
            }
            other => {
                return Err(ConfigError::Json {
                    origin: origin.to_owned(),
                    why: format!(
                        "`features` must be a path to a feature spec or an inline spec object, got {other}"
                    ),
                })
            }
        };
        let model = raw.model.map(|mut m| {
            m.path = resolve(base_dir, &m.path);
            m
        });
        let cfg = Config {
            model,
            features,
            policy: raw.policy,
            ingest: raw.ingest,
            dedup: raw.dedup,
            triggers: match raw.triggers {
                Some(rules) => {
                    crate::triggers::parse(rules).map_err(|source| ConfigError::Trigger {
                        origin: origin.to_owned(),
                        source,
                    })?
                }
                None => default_triggers(),
            },
            geofence: raw.geofence,
            context: raw.context,
            monitor: raw.monitor,
            updates: raw.updates.map(|mut u| {
                u.resolve_dir(base_dir);
                u
            }),
            base_dir: base_dir.to_owned(),
        };
        cfg.validate(origin)?;
        Ok(cfg)
    }

    /// A config with the given spec, default policy and no model.
    pub fn rules_only(features: FeatureSpec) -> Config {
        Config {
            model: None,
            features,
            policy: PolicyConfig::default(),
            ingest: IngestConfig::default(),
            dedup: DedupConfig::default(),
            triggers: default_triggers(),
            geofence: None,
            context: ContextConfig::default(),
            monitor: MonitorConfig::default(),
            updates: None,
            base_dir: PathBuf::from("."),
        }
    }

    /// The folder its relative paths resolved against; a delivered config's
    /// paths resolve against the shipped config's.
    pub(crate) fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// Checks every section; `origin` names the config in errors. Configs read
    /// from files are checked when read; [`crate::RuntimeBuilder::build`]
    /// checks the one it is given again, so a config assembled in code is held
    /// to the same rules.
    pub(crate) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        self.features
            .validate()
            .map_err(|source| ConfigError::Spec {
                origin: origin.to_owned(),
                source,
            })?;
        self.policy
            .validate()
            .map_err(|source| ConfigError::Policy {
                origin: origin.to_owned(),
                source,
            })?;
        self.dedup.validate().map_err(|source| ConfigError::Dedup {
            origin: origin.to_owned(),
            source,
        })?;
        crate::triggers::validate(&self.triggers).map_err(|source| ConfigError::Trigger {
            origin: origin.to_owned(),
            source,
        })?;
        if let Some(g) = &self.geofence {
            g.validate().map_err(|source| ConfigError::Geo {
                origin: origin.to_owned(),
                source,
            })?;
        }
        let invalid = |field, why: &str| ConfigError::Invalid {
            origin: origin.to_owned(),
            field,
            why: why.to_owned(),
        };
        if !(1..=1 << 20).contains(&self.ingest.channel_capacity) {
            return Err(invalid("ingest.channel_capacity", "must be in 1..=1048576"));
        }
        if !(1..=1 << 20).contains(&self.ingest.decision_queue) {
            return Err(invalid("ingest.decision_queue", "must be in 1..=1048576"));
        }
        if self.ingest.max_clock_skew_ms < 0 {
            return Err(invalid("ingest.max_clock_skew_ms", "must be >= 0"));
        }
        if !(1..=crate::limits::MAX_TS_MS).contains(&self.ingest.max_forward_jump_ms) {
            return Err(invalid(
                "ingest.max_forward_jump_ms",
                "must be between 1 and the latest timestamp (ms)",
            ));
        }
        self.context
            .validate()
            .map_err(|(field, why)| invalid(field, &why))?;
        self.monitor
            .validate()
            .map_err(|(field, why)| invalid(field, &why))?;
        if let Some(name) = self
            .monitor
            .ignore_features
            .iter()
            .find(|n| !self.features.names().any(|f| f == n.as_str()))
        {
            return Err(invalid(
                "monitor.ignore_features",
                &format!("{name:?} is not a feature of the spec"),
            ));
        }
        if let Some(u) = &self.updates {
            u.validate().map_err(|why| invalid("updates", &why))?;
        }
        Ok(())
    }
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"version":"t","features":[{"name":"v","kind":"home_visible"}]}"#;

    #[test]
    fn relative_paths_resolve_against_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("spec.json"), SPEC).unwrap();
        let cfg_path = dir.path().join("config.json");
        std::fs::write(
            &cfg_path,
            r#"{"model":{"path":"m.onnx"},"features":"spec.json","policy":{"threshold":0.7}}"#,
        )
        .unwrap();
        let cfg = Config::from_file(&cfg_path).unwrap();
        assert_eq!(cfg.model.unwrap().path, dir.path().join("m.onnx"));
        assert_eq!(cfg.policy.threshold, 0.7);
        assert_eq!(cfg.policy.cooldown_s, 60.0);
        assert_eq!(cfg.features.len(), 1);
    }

    #[test]
    fn bad_configs_name_the_field() {
        let base = Path::new(".");
        let cases = [
            (
                format!(r#"{{"features":{SPEC},"policy":{{"threshold":2}}}}"#),
                "policy.threshold",
            ),
            (
                format!(r#"{{"features":{SPEC},"policy":{{"cooldown_s":-5}}}}"#),
                "policy.cooldown_s",
            ),
            (
                format!(r#"{{"features":{SPEC},"ingest":{{"channel_capacity":0}}}}"#),
                "ingest.channel_capacity",
            ),
            (format!(r#"{{"features":{SPEC},"polcy":{{}}}}"#), "polcy"),
            (
                format!(
                    r#"{{"features":{SPEC},"triggers":[{{"event":"teleport","action":"refresh"}}]}}"#
                ),
                "triggers[0].event: unknown event type \"teleport\"",
            ),
            (
                format!(
                    r#"{{"features":{SPEC},"triggers":[{{"event":"pull_to_refesh","action":"refresh"}}]}}"#
                ),
                "triggers[0].event: unknown event type \"pull_to_refesh\" (did you mean \"pull_to_refresh\"?)",
            ),
            (
                format!(
                    r#"{{"features":{SPEC},"triggers":[{{"event":"search","action":"refresh","debounce_s":-2}}]}}"#
                ),
                "triggers[0].debounce_s",
            ),
            (
                format!(
                    r#"{{"features":{SPEC},"geofence":{{"fences":[{{"id":"x","lat":0,"lon":0,"radius_m":0}}]}}}}"#
                ),
                "geofence.fences[0].radius_m",
            ),
            (
                r#"{"features":"no/such/spec.json"}"#.to_owned(),
                "no/such/spec.json",
            ),
        ];
        for (text, needle) in cases {
            let err = Config::from_json(&text, base, "test.json")
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
