//! The `edgeintent` command: replay traces, featurize them for training,
//! inspect and benchmark models, evaluate policies. One file per subcommand;
//! this one parses the command line and reports errors.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use common::Error;
use edgeintent::TraceError;

mod bench;
mod common;
mod compile;
mod conformance;
mod counting_alloc;
mod dedup_eval;
mod evaluate;
mod featurize;
mod geo_eval;
mod inspect;
mod monitor;
mod npy;
mod predict;
mod replay;
mod spec;
mod update;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

#[derive(Parser)]
#[command(
    name = "edgeintent",
    version,
    about = "On-device intent runtime: decides when the homepage refreshes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Replay(replay::ReplayArgs),
    Featurize(featurize::FeaturizeArgs),
    Inspect(inspect::InspectArgs),
    Predict(predict::PredictArgs),
    Bench(bench::BenchArgs),
    Compile(compile::CompileArgs),
    Conformance(conformance::ConformanceArgs),
    DedupEval(dedup_eval::DedupEvalArgs),
    Evaluate(evaluate::EvaluateArgs),
    GeoEval(geo_eval::GeoEvalArgs),
    Monitor(monitor::MonitorArgs),
    Spec(spec::SpecArgs),
    Update(update::UpdateArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Replay(a) => replay::run(a),
        Command::Featurize(a) => featurize::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Compile(a) => compile::run(a),
        Command::Conformance(a) => conformance::run(a),
        Command::DedupEval(a) => dedup_eval::run(a),
        Command::Evaluate(a) => evaluate::run(a),
        Command::GeoEval(a) => geo_eval::run(a),
        Command::Monitor(a) => monitor::run(a),
        Command::Spec(a) => spec::run(a),
        Command::Update(a) => update::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let bad_line = matches!(
                &e,
                Error::Lib(
                    edgeintent_offline::Error::Runtime(edgeintent::Error::Trace(
                        TraceError::Line { .. }
                    )) | edgeintent_offline::Error::TraceFile {
                        source: TraceError::Line { .. },
                        ..
                    }
                )
            );
            let hint = if bad_line {
                " (use --skip-invalid to skip and count bad lines)"
            } else {
                ""
            };
            eprintln!("edgeintent: error: {e}{hint}");
            ExitCode::FAILURE
        }
    }
}
