//! `edgeintent inspect`: a model's interface, metadata, operator support, and
//! whether a runtime config would accept it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::common::Error;
use edgeintent::{Config, Runtime};

/// Print a model's inputs, outputs, metadata and operator support.
///
/// With --config, also whether that runtime config would accept it. Exit status 3 when
/// an operator is unsupported or tract cannot load it, 4 when the config's
/// runtime refuses it (spec hash, feature names, normalisation, outputs).
#[derive(Args)]
pub struct InspectArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Check the model against this runtime config's feature spec and model
    /// options, as the runtime does when it loads it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// ONNX model file.
    pub model: PathBuf,
}

/// Whether a runtime built from `config`, with its model replaced by the one
/// at `model`, would accept it.
#[derive(serde::Serialize)]
struct RuntimeCheck {
    config: String,
    accepted: bool,
    /// Why not, as the runtime says it.
    error: Option<String>,
    runtime_spec_hash: String,
    runtime_spec_version: String,
    model_spec_hash: Option<String>,
}

fn check_with_config(
    model: &Path,
    report: &edgeintent::ModelReport,
    config_path: &Path,
) -> Result<RuntimeCheck, Error> {
    let config = Config::from_file(config_path)?;
    let model_hash = report.metadata.get(edgeintent::META_SPEC_HASH).cloned();
    let mut options = config
        .model()
        .cloned()
        .unwrap_or_else(|| edgeintent::ModelOptions::for_path(model));
    options.path = model.to_owned();
    options.required = true;
    let config = config.with_model(Some(options))?;
    let (runtime_spec_hash, runtime_spec_version) =
        (config.features().hash(), config.features().version.clone());
    let error = Runtime::builder()
        .config(config)
        .build()
        .err()
        .map(|e| e.to_string());
    Ok(RuntimeCheck {
        config: config_path.display().to_string(),
        accepted: error.is_none(),
        error,
        runtime_spec_hash,
        runtime_spec_version,
        model_spec_hash: model_hash,
    })
}

pub fn run(a: InspectArgs) -> Result<ExitCode, Error> {
    let (path, json, config) = (a.model.as_path(), a.json, a.config.as_deref());
    let report = edgeintent::inspect(path)?;
    let check = config
        .map(|c| check_with_config(path, &report, c))
        .transpose()?;
    let all_supported = report.ops.iter().all(|o| o.supported);
    if json {
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        if let Some(c) = &check {
            value["runtime_check"] = serde_json::to_value(c).unwrap_or_default();
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        println!("model {}", path.display());
        println!("  producer: {}", report.producer);
        println!("  opsets: {}", report.opsets.join(", "));
        for (title, list) in [("input", &report.inputs), ("output", &report.outputs)] {
            for t in list {
                println!(
                    "  {title} {}: {} [{}]",
                    t.name,
                    t.elem_type,
                    t.dims.join(", ")
                );
            }
        }
        for (k, v) in &report.metadata {
            let v = if v.len() > 100 {
                format!("{}…", &v[..v.floor_char_boundary(100)])
            } else {
                v.clone()
            };
            println!("  metadata {k} = {v}");
        }
        for op in &report.ops {
            let mark = if op.supported {
                "supported"
            } else {
                "NOT SUPPORTED"
            };
            println!("  op {}: {mark}", op.op);
        }
        match &report.load_error {
            None => println!("  tract: loads and optimizes"),
            Some(e) => println!("  tract: FAILS to load: {e}"),
        }
        if let Some(c) = &check {
            match &c.error {
                None => println!(
                    "  runtime ({}): ACCEPTS it: feature spec {} (version {}) matches",
                    c.config, c.runtime_spec_hash, c.runtime_spec_version
                ),
                Some(e) => println!("  runtime ({}): REFUSES it: {e}", c.config),
            }
        }
    }
    Ok(if !all_supported || report.load_error.is_some() {
        ExitCode::from(3)
    } else if check.is_some_and(|c| !c.accepted) {
        ExitCode::from(4)
    } else {
        ExitCode::SUCCESS
    })
}
