//! The ONNX backend-test runner: directories in the layout of the `onnx`
//! package's backend tests (`model.onnx`, `test_data_set_N/input_K.pb`,
//! `output_K.pb`), each run on edgeintent's importer (or plain tract's) and
//! compared with the expected outputs.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Error;
use edgeintent::{Importer, ModelError, TensorData, TensorGraph, TensorValue};

/// Relative tolerance for floating-point outputs (the `onnx` backend runner's default).
pub const RTOL: f64 = 1e-3;
/// Absolute tolerance for floating-point outputs (the `onnx` backend runner's default).
pub const ATOL: f64 = 1e-7;

/// How one test came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every output of every data set matched.
    Pass,
    /// The model loaded but an output differed, or it failed to load or run
    /// for another reason than an unknown operator.
    Fail,
    /// The model uses an operator the importer does not know.
    Unsupported,
}

/// One test's result.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The test's name (its directory's name).
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// How it came out.
    pub outcome: Outcome,
    /// The operators of its graph.
    pub ops: Vec<String>,
    /// The largest difference seen on a floating-point output, beyond which
    /// values are compared with [`RTOL`] and [`ATOL`].
    pub max_abs_diff: Option<f64>,
    /// Data sets run.
    pub data_sets: usize,
    /// What went wrong, when it did.
    pub detail: Option<String>,
}

/// Every test's result and the counts.
#[derive(Debug, Clone, Serialize)]
pub struct ConformanceReport {
    /// Which importer ran them.
    pub importer: &'static str,
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
    /// Tests whose model uses an unknown operator.
    pub unsupported: usize,
    /// One entry per test, in the order given.
    pub cases: Vec<CaseResult>,
}

impl ConformanceReport {
    /// Whether every test passed.
    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.unsupported == 0
    }
}

/// The test directories under `dirs`: each one that holds a `model.onnx`,
/// or the sub-directories that do (sorted), for a folder of tests.
pub fn test_dirs(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for d in dirs {
        if d.join("model.onnx").is_file() {
            out.push(d.clone());
            continue;
        }
        let entries = std::fs::read_dir(d).map_err(|e| Error::Io {
            path: d.display().to_string(),
            why: format!(
                "{e} (expected a backend test folder with model.onnx, or a folder of them)"
            ),
        })?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("model.onnx").is_file())
            .collect();
        if found.is_empty() {
            return Err(Error::NothingTo {
                input: d.display().to_string(),
                missing: "model.onnx (nor any sub-folder with one)",
                task: "run as a conformance test",
            });
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// Runs every test in `dirs` (see [`test_dirs`]) on `importer`; `progress`
/// sees each result as it comes.
pub fn run(
    dirs: &[PathBuf],
    importer: Importer,
    mut progress: impl FnMut(&CaseResult),
) -> Result<ConformanceReport, Error> {
    let mut cases = Vec::new();
    for dir in test_dirs(dirs)? {
        let r = run_case(&dir, importer);
        progress(&r);
        cases.push(r);
    }
    let count = |o: Outcome| cases.iter().filter(|c| c.outcome == o).count();
    Ok(ConformanceReport {
        importer: match importer {
            Importer::Edgeintent => "edgeintent",
            Importer::PlainTract => "plain tract",
        },
        passed: count(Outcome::Pass),
        failed: count(Outcome::Fail),
        unsupported: count(Outcome::Unsupported),
        cases,
    })
}

/// The `input_K.pb` or `output_K.pb` files of a data set, in K order.
fn numbered(dir: &Path, prefix: &str) -> Result<Vec<TensorValue>, ModelError> {
    let mut out = Vec::new();
    loop {
        let p = dir.join(format!("{prefix}_{}.pb", out.len()));
        if !p.is_file() {
            return Ok(out);
        }
        out.push(TensorValue::read_pb(&p)?);
    }
}

/// Runs one test directory.
pub fn run_case(dir: &Path, importer: Importer) -> CaseResult {
    let name = dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let model = dir.join("model.onnx");
    let ops = edgeintent::inspect(&model)
        .map(|r| r.ops.into_iter().map(|o| o.op).collect())
        .unwrap_or_default();
    let mut result = CaseResult {
        name,
        dir: dir.to_owned(),
        outcome: Outcome::Pass,
        ops,
        max_abs_diff: None,
        data_sets: 0,
        detail: None,
    };
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_dir()
                        && p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("test_data_set_"))
                })
                .collect()
        })
        .unwrap_or_default();
    sets.sort();
    let fail = |mut r: CaseResult, outcome: Outcome, why: String| {
        r.outcome = outcome;
        r.detail = Some(why);
        r
    };
    if sets.is_empty() {
        return fail(result, Outcome::Fail, "no test_data_set_N folder".into());
    }
    let mut graph: Option<TensorGraph> = None;
    for set in &sets {
        let (inputs, expected) = match (numbered(set, "input"), numbered(set, "output")) {
            (Ok(i), Ok(o)) => (i, o),
            (Err(e), _) | (_, Err(e)) => {
                return fail(result, Outcome::Fail, format!("reading the test data: {e}"))
            }
        };
        if graph.is_none() {
            match TensorGraph::load(&model, &inputs, importer) {
                Ok(g) => graph = Some(g),
                Err(ModelError::UnsupportedOps { ops, .. }) => {
                    return fail(
                        result,
                        Outcome::Unsupported,
                        format!("unsupported operator(s): {ops}"),
                    )
                }
                Err(e) => return fail(result, Outcome::Fail, format!("load: {e}")),
            }
        }
        let Some(g) = graph.as_ref() else {
            return result;
        };
        let got = match g.run(&inputs) {
            Ok(got) => got,
            Err(e) => return fail(result, Outcome::Fail, format!("run: {e}")),
        };
        result.data_sets += 1;
        if got.len() < expected.len() {
            return fail(
                result,
                Outcome::Fail,
                format!("{} outputs, expected {}", got.len(), expected.len()),
            );
        }
        for (k, ((out_name, ours), want)) in got.iter().zip(&expected).enumerate() {
            match compare(ours, want) {
                Ok(diff) => {
                    if let Some(d) = diff {
                        result.max_abs_diff = Some(result.max_abs_diff.map_or(d, |m| m.max(d)));
                    }
                }
                Err(why) => {
                    let set_name = set.file_name().map(|n| n.to_string_lossy().into_owned());
                    return fail(
                        result,
                        Outcome::Fail,
                        format!(
                            "{}: output {k} ({out_name}): {why}",
                            set_name.unwrap_or_default()
                        ),
                    );
                }
            }
        }
    }
    result
}

fn floats(d: &TensorData) -> Option<Vec<f64>> {
    match d {
        TensorData::F32(v) => Some(v.iter().map(|&x| f64::from(x)).collect()),
        TensorData::F64(v) => Some(v.clone()),
        _ => None,
    }
}

/// `Ok(largest float difference)` when `ours` matches `want`: the same shape,
/// the same element type, floats within tolerance (NaN where NaN), the rest
/// exactly.
fn compare(ours: &TensorValue, want: &TensorValue) -> Result<Option<f64>, String> {
    if ours.shape != want.shape {
        return Err(format!("shape {:?}, expected {:?}", ours.shape, want.shape));
    }
    if ours.data.type_name() != want.data.type_name() {
        return Err(format!(
            "element type {}, expected {}",
            ours.data.type_name(),
            want.data.type_name()
        ));
    }
    if let (Some(a), Some(b)) = (floats(&ours.data), floats(&want.data)) {
        let mut max = 0.0f64;
        for (i, (&x, &y)) in a.iter().zip(&b).enumerate() {
            if x.is_nan() || y.is_nan() {
                if x.is_nan() != y.is_nan() {
                    return Err(format!("element {i}: {x}, expected {y}"));
                }
                continue;
            }
            if x == y {
                continue; // infinities of the same sign too
            }
            let d = (x - y).abs();
            max = max.max(d);
            if d > ATOL + RTOL * y.abs() {
                return Err(format!("element {i}: {x}, expected {y} (difference {d:e})"));
            }
        }
        return Ok(Some(max));
    }
    if ours.data != want.data {
        return Err("values differ".into());
    }
    Ok(None)
}

/// The report as a plain-text table.
pub fn render_table(r: &ConformanceReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for c in &r.cases {
        let _ = writeln!(
            s,
            "{:<11} {:<60} {:>10}  {}",
            match c.outcome {
                Outcome::Pass => "pass",
                Outcome::Fail => "FAIL",
                Outcome::Unsupported => "UNSUPPORTED",
            },
            c.name,
            c.max_abs_diff
                .map_or_else(String::new, |d| format!("{d:.1e}")),
            c.detail.as_deref().unwrap_or("")
        );
    }
    let total = r.cases.len();
    let _ = writeln!(
        s,
        "{}: {} of {total} passed ({:.1}%), {} failed, {} unsupported",
        r.importer,
        r.passed,
        if total > 0 {
            100.0 * r.passed as f64 / total as f64
        } else {
            0.0
        },
        r.failed,
        r.unsupported
    );
    s
}
