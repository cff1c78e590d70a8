//! `edgeintent spec`: the feature spec's identity.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::common::load_config;
use crate::common::Error;

/// Print the feature spec's hash, version and names as JSON.
#[derive(Args)]
pub struct SpecArgs {
    /// Runtime config. Default: the shipped config.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// What training needs to know about a feature spec: hash, version, names.
pub fn spec_identity(s: &edgeintent::FeatureSpec) -> serde_json::Value {
    serde_json::json!({
        "feature_spec_hash": s.hash(),
        "feature_spec_version": s.version,
        "feature_names": s.names().collect::<Vec<_>>(),
        "sequence_length": s.sequence_length,
    })
}

pub fn run(a: SpecArgs) -> Result<ExitCode, Error> {
    let config = load_config(a.config)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&spec_identity(config.features())).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}
