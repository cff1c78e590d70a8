//! `edgeintent predict`: any ONNX model on CSV rows, as the runtime would feed it.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use edgeintent::{Importer, OnnxGraph, OutputValues, TensorData, TensorGraph, TensorValue};

use crate::common::io_err;
use crate::common::Error;

/// Run any ONNX model on CSV rows: one JSON object per row, each output's values as a flat array.
///
/// Like the runtime, it applies the model's `edgeintent.normalization` and,
/// with a header line, picks the columns named in `edgeintent.feature_names`,
/// so `featurize` output goes in as is.
#[derive(Args)]
pub struct PredictArgs {
    /// ONNX model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Input rows: a CSV of numbers (empty or `nan` is a missing value; with
    /// a first line of column names, non-feature columns such as `ts_ms`,
    /// `point` and `seq_N` are skipped), or NumPy arrays for typed and
    /// multi-input models: `X.npy` for a model with one input, `X.npz` with
    /// one array per graph input, named as the input (float32, float64,
    /// int64, int32, uint8, bool or str).
    #[arg(long)]
    pub input: PathBuf,
    /// Feed the rows to the bare graph, without the package's normalisation.
    #[arg(long)]
    pub raw: bool,
}

/// Columns `featurize` writes that are not features: the row's time, its
/// decision point, and the event-type ids of a sequence model's second input.
fn is_featurize_context(column: &str) -> bool {
    column == "ts_ms"
        || column == "point"
        || column
            .strip_prefix("seq_")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Input rows for `predict`: the feature columns of a CSV, in the model's order.
pub struct Rows {
    pub rows: usize,
    pub width: usize,
    pub values: Vec<f32>,
    pub skipped: Vec<String>,
}

/// Reads a CSV of rows. A first line with any non-numeric field is a header:
/// then columns are picked by the model's feature names (or, without them,
/// all but `featurize`'s non-feature columns); without a header every column
/// is a feature. Empty and `nan` cells are missing values.
pub fn read_rows(path: &Path, names: Option<&[String]>) -> Result<Rows, Error> {
    edgeintent::limits::ensure_regular_file(path).map_err(io_err(path))?;
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let bad = |line: usize, why: String| Error::Input {
        path: path.display().to_string(),
        line,
        why,
    };
    let parse = |f: &str| -> Option<f32> {
        let f = f.trim();
        if f.is_empty() || f.eq_ignore_ascii_case("nan") {
            Some(f32::NAN)
        } else {
            f.parse::<f32>().ok()
        }
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_start_matches('\u{feff}')))
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let first: Vec<&str> = match lines.peek() {
        Some((_, l)) => l.split(',').map(str::trim).collect(),
        None => return Err(bad(0, "no data rows".into())),
    };
    let header = first.iter().any(|f| parse(f).is_none());
    let (n_fields, picked, skipped): (usize, Vec<(usize, String)>, Vec<String>) = if header {
        lines.next();
        let picked: Vec<(usize, String)> = match names {
            Some(names) => names
                .iter()
                .map(|n| {
                    first
                        .iter()
                        .position(|c| c == n)
                        .map(|i| (i, n.clone()))
                        .ok_or_else(|| {
                            bad(
                                1,
                                format!(
                                    "no column `{n}`; the model was trained on these features, in order: {}",
                                    names.join(", ")
                                ),
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
            None => first
                .iter()
                .enumerate()
                .filter(|(_, c)| !is_featurize_context(c))
                .map(|(i, c)| (i, c.to_string()))
                .collect(),
        };
        let skipped = first
            .iter()
            .enumerate()
            .filter(|(i, _)| !picked.iter().any(|(p, _)| p == i))
            .map(|(_, c)| c.to_string())
            .collect();
        (first.len(), picked, skipped)
    } else {
        let all = (0..first.len()).map(|i| (i, format!("column {}", i + 1)));
        (first.len(), all.collect(), Vec::new())
    };
    let mut values = Vec::new();
    let mut rows = 0;
    for (line, text) in lines {
        let fields: Vec<&str> = text.split(',').collect();
        if fields.len() != n_fields {
            return Err(bad(
                line,
                format!("{} fields, expected {n_fields}", fields.len()),
            ));
        }
        for (col, name) in &picked {
            let v = parse(fields[*col]).ok_or_else(|| {
                bad(
                    line,
                    format!("`{name}`: `{}` is not a number", fields[*col].trim()),
                )
            })?;
            values.push(v);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(bad(0, "no data rows".into()));
    }
    Ok(Rows {
        rows,
        width: picked.len(),
        values,
        skipped,
    })
}

pub fn run(a: PredictArgs) -> Result<ExitCode, Error> {
    let (model, input, raw) = (a.model.as_path(), a.input.as_path(), a.raw);
    match input.extension().and_then(|e| e.to_str()) {
        Some("npy") | Some("npz") => return run_typed(model, input, raw),
        _ => {}
    }
    let package = edgeintent::ModelPackage::read(model)?;
    let Rows {
        rows,
        width,
        mut values,
        skipped,
    } = read_rows(input, package.feature_names())?;
    let normalization = package.normalization().filter(|_| !raw);
    if let Some(n) = normalization {
        if n.len() != width {
            return Err(Error::Usage(format!(
                "{}: {width} feature columns, but the model's normalisation has {}",
                input.display(),
                n.len()
            )));
        }
        n.apply_rows(&mut values);
    }
    eprintln!(
        "edgeintent predict: {rows} rows of {width} features{}; {}",
        if skipped.is_empty() {
            String::new()
        } else {
            format!(" (skipped columns: {})", skipped.join(", "))
        },
        match (normalization, raw) {
            (Some(_), _) => "normalised by the model's edgeintent.normalization",
            (None, true) => "raw (--raw): not normalised",
            (None, false) => "the model has no normalisation",
        }
    );
    let mut graph = OnnxGraph::load(model, &[rows, width])?;
    let outputs = graph.run(&values)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for r in 0..rows {
        let mut obj = serde_json::Map::new();
        for o in &outputs {
            let per_row = if o.shape.first() == Some(&rows) {
                o.shape[1..].iter().product::<usize>()
            } else {
                0
            };
            let range = r * per_row..(r + 1) * per_row;
            let value = match &o.values {
                OutputValues::Float(v) => serde_json::json!(v[range]
                    .iter()
                    .map(|x| f64::from(*x as f32))
                    .collect::<Vec<_>>()),
                OutputValues::Int(v) => serde_json::json!(v[range]),
                OutputValues::Text(v) => serde_json::json!(v[range]),
            };
            obj.insert(o.name.clone(), value);
        }
        if writeln!(out, "{}", serde_json::Value::Object(obj)).is_err() {
            break; // stdout closed
        }
    }
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}

/// The arrays of `input`, one per graph input, in graph order.
fn typed_inputs(input: &Path, names: &[String]) -> Result<Vec<TensorValue>, Error> {
    let bad = |why: String| Error::Input {
        path: input.display().to_string(),
        line: 0,
        why,
    };
    if input.extension().is_some_and(|e| e == "npy") {
        if names.len() != 1 {
            return Err(bad(format!(
                "the model has {} inputs ({}); give a .npz with one array per input, named as the input",
                names.len(),
                names.join(", ")
            )));
        }
        return Ok(vec![super::npy::read_npy(input).map_err(bad)?]);
    }
    let mut arrays = super::npy::read_npz(input).map_err(bad)?;
    let keys: Vec<String> = arrays.iter().map(|(k, _)| k.clone()).collect();
    if let Some(extra) = keys.iter().find(|k| !names.contains(k)) {
        return Err(bad(format!(
            "array `{extra}` names no input of the model (its inputs: {})",
            names.join(", ")
        )));
    }
    names
        .iter()
        .map(|n| {
            let at = arrays.iter().position(|(k, _)| k == n).ok_or_else(|| {
                bad(format!(
                    "no array for input `{n}` (the archive holds: {})",
                    keys.join(", ")
                ))
            })?;
            Ok(arrays.swap_remove(at).1)
        })
        .collect()
}

/// `predict` on NumPy arrays: any input types, any number of inputs.
fn run_typed(model: &Path, input: &Path, raw: bool) -> Result<ExitCode, Error> {
    let package = edgeintent::ModelPackage::read(model)?;
    let mut inputs = typed_inputs(input, package.input_names())?;
    let normalization = package.normalization().filter(|_| !raw);
    if let Some(n) = normalization {
        match inputs.as_mut_slice() {
            [TensorValue {
                shape,
                data: TensorData::F32(values),
            }] if shape.len() == 2 && shape[1] == n.len() => n.apply_rows(values),
            _ => {
                return Err(Error::Usage(format!(
                    "{}: the model's normalisation is for one float32 [N, {}] input; \
                     these arrays are not that (use --raw to feed them as they are)",
                    input.display(),
                    n.len()
                )))
            }
        }
    }
    let rows = inputs[0].shape.first().copied().unwrap_or(1);
    eprintln!(
        "edgeintent predict: {} input{} ({}), {rows} rows; {}",
        inputs.len(),
        if inputs.len() == 1 { "" } else { "s" },
        package
            .input_names()
            .iter()
            .zip(&inputs)
            .map(|(n, v)| format!("{n}: {} {:?}", v.data.type_name(), v.shape))
            .collect::<Vec<_>>()
            .join(", "),
        match (normalization, raw) {
            (Some(_), _) => "normalised by the model's edgeintent.normalization",
            (None, true) => "raw (--raw): not normalised",
            (None, false) => "the model has no normalisation",
        }
    );
    let graph = TensorGraph::load(model, &inputs, Importer::Edgeintent)?;
    let outputs = graph.run(&inputs)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for r in 0..rows {
        let mut obj = serde_json::Map::new();
        for (name, o) in &outputs {
            let per_row = if o.shape.first() == Some(&rows) {
                o.shape[1..].iter().product::<usize>()
            } else {
                0
            };
            let range = r * per_row..(r + 1) * per_row;
            let value = match &o.data {
                TensorData::F32(v) => {
                    serde_json::json!(v[range].iter().map(|x| f64::from(*x)).collect::<Vec<_>>())
                }
                TensorData::F64(v) => serde_json::json!(v[range]),
                TensorData::I64(v) => serde_json::json!(v[range]),
                TensorData::I32(v) => serde_json::json!(v[range]),
                TensorData::U8(v) => serde_json::json!(v[range]),
                TensorData::Bool(v) => serde_json::json!(v[range]),
                TensorData::Text(v) => serde_json::json!(v[range]),
            };
            obj.insert(name.clone(), value);
        }
        if writeln!(out, "{}", serde_json::Value::Object(obj)).is_err() {
            break; // stdout closed
        }
    }
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}
