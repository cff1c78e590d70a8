//! The featurizer: training rows from users' events, one user at a time.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::convert::*;
use crate::errors::*;
use crate::events::EventColumns;
use arrow_array::builder::{Float32Builder, StringBuilder};
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use edgeintent::{Parsed, TraceError};
use edgeintent_offline::{FeatureRows, FeaturizeOptions, ReadOptions, TraceItem};
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;

pub(crate) struct FeatState {
    f: edgeintent_offline::Featurizer,
    /// The user whose stream is being featurized, and whether one started.
    user: Option<String>,
    started: bool,
    line: usize,
    rows: FeatureRows,
    out: OutRows,
}

/// Rows gathered for one output batch, each tagged with its user.
#[derive(Default)]
pub(crate) struct OutRows {
    users: Vec<Option<String>>,
    ts: Vec<i64>,
    point: Vec<&'static str>,
    values: Vec<f32>,
}

impl FeatState {
    /// Moves the featurizer's rows into the output, tagged with the current user.
    fn collect(&mut self) {
        self.f.take_rows(&mut self.rows);
        for i in 0..self.rows.len() {
            self.out.users.push(self.user.clone());
            self.out.ts.push(self.rows.ts_ms[i]);
            self.out.point.push(self.rows.point[i].name());
        }
        self.out.values.extend_from_slice(&self.rows.values);
    }

    fn start(&mut self, user: Option<&str>) -> Result<(), edgeintent_offline::Error> {
        self.collect();
        self.f.start_user(user)?;
        self.user = user.map(str::to_owned);
        self.started = true;
        self.line = 0;
        Ok(())
    }

    fn item(&mut self, item: TraceItem) -> Result<(), TraceError> {
        match item {
            Ok((line, Parsed::Event(e))) => self.f.push(e, line),
            Ok((_, Parsed::Unknown { type_name, .. })) => {
                self.f.unknown(type_name);
                Ok(())
            }
            Err(e) => self.f.unparsed(e),
        }
    }

    fn feed(&mut self, batches: &[RecordBatch]) -> Result<(), PyErrText> {
        for b in batches {
            let cols = EventColumns::new(b).map_err(PyErrText::Input)?;
            for row in 0..cols.len() {
                let user = cols.user(row);
                if !self.started || (cols.has_users() && user != self.user.as_deref()) {
                    self.start(user).map_err(PyErrText::Runtime)?;
                }
                self.line += 1;
                let line = self.line;
                let item = cols
                    .parse(row)
                    .map(|p| (line, p))
                    .map_err(|source| TraceError::Line { line, source });
                self.item(item)
                    .map_err(|e| PyErrText::Runtime(in_user(e, self.user.as_deref())))?;
            }
        }
        self.collect();
        Ok(())
    }

    /// The rows gathered so far as one Arrow batch (and forgets them).
    fn batch(&mut self, schema: &SchemaRef, with_users: bool) -> Result<RecordBatch, String> {
        let out = std::mem::take(&mut self.out);
        let width = self.f.columns().len();
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(width + 3);
        if with_users {
            let mut b = StringBuilder::new();
            for u in &out.users {
                b.append_option(u.as_deref());
            }
            cols.push(Arc::new(b.finish()));
        }
        cols.push(Arc::new(Int64Array::from(out.ts)));
        let mut p = StringBuilder::new();
        for s in &out.point {
            p.append_value(s);
        }
        cols.push(Arc::new(p.finish()));
        let n = out.users.len();
        for c in 0..width {
            let mut b = Float32Builder::with_capacity(n);
            for r in 0..n {
                b.append_value(out.values[r * width + c]);
            }
            cols.push(Arc::new(b.finish()));
        }
        RecordBatch::try_new(Arc::clone(schema), cols).map_err(|e| e.to_string())
    }
}

/// Featurizes users' event streams into training rows, one user after
/// another, with one runtime built once from the config: the same rows as
/// `edgeintent featurize` on each user's trace.
#[pyclass(module = "edgeintent._native", frozen)]
pub(crate) struct Featurizer {
    state: Mutex<FeatState>,
    columns: Vec<String>,
}

#[pymethods]
impl Featurizer {
    #[new]
    #[pyo3(signature = (config_path=None, config_json=None, base_dir=None, with_sequence=false, under_model=false, skip_invalid=false))]
    fn new(
        config_path: Option<PathBuf>,
        config_json: Option<String>,
        base_dir: Option<PathBuf>,
        with_sequence: bool,
        under_model: bool,
        skip_invalid: bool,
    ) -> PyResult<Featurizer> {
        let config = load_config(config_path, config_json, base_dir)?;
        let f = edgeintent_offline::Featurizer::new(
            config,
            ReadOptions {
                skip_invalid,
                ..ReadOptions::default()
            },
            FeaturizeOptions {
                with_sequence,
                under_model,
            },
        )
        .map_err(to_py)?;
        let columns = f.columns().to_vec();
        Ok(Featurizer {
            state: Mutex::new(FeatState {
                f,
                user: None,
                started: false,
                line: 0,
                rows: FeatureRows::default(),
                out: OutRows::default(),
            }),
            columns,
        })
    }

    /// The value columns of each row after `ts_ms` and `point`.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.columns.clone()
    }

    /// Featurizes the events of an Arrow batch, table or stream, continuing
    /// the current user's stream; a new value in the `user_id` column starts
    /// that user afresh. Returns the rows made, as a `pyarrow.RecordBatch`
    /// (with `user_id` first when the input has that column).
    fn feed(&self, py: Python<'_>, data: AnyRecordBatch) -> PyResult<Py<PyAny>> {
        let batches = batches(data)?;
        let with_users = batches
            .first()
            .is_some_and(|b| b.column_by_name("user_id").is_some());
        let schema = self.schema(with_users);
        let batch = py.detach(|| -> Result<RecordBatch, PyErrText> {
            let mut st = lock(&self.state);
            st.feed(&batches)?;
            st.batch(&schema, with_users).map_err(PyErrText::Input)
        })?;
        to_pyarrow(py, batch)
    }

    /// Featurizes a trace file (JSON Lines) as one user, as `edgeintent
    /// featurize` does; returns its rows as a `pyarrow.RecordBatch`.
    #[pyo3(signature = (path, user_id=None))]
    fn feed_file(
        &self,
        py: Python<'_>,
        path: PathBuf,
        user_id: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let items = file_items(&path)?;
        let schema = self.schema(false);
        let batch = py.detach(|| -> Result<RecordBatch, PyErrText> {
            let mut st = lock(&self.state);
            st.start(user_id.as_deref()).map_err(PyErrText::Runtime)?;
            for item in items {
                st.item(item).map_err(|source| {
                    PyErrText::Runtime(edgeintent_offline::Error::TraceFile {
                        path: path.display().to_string(),
                        source,
                    })
                })?;
            }
            st.collect();
            st.batch(&schema, false).map_err(PyErrText::Input)
        })?;
        to_pyarrow(py, batch)
    }

    /// What the streams held so far (events, skipped lines, unknown types), as JSON.
    fn read_counts(&self) -> PyResult<String> {
        let st = lock(&self.state);
        to_json(st.f.read_counts())
    }
}

impl Featurizer {
    fn schema(&self, with_users: bool) -> SchemaRef {
        let mut fields = Vec::with_capacity(self.columns.len() + 3);
        if with_users {
            fields.push(Field::new("user_id", DataType::Utf8, true));
        }
        fields.push(Field::new("ts_ms", DataType::Int64, false));
        fields.push(Field::new("point", DataType::Utf8, false));
        for c in &self.columns {
            fields.push(Field::new(c, DataType::Float32, false));
        }
        Arc::new(Schema::new(fields))
    }
}
