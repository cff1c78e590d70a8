//! `edgeintent._native`: the Rust core for Python. The featurizer, the
//! runtime, replay, evaluation and `predict`, with Arrow data crossing the
//! boundary through the Arrow C data interface (no Python object per row),
//! the GIL released while Rust works, and typed exceptions carrying the
//! runtime's messages. `python/edgeintent/` is the public face.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use edgeintent_offline::{ReadOptions, TraceItem};
use numpy::{PyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::input::AnyRecordBatch;
mod convert;
mod errors;
mod evaluate;
mod events;
mod featurize;
mod runtime;

use convert::*;
use errors::*;
use evaluate::Evaluator;
use featurize::Featurizer;
use runtime::Runtime;

/// Replays a trace (a file, or Arrow events) through a fresh runtime;
/// returns the decisions (`ts_ms`, `action`, `reason`, `json`) as a
/// `pyarrow.RecordBatch` and the summary as JSON.
#[pyfunction]
#[pyo3(signature = (events=None, path=None, config_path=None, config_json=None, base_dir=None, user_id=None, updates=None, arm=None, skip_invalid=false))]
#[allow(clippy::too_many_arguments)]
fn replay(
    py: Python<'_>,
    events: Option<AnyRecordBatch>,
    path: Option<PathBuf>,
    config_path: Option<PathBuf>,
    config_json: Option<String>,
    base_dir: Option<PathBuf>,
    user_id: Option<String>,
    updates: Option<PathBuf>,
    arm: Option<String>,
    skip_invalid: bool,
) -> PyResult<(Py<PyAny>, String)> {
    let config = load_config(config_path, config_json, base_dir)?;
    let items: Box<dyn Iterator<Item = TraceItem> + Send> = match (events, &path) {
        (Some(data), None) => {
            let b = batches(data)?;
            Box::new(
                py.detach(|| trace_items(&b))
                    .map_err(input_err)?
                    .into_iter(),
            )
        }
        (None, Some(p)) => Box::new(file_items(p)?),
        _ => {
            return Err(input_err(
                "give the events either as Arrow data or as a trace file path",
            ))
        }
    };
    let schedule = match &updates {
        Some(p) => edgeintent_offline::UpdateSchedule::from_file(p).map_err(to_py)?,
        None => edgeintent_offline::UpdateSchedule::default(),
    };
    let (batch, summary) = py.detach(|| -> Result<(RecordBatch, String), PyErrText> {
        let mut b = edgeintent::Runtime::builder().config(config);
        if let Some(id) = user_id {
            b = b.user_id(id);
        }
        if let Some(a) = arm {
            b = b.force_arm(a);
        }
        let mut rt = b.build().map_err(|e| PyErrText::Runtime(e.into()))?;
        let (mut ts, mut action, mut reason, mut json) = (
            Vec::new(),
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
        );
        let read = ReadOptions {
            skip_invalid,
            ..ReadOptions::default()
        };
        let summary =
            edgeintent_offline::replay_with_updates(&mut rt, items, read, &schedule, |d, line| {
                ts.push(d.ts_ms);
                action.append_value(d.action.name());
                reason.append_value(d.reason.as_str());
                json.append_value(line);
                Ok(())
            })
            .map_err(|e| match &path {
                Some(p) => match e {
                    edgeintent_offline::Error::Runtime(edgeintent::Error::Trace(source)) => {
                        PyErrText::Runtime(edgeintent_offline::Error::TraceFile {
                            path: p.display().to_string(),
                            source,
                        })
                    }
                    e => PyErrText::Runtime(e),
                },
                None => PyErrText::Runtime(e),
            })?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts_ms", DataType::Int64, false),
            Field::new("action", DataType::Utf8, false),
            Field::new("reason", DataType::Utf8, false),
            Field::new("json", DataType::Utf8, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ts)),
            Arc::new(action.finish()),
            Arc::new(reason.finish()),
            Arc::new(json.finish()),
        ];
        let batch =
            RecordBatch::try_new(schema, cols).map_err(|e| PyErrText::Input(e.to_string()))?;
        let summary =
            serde_json::to_string(&summary).map_err(|e| PyErrText::Input(e.to_string()))?;
        Ok((batch, summary))
    })?;
    Ok((to_pyarrow(py, batch)?, summary))
}

// ----------------------------------------------------------------- evaluate

/// Runs an ONNX model on the rows of a 2-D float32 array, applying the
/// model package's normalisation unless `raw`; returns each output's name
/// with its values (float64, int64 or str) and shape.
#[pyfunction]
#[pyo3(signature = (model_path, x, raw=false))]
fn predict<'py>(
    py: Python<'py>,
    model_path: PathBuf,
    x: PyReadonlyArray2<'py, f32>,
    raw: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let shape = x.shape().to_vec();
    let (rows, width) = (shape[0], shape[1]);
    if rows == 0 || width == 0 {
        return Err(input_err(format!(
            "predict needs at least one row and one column, got shape {shape:?}"
        )));
    }
    let mut values: Vec<f32> = x.as_array().iter().copied().collect();
    let outputs = py
        .detach(|| -> Result<Vec<edgeintent::GraphOutput>, PyErrText> {
            let package = edgeintent::ModelPackage::read(&model_path)
                .map_err(|e| PyErrText::Runtime(e.into()))?;
            if let Some(n) = package.normalization().filter(|_| !raw) {
                if n.len() != width {
                    return Err(PyErrText::Input(format!(
                        "{width} columns, but the model's normalisation has {}: give the model's features in order, or raw=True",
                        n.len()
                    )));
                }
                n.apply_rows(&mut values);
            }
            let mut graph = edgeintent::OnnxGraph::load(&model_path, &[rows, width])
                .map_err(|e| PyErrText::Runtime(e.into()))?;
            graph.run(&values).map_err(|e| PyErrText::Runtime(e.into()))
        })?;
    let out = PyDict::new(py);
    for o in outputs {
        let arr: Bound<'py, PyAny> = match o.values {
            edgeintent::OutputValues::Float(v) => PyArray1::from_vec(py, v).into_any(),
            edgeintent::OutputValues::Int(v) => PyArray1::from_vec(py, v).into_any(),
            edgeintent::OutputValues::Text(v) => v.into_pyobject(py)?.into_any(),
        };
        out.set_item(o.name, (arr, o.shape))?;
    }
    Ok(out)
}

/// The package's version.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The value columns `featurize` writes for a config (after `ts_ms` and `point`).
#[pyfunction]
#[pyo3(signature = (config_path=None, config_json=None, base_dir=None, with_sequence=false))]
fn feature_columns(
    config_path: Option<PathBuf>,
    config_json: Option<String>,
    base_dir: Option<PathBuf>,
    with_sequence: bool,
) -> PyResult<Vec<String>> {
    let config = load_config(config_path, config_json, base_dir)?;
    Ok(edgeintent_offline::feature_columns(
        config.features(),
        with_sequence,
    ))
}

/// The feature spec's identity as training needs it (hash, version,
/// names, sequence length) and the spec itself, as JSON.
#[pyfunction]
#[pyo3(signature = (config_path=None, config_json=None, base_dir=None))]
fn spec_identity(
    config_path: Option<PathBuf>,
    config_json: Option<String>,
    base_dir: Option<PathBuf>,
) -> PyResult<String> {
    let config = load_config(config_path, config_json, base_dir)?;
    let mut identity = edgeintent_offline::spec_identity(config.features());
    identity["spec"] = serde_json::json!(config.features());
    to_json(&identity)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("EdgeIntentError", py.get_type::<EdgeIntentError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("EventError", py.get_type::<EventError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("UpdateError", py.get_type::<UpdateError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add_class::<Featurizer>()?;
    m.add_class::<Runtime>()?;
    m.add_class::<Evaluator>()?;
    m.add_function(wrap_pyfunction!(replay, m)?)?;
    m.add_function(wrap_pyfunction!(predict, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(feature_columns, m)?)?;
    m.add_function(wrap_pyfunction!(spec_identity, m)?)?;
    Ok(())
}
