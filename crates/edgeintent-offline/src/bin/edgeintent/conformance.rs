//! `edgeintent conformance`: ONNX backend tests on our importer.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use edgeintent::Importer;
use edgeintent_offline::conformance;

use crate::common::{print_report, Error};

/// Run ONNX backend tests (folders with model.onnx and
/// test_data_set_N/input_K.pb, output_K.pb) and report pass, fail or
/// unsupported for each, with the largest difference. Exits non-zero when
/// any test fails or is unsupported.
#[derive(Args)]
pub struct ConformanceArgs {
    /// Use plain tract's importer, without edgeintent's operators (to compare).
    #[arg(long)]
    pub plain_tract: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Test folders, or folders of test folders.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
}

pub fn run(a: ConformanceArgs) -> Result<ExitCode, Error> {
    let importer = if a.plain_tract {
        Importer::PlainTract
    } else {
        Importer::Edgeintent
    };
    let report = conformance::run(&a.dirs, importer, |_| {})?;
    print_report(&report, a.json, conformance::render_table)?;
    Ok(if report.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
