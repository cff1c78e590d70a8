//! `edgeintent monitor`: the on-device monitors over a replay.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use edgeintent::Runtime;
use edgeintent_offline::{self, ReadOptions};

use crate::common::{load_config, open_trace, print_report, Error};

/// Replay traces and print the monitors at the end of each: every monitor's
/// value, threshold, alerts and held crossings (the profile crossed, the
/// device's own history did not), the alert decisions, and once for all
/// traces how far these devices stand from the reference profile (a table;
/// --json).
#[derive(Args)]
pub struct MonitorArgs {
    /// Runtime config (its `monitor` section). Default: the shipped config.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Skip invalid lines instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Trace files (JSON Lines).
    #[arg(required = true)]
    pub traces: Vec<PathBuf>,
}

pub fn run(a: MonitorArgs) -> Result<ExitCode, Error> {
    let config = load_config(a.config)?;
    if !config.monitor().enabled {
        return Err(Error::Usage(
            "the config's monitor section is off: set \"monitor\": {\"enabled\": true}".into(),
        ));
    }
    let mut out = Vec::new();
    for trace in &a.traces {
        let mut rt = Runtime::builder().config(config.clone()).build()?;
        let mut alerts = Vec::new();
        let read = ReadOptions {
            skip_invalid: a.skip_invalid,
            ..ReadOptions::default()
        };
        let summary = edgeintent_offline::replay(&mut rt, open_trace(trace)?, read, |d, json| {
            if d.action == edgeintent::Action::Alert {
                alerts.push(serde_json::from_str::<serde_json::Value>(json).unwrap_or_default());
            }
            Ok(())
        })?;
        let fallback = summary
            .runtime
            .decisions_by_reason
            .get("fallback:monitor")
            .copied()
            .unwrap_or(0);
        out.push(serde_json::json!({
            "trace": trace.display().to_string(),
            "events": summary.read.events,
            "alerts": alerts,
            "fallback_decisions": fallback,
            "monitor": summary.runtime.monitor,
        }));
    }
    print_report(&out, a.json, |out| render(out) + &population(out))
}

/// Per feature, the median over the devices of their distance from the
/// reference profile: a population's difference from the training data,
/// reported once rather than as per-device alerts.
fn population(out: &[serde_json::Value]) -> String {
    let mut by_feature: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for t in out {
        for d in t["monitor"]["profile_distance"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let (Some(name), Some(psi)) = (d["name"].as_str(), d["psi"].as_f64()) {
                by_feature.entry(name.to_owned()).or_default().push(psi);
            }
        }
    }
    if by_feature.is_empty() {
        return String::new();
    }
    let mut rows: Vec<(String, f64, usize)> = by_feature
        .into_iter()
        .map(|(name, mut v)| {
            v.sort_by(f64::total_cmp);
            let above = v.iter().filter(|&&p| p >= 0.25).count();
            (name, v[v.len() / 2], above)
        })
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut text = format!(
        "these {} devices against the reference profile (PSI of each device's history and window; 0.25 and above: unlike the training data)\n  {:<40} {:>10} {:>14}\n",
        out.len(),
        "feature",
        "median PSI",
        "devices >= 0.25"
    );
    for (name, median, above) in rows {
        text += &format!("  {name:<40} {median:>10.3} {above:>14}\n");
    }
    text
}

fn render(out: &[serde_json::Value]) -> String {
    let mut text = String::new();
    for t in out {
        text += &format!(
            "{}: {} events, {} alerts, {} fallback:monitor decisions\n",
            t["trace"].as_str().unwrap_or("?"),
            t["events"],
            t["alerts"].as_array().map_or(0, Vec::len),
            t["fallback_decisions"]
        );
        for al in t["alerts"].as_array().into_iter().flatten() {
            text += &format!(
                "  alert at {}: {} = {} (threshold {})\n",
                al["ts_ms"],
                al["reason"].as_str().unwrap_or("?"),
                al["value"],
                al["threshold"]
            );
        }
        text += &format!(
            "  {:<48} {:>10} {:>10} {:>8} {:>6} {:>5}\n",
            "monitor", "value", "threshold", "alerting", "alerts", "held"
        );
        for m in t["monitor"]["monitors"].as_array().into_iter().flatten() {
            let v = m["value"]
                .as_f64()
                .map_or("-".to_owned(), |v| format!("{v:.3}"));
            text += &format!(
                "  {:<48} {:>10} {:>10.3} {:>8} {:>6} {:>5}\n",
                m["reason"].as_str().unwrap_or("?"),
                v,
                m["threshold"].as_f64().unwrap_or(0.0),
                m["alerting"].as_bool().unwrap_or(false),
                m["alerts"],
                m["held"]
            );
        }
    }
    text
}
