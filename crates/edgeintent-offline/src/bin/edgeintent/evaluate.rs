//! `edgeintent evaluate`: the refresh policy against ground truth and baselines.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use edgeintent_offline::refresh_eval as eval;

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
    /// Also evaluate our policy at these thresholds, e.g. 0.3,0.5,0.7
    /// (default with a model: 0.1 to 0.9, the curve the model's worth is read from).
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
    /// Also write each trace's decision timeline into this folder (one page
    /// per trace, and index.html to pick one).
    #[arg(long, value_name = "DIR")]
    pub timeline: Option<PathBuf>,
    /// Also evaluate each arm of the staged roll-outs in this updates file
    /// (see `replay --updates`): every trace replayed once per arm, with the
    /// updates applied as they come, so the arms are compared on the same users.
    #[arg(long, value_name = "UPDATES.jsonl")]
    pub updates: Option<PathBuf>,
    /// Trace files (JSON Lines).
    #[arg(required = true)]
    pub traces: Vec<PathBuf>,
}

/// One timeline page per trace (the configured policy), and an index.
fn write_timelines(
    dir: &std::path::Path,
    config: &edgeintent::Config,
    user_id: Option<&str>,
    traces: &[PathBuf],
    skip_invalid: bool,
) -> Result<(), Error> {
    use crate::common::{io_err, open_trace};
    use edgeintent_offline::{
        page_file_name, replay_timeline, timeline_html, timeline_index_html, IndexEntry,
        ReadOptions,
    };
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut pages = Vec::with_capacity(traces.len());
    for (i, trace) in traces.iter().enumerate() {
        let stem = trace
            .file_stem()
            .map_or_else(|| format!("trace{i}"), |s| s.to_string_lossy().into_owned());
        let file = page_file_name(i, &stem);
        let mut builder = edgeintent::Runtime::builder();
        if let Some(id) = user_id {
            builder = builder.user_id(id);
        }
        let read = ReadOptions {
            skip_invalid,
            ..ReadOptions::default()
        };
        let name = trace.display().to_string();
        let (summary, tl) = replay_timeline(
            config.clone(),
            builder,
            &name,
            open_trace(trace)?,
            read,
            |_, _| Ok(()),
        )?;
        let path = dir.join(&file);
        std::fs::write(&path, timeline_html(&tl)).map_err(io_err(&path))?;
        pages.push(IndexEntry {
            file,
            trace: name,
            events: summary.read.events,
            decisions: summary.runtime.decisions,
        });
    }
    let index = dir.join("index.html");
    std::fs::write(&index, timeline_index_html(&pages)).map_err(io_err(&index))?;
    eprintln!("timelines: {} pages in {}", traces.len(), dir.display());
    Ok(())
}

pub fn run(a: EvaluateArgs) -> Result<ExitCode, Error> {
    check_pairs(a.traces.len(), a.truth.len())?;
    let config = load_config(a.config)?;
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
    let schedule = match &a.updates {
        Some(p) => Some(std::sync::Arc::new(
            edgeintent_offline::UpdateSchedule::from_file(p)?,
        )),
        None => None,
    };
    let candidates = eval::evaluation_candidates(
        &config,
        &a.sweep_threshold,
        a.user_id.as_deref(),
        schedule.as_ref(),
    )?;
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
    if let Some(dir) = &a.timeline {
        write_timelines(
            dir,
            &config,
            a.user_id.as_deref(),
            &a.traces,
            a.skip_invalid,
        )?;
    }
    print_report(&report, a.json, eval::render_table)
}
