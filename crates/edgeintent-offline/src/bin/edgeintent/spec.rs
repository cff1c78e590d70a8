//! `edgeintent spec`: the feature spec's identity.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use edgeintent_offline::spec_identity;

use crate::common::load_config;
use crate::common::Error;

/// Print the feature spec's hash, version and names as JSON.
#[derive(Args)]
pub struct SpecArgs {
    /// Runtime config. Default: the shipped config.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn run(a: SpecArgs) -> Result<ExitCode, Error> {
    let config = load_config(a.config)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&spec_identity(config.features())).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}
