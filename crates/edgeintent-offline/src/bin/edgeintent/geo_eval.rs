//! `edgeintent geo-eval`: adaptive against fixed location sampling.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use edgeintent::Config;
use edgeintent_offline::geo_eval as eval;

use crate::common::{
    check_pairs, load_trace, print_report, progress_bar, Error, SHIPPED_GEO_CONFIG,
};

/// Score geofencing on location traces with ground truth: entry delay,
/// missed entries, false transitions and fixes per hour, for adaptive
/// sampling and fixed intervals.
#[derive(Args)]
pub struct GeoEvalArgs {
    /// Runtime config with a `geofence` section. Default: the shipped
    /// fixtures/geo/config.json (airport fences).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Ground-truth file for each trace, in the same order (see training/geo_traces.py).
    #[arg(long, required = true)]
    pub truth: Vec<PathBuf>,
    /// Fixed sampling intervals to compare with, in seconds, e.g. 10,60.
    #[arg(long, value_delimiter = ',', default_value = "10,60")]
    pub fixed: Vec<f64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Location traces (JSON Lines).
    #[arg(required = true)]
    pub traces: Vec<PathBuf>,
}

pub fn run(a: GeoEvalArgs) -> Result<ExitCode, Error> {
    let config = a
        .config
        .unwrap_or_else(|| PathBuf::from(SHIPPED_GEO_CONFIG));
    let (truth, fixed, json, traces) = (&a.truth, &a.fixed, a.json, &a.traces);
    check_pairs(traces.len(), truth.len())?;
    if let Some(s) = fixed.iter().find(|s| !s.is_finite() || **s <= 0.0) {
        return Err(Error::Usage(format!(
            "--fixed: {s} is not a positive number of seconds"
        )));
    }
    let config = Config::from_file(config)?;
    let scenarios = traces
        .iter()
        .zip(truth)
        .map(|(t, g)| {
            Ok(eval::GeoScenario {
                name: t.display().to_string(),
                events: load_trace(t, false)?,
                truth: eval::GeoTruth::from_file(g)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let samplers: Vec<eval::Sampler> = std::iter::once(eval::Sampler::Adaptive)
        .chain(fixed.iter().map(|&s| eval::Sampler::Fixed(s)))
        .collect();
    let total =
        scenarios.iter().map(|s| s.events.len() as u64).sum::<u64>() * samplers.len() as u64;
    let bar = progress_bar(total, "geo-eval");
    let report = eval::geo_evaluate(&config, &samplers, &scenarios, |n| bar.inc(n))?;
    bar.finish_and_clear();
    print_report(&report, json, eval::render_geo_table)
}
