//! `edgeintent dedup-eval`: de-duplication strategies compared on a trace.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use edgeintent_offline as offline;

use crate::common::{in_file, load_config, load_trace, Error};

/// Compare cross-slot de-duplication strategies on a trace: none, greedy
/// first-come-first-served, and edgeintent's value-aware arbiter.
#[derive(Args)]
pub struct DedupEvalArgs {
    /// Runtime config whose `dedup` section to use. Default: the shipped config.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Trace file (JSON Lines).
    pub trace: PathBuf,
}

pub fn run(a: DedupEvalArgs) -> Result<ExitCode, Error> {
    let (config, json, trace) = (a.config, a.json, a.trace.as_path());
    let config = load_config(config)?;
    let events = load_trace(trace, false)?;
    let reports = offline::dedup_eval(config.dedup(), &events).map_err(|e| in_file(trace, e))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<22} {:>9} {:>13} {:>14} {:>15} {:>10}",
        "strategy", "snapshots", "dup entities", "dup exposures", "retained value", "fill rate"
    );
    for r in &reports {
        println!(
            "{:<22} {:>9} {:>13} {:>14} {:>15.1} {:>9.1}%",
            format!("{:?}", r.strategy),
            r.snapshots,
            r.duplicate_placements,
            r.duplicate_exposures,
            r.retained_value,
            r.fill_rate * 100.0
        );
    }
    Ok(ExitCode::SUCCESS)
}
