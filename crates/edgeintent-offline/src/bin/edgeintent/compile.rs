//! `edgeintent compile`: an ONNX model as a `.eim` package for the native
//! executor, the form a device build (no tract) loads.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use edgeintent::{Config, IntentModel};

use crate::common::{io_err, Error, SHIPPED_CONFIG};

/// Compile an ONNX model into a `.eim` package: the native executor's plan,
/// versioned and checksummed, with the model's package metadata (spec hash,
/// feature names, normalisation), checked as the config's runtime checks it.
#[derive(Args)]
pub struct CompileArgs {
    /// The ONNX model.
    pub model: PathBuf,
    /// Where to write the package.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Runtime config whose feature spec and model options (inputs, output)
    /// the model is checked and compiled against (default: the shipped one).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn run(a: CompileArgs) -> Result<ExitCode, Error> {
    let config_path = a.config.unwrap_or_else(|| PathBuf::from(SHIPPED_CONFIG));
    let config = Config::from_file(&config_path)?;
    let mut opts = config
        .model()
        .cloned()
        .unwrap_or_else(|| edgeintent::ModelOptions::for_path(&a.model));
    opts.path = a.model.clone();
    let model = IntentModel::load(&opts, config.features())?;
    let bytes = model.to_eim()?;
    std::fs::write(&a.out, &bytes).map_err(io_err(&a.out))?;
    eprintln!(
        "edgeintent compile: {} -> {} ({} bytes, output `{}`, spec {})",
        a.model.display(),
        a.out.display(),
        bytes.len(),
        model.output_name(),
        config.features().hash()
    );
    Ok(ExitCode::SUCCESS)
}
