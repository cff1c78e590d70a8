//! Turning what Python hands over into what the runtime takes: configs,
//! Arrow batches, trace files; and results back.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::errors::*;
use crate::events::EventColumns;
use arrow_array::RecordBatch;
use edgeintent::{Config, TraceError};
use edgeintent_offline::TraceItem;
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;
use pyo3_arrow::PyRecordBatch;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads a config: from the file `path`, or from JSON text whose relative
/// paths (the model's) are resolved against `base_dir`.
pub(crate) fn load_config(
    path: Option<PathBuf>,
    json: Option<String>,
    base_dir: Option<PathBuf>,
) -> PyResult<Config> {
    match (path, json) {
        (Some(p), None) => Config::from_file(&p).map_err(to_py),
        (None, Some(text)) => {
            let base = base_dir.unwrap_or_else(|| PathBuf::from("."));
            Config::from_json(&text, &base, "<config given from Python>").map_err(to_py)
        }
        _ => Err(input_err(
            "give a config: a path to a config file, or the config as a dict or JSON text",
        )),
    }
}

pub(crate) fn to_json(v: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| EdgeIntentError::new_err(e.to_string()))
}

/// The batches of any Arrow input (a table, a batch, a stream).
pub(crate) fn batches(data: AnyRecordBatch) -> PyResult<Vec<RecordBatch>> {
    let reader = data.into_reader()?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| input_err(format!("reading the Arrow input: {e}")))
}

pub(crate) fn to_pyarrow(py: Python<'_>, batch: RecordBatch) -> PyResult<Py<PyAny>> {
    Ok(PyRecordBatch::new(batch).into_pyarrow(py)?.unbind())
}

/// The records of Arrow batches as a trace reader yields them, numbered from 1.
pub(crate) fn trace_items(batches: &[RecordBatch]) -> Result<Vec<TraceItem>, String> {
    let mut items = Vec::new();
    let mut line = 0;
    for b in batches {
        let cols = EventColumns::new(b)?;
        for row in 0..cols.len() {
            line += 1;
            items.push(
                cols.parse(row)
                    .map(|p| (line, p))
                    .map_err(|source| TraceError::Line { line, source }),
            );
        }
    }
    Ok(items)
}

/// The records of a trace file, read as the CLI reads it, one at a time.
pub(crate) type FileItems = edgeintent::TraceReader<std::io::BufReader<std::fs::File>>;

/// Opens a trace file; the error names it.
pub(crate) fn file_items(path: &Path) -> PyResult<FileItems> {
    let bad = |e: std::io::Error| input_err(format!("{}: {e}", path.display()));
    edgeintent::limits::ensure_regular_file(path).map_err(bad)?;
    let file = std::fs::File::open(path).map_err(bad)?;
    Ok(edgeintent::TraceReader::new(std::io::BufReader::new(file)))
}
