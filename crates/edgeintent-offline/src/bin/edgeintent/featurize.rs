//! `edgeintent featurize`: training rows from a trace.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use edgeintent_offline::{self, ReadOptions};

use crate::common::{io_err, load_config, open_trace, warn_read, Error};

/// Write one CSV row of raw features per decision point, for training.
#[derive(Args)]
pub struct FeaturizeArgs {
    /// Runtime config whose feature spec to compute. Default: the shipped config.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Skip and count invalid lines instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Output CSV; the spec identity goes to `<out>.spec.json` beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the last-N event-type ids (columns seq_0..) for sequence models.
    #[arg(long)]
    pub with_sequence: bool,
    /// Let the config's model decide refreshes while featurizing, as it will
    /// when serving (so `since_refresh` is what the model will see); by default
    /// the rules decide alone.
    #[arg(long)]
    pub under_model: bool,
    /// The user id the runtime is built for: with `policy.buckets` it picks
    /// the user's A/B bucket, as on the user's device.
    #[arg(long)]
    pub user_id: Option<String>,
    /// Trace file (JSON Lines).
    pub trace: PathBuf,
}

pub fn run(a: FeaturizeArgs) -> Result<ExitCode, Error> {
    let FeaturizeArgs {
        config,
        skip_invalid,
        out,
        with_sequence,
        under_model,
        user_id,
        trace,
    } = a;
    let (out, trace) = (out.as_path(), trace.as_path());
    let config = load_config(config)?;
    let spec = config.features().clone();
    let reader = open_trace(trace)?;
    let file = File::create(out).map_err(io_err(out))?;
    let mut w = BufWriter::new(file);
    let summary = edgeintent_offline::featurize_user(
        config,
        user_id.as_deref(),
        reader,
        ReadOptions {
            skip_invalid,
            ..Default::default()
        },
        edgeintent_offline::FeaturizeOptions {
            with_sequence,
            under_model,
        },
        &mut w,
    )?;
    w.flush().map_err(io_err(out))?;
    warn_read(trace, &summary.read);
    let side = PathBuf::from(format!("{}.spec.json", out.display()));
    let mut identity = edgeintent_offline::spec_identity(&spec);
    identity["spec"] = serde_json::json!(spec);
    std::fs::write(
        &side,
        serde_json::to_string_pretty(&identity).unwrap_or_default() + "\n",
    )
    .map_err(io_err(&side))?;
    eprintln!(
        "edgeintent featurize {}: {} rows from {} events ({} skipped) -> {} (+ {})",
        trace.display(),
        summary.rows,
        summary.read.events,
        summary.read.skipped_invalid,
        out.display(),
        side.display()
    );
    Ok(ExitCode::SUCCESS)
}
