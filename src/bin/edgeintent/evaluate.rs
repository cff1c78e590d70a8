//! `edgeintent evaluate`: the refresh policy against ground truth and baselines.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use edgeintent::offline::refresh_eval as eval;

use crate::common::{check_pairs, load_config, load_trace, print_report, progress_bar, Error};

/// Score the configured refresh policy against ground truth, next to the
/// baselines: fixed intervals (5 s to 1 h), every home view, and one
/// request per notification. A table on stdout (JSON with --json).
#[derive(Args)]
pub struct EvaluateArgs {
    /// Runtime config (model, policy, triggers). Default: the shipped config.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Ground-truth file for each trace, in the same order (see training/generate.py).
    #[arg(long, required = true)]
    pub truth: Vec<PathBuf>,
    /// Also evaluate our policy at these thresholds, e.g. 0.3,0.5,0.7.
    #[arg(long, value_delimiter = ',')]
    pub sweep_threshold: Vec<f32>,
    /// The user id whose A/B bucket threshold to use (with policy.buckets).
    #[arg(long)]
    pub user_id: Option<String>,
    /// Skip invalid lines instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Closed loop: a need also ends at the first home view showing content
    /// refreshed after it began, so a refresh at the right moment is credited
    /// (default: the open loop, the truth as recorded).
    #[arg(long)]
    pub closed_loop: bool,
    /// Trace files (JSON Lines).
    #[arg(required = true)]
    pub traces: Vec<PathBuf>,
}

pub fn run(a: EvaluateArgs) -> Result<ExitCode, Error> {
    check_pairs(a.traces.len(), a.truth.len())?;
    if let Some(t) = a.sweep_threshold.iter().find(|t| !(0.0..=1.0).contains(*t)) {
        return Err(Error::Usage(format!(
            "--sweep-threshold: {t} is outside [0, 1]"
        )));
    }
    let mut config = load_config(a.config)?;
    if let (Some(id), Some(_)) = (&a.user_id, &config.policy().buckets) {
        // Evaluate the bucket's threshold as "ours".
        let policy = edgeintent::PolicyConfig {
            threshold: config.policy().threshold_for(Some(id)).0,
            ..config.policy().clone()
        };
        config = config.with_policy(policy)?;
    }
    let scenarios = a
        .traces
        .iter()
        .zip(&a.truth)
        .map(|(trace, truth)| {
            Ok(eval::Scenario {
                name: trace.display().to_string(),
                events: load_trace(trace, a.skip_invalid)?,
                truth: eval::Truth::from_file(truth)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let candidates = eval::candidates(&config, &a.sweep_threshold)?;
    let total: u64 =
        scenarios.iter().map(|s| s.events.len() as u64).sum::<u64>() * candidates.len() as u64;
    let bar = progress_bar(total, "evaluate");
    let mode = if a.closed_loop {
        eval::Loop::Closed
    } else {
        eval::Loop::Open
    };
    let report = eval::evaluate_with(&candidates, &scenarios, mode, |n| bar.inc(n))?;
    bar.finish_and_clear();
    print_report(&report, a.json, eval::render_table)
}
