//! `edgeintent._native`: the Rust core for Python. The featurizer, the
//! runtime, replay, evaluation and `predict`, with Arrow data crossing the
//! boundary through the Arrow C data interface (no Python object per row),
//! the GIL released while Rust works, and typed exceptions carrying the
//! runtime's messages. `python/edgeintent/` is the public face.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arrow_array::builder::{Float32Builder, StringBuilder};
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use edgeintent::offline::refresh_eval as eval;
use edgeintent::offline::{FeatureRows, FeaturizeOptions, ReadOptions, TraceItem};
use edgeintent::{Config, Parsed, TraceError};
use numpy::{PyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::input::AnyRecordBatch;
use pyo3_arrow::PyRecordBatch;

mod events;

use events::EventColumns;

create_exception!(
    _native,
    EdgeIntentError,
    PyException,
    "Anything edgeintent refused; the message says what and what to do."
);
create_exception!(
    _native,
    ConfigError,
    EdgeIntentError,
    "The config is unusable."
);
create_exception!(
    _native,
    EventError,
    EdgeIntentError,
    "An event or trace line is invalid."
);
create_exception!(
    _native,
    ModelError,
    EdgeIntentError,
    "The model cannot be loaded or run."
);
create_exception!(
    _native,
    UpdateError,
    EdgeIntentError,
    "A live update was refused."
);
create_exception!(
    _native,
    InputError,
    EdgeIntentError,
    "An input (file, Arrow columns, array) cannot be used."
);

/// The Python exception for a runtime error, carrying its message.
fn to_py(e: edgeintent::Error) -> PyErr {
    use edgeintent::Error as E;
    let msg = e.to_string();
    match e {
        E::Config(_) | E::Spec(_) => ConfigError::new_err(msg),
        E::Model(_) => ModelError::new_err(msg),
        E::Event(_) | E::Trace(_) | E::TraceFile { .. } => EventError::new_err(msg),
        E::Update(_) => UpdateError::new_err(msg),
        E::Io { .. } | E::NothingTo { .. } => InputError::new_err(msg),
        _ => EdgeIntentError::new_err(msg),
    }
}

fn input_err(msg: impl Into<String>) -> PyErr {
    InputError::new_err(msg.into())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads a config: from the file `path`, or from JSON text whose relative
/// paths (the model's) are resolved against `base_dir`.
fn load_config(
    path: Option<PathBuf>,
    json: Option<String>,
    base_dir: Option<PathBuf>,
) -> PyResult<Config> {
    match (path, json) {
        (Some(p), None) => Config::from_file(&p).map_err(|e| to_py(e.into())),
        (None, Some(text)) => {
            let base = base_dir.unwrap_or_else(|| PathBuf::from("."));
            Config::from_json(&text, &base, "<config given from Python>")
                .map_err(|e| to_py(e.into()))
        }
        _ => Err(input_err(
            "give a config: a path to a config file, or the config as a dict or JSON text",
        )),
    }
}

fn to_json(v: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| EdgeIntentError::new_err(e.to_string()))
}

/// The batches of any Arrow input (a table, a batch, a stream).
fn batches(data: AnyRecordBatch) -> PyResult<Vec<RecordBatch>> {
    let reader = data.into_reader()?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| input_err(format!("reading the Arrow input: {e}")))
}

fn to_pyarrow(py: Python<'_>, batch: RecordBatch) -> PyResult<Py<PyAny>> {
    Ok(PyRecordBatch::new(batch).into_pyarrow(py)?.unbind())
}

/// The records of Arrow batches as a trace reader yields them, numbered from 1.
fn trace_items(batches: &[RecordBatch]) -> Result<Vec<TraceItem>, String> {
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
type FileItems = edgeintent::TraceReader<std::io::BufReader<std::fs::File>>;

/// Opens a trace file; the error names it.
fn file_items(path: &Path) -> PyResult<FileItems> {
    let bad = |e: std::io::Error| input_err(format!("{}: {e}", path.display()));
    edgeintent::limits::ensure_regular_file(path).map_err(bad)?;
    let file = std::fs::File::open(path).map_err(bad)?;
    Ok(edgeintent::TraceReader::new(std::io::BufReader::new(file)))
}

// ---------------------------------------------------------------- featurize

struct FeatState {
    f: edgeintent::offline::Featurizer,
    /// The user whose stream is being featurized, and whether one started.
    user: Option<String>,
    started: bool,
    line: usize,
    rows: FeatureRows,
    out: OutRows,
}

/// Rows gathered for one output batch, each tagged with its user.
#[derive(Default)]
struct OutRows {
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

    fn start(&mut self, user: Option<&str>) -> Result<(), edgeintent::Error> {
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

/// An error made without the GIL, turned into a Python exception after.
enum PyErrText {
    Input(String),
    Runtime(edgeintent::Error),
}

impl From<PyErrText> for PyErr {
    fn from(e: PyErrText) -> PyErr {
        match e {
            PyErrText::Input(m) => input_err(m),
            PyErrText::Runtime(e) => to_py(e),
        }
    }
}

fn in_user(e: TraceError, user: Option<&str>) -> edgeintent::Error {
    match user {
        Some(u) => edgeintent::Error::TraceFile {
            path: format!("user {u:?}"),
            source: e,
        },
        None => e.into(),
    }
}

/// Featurizes users' event streams into training rows, one user after
/// another, with one runtime built once from the config: the same rows as
/// `edgeintent featurize` on each user's trace.
#[pyclass(module = "edgeintent._native", frozen)]
struct Featurizer {
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
        let f = edgeintent::offline::Featurizer::new(
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
                    PyErrText::Runtime(edgeintent::Error::TraceFile {
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

// ------------------------------------------------------------------ runtime

/// The on-device runtime for one user, driven from Python.
#[pyclass(module = "edgeintent._native", frozen)]
struct Runtime {
    rt: Mutex<edgeintent::Runtime>,
}

#[pymethods]
impl Runtime {
    #[new]
    #[pyo3(signature = (config_path=None, config_json=None, base_dir=None, user_id=None))]
    fn new(
        config_path: Option<PathBuf>,
        config_json: Option<String>,
        base_dir: Option<PathBuf>,
        user_id: Option<String>,
    ) -> PyResult<Runtime> {
        let config = load_config(config_path, config_json, base_dir)?;
        let mut b = edgeintent::Runtime::builder().config(config);
        if let Some(id) = user_id {
            b = b.user_id(id);
        }
        Ok(Runtime {
            rt: Mutex::new(b.build().map_err(to_py)?),
        })
    }

    /// Processes one event given as a JSON object (text). Returns False for
    /// a `type` this version does not know (skipped, as on a device).
    fn push_json(&self, event: &str) -> PyResult<bool> {
        match edgeintent::parse_line(event) {
            Ok(Parsed::Event(e)) => {
                lock(&self.rt).process(e).map_err(|e| to_py(e.into()))?;
                Ok(true)
            }
            Ok(Parsed::Unknown { .. }) => Ok(false),
            Err(e) => Err(to_py(e.into())),
        }
    }

    /// Processes the events of an Arrow batch or table in order; returns
    /// how many were accepted. Stops at the first bad event (those before
    /// it stay accepted) unless `skip_invalid`.
    #[pyo3(signature = (data, skip_invalid=false))]
    fn push_arrow(
        &self,
        py: Python<'_>,
        data: AnyRecordBatch,
        skip_invalid: bool,
    ) -> PyResult<u64> {
        let batches = batches(data)?;
        py.detach(|| -> Result<u64, PyErrText> {
            let items = trace_items(&batches).map_err(PyErrText::Input)?;
            let mut rt = lock(&self.rt);
            let mut n = 0;
            for item in items {
                let r = match item {
                    Ok((line, Parsed::Event(e))) => rt
                        .process(e)
                        .map(|()| n += 1)
                        .map_err(|source| TraceError::Line { line, source }),
                    Ok((_, Parsed::Unknown { .. })) => Ok(()),
                    Err(e) => Err(e),
                };
                if let Err(e) = r {
                    if !skip_invalid {
                        return Err(PyErrText::Runtime(e.into()));
                    }
                }
            }
            Ok(n)
        })
        .map_err(PyErr::from)
    }

    /// Moves time on to `now_ms` without an event (periodic ticks); an
    /// EventError when it is further ahead of the newest event than a
    /// clock jump may be.
    fn tick(&self, now_ms: i64) -> PyResult<()> {
        lock(&self.rt).tick(now_ms).map_err(|e| to_py(e.into()))
    }

    /// When the runtime next needs a tick, if ever.
    fn next_wakeup_ms(&self) -> Option<i64> {
        lock(&self.rt).next_wakeup_ms()
    }

    /// The next decision as its JSON line, or None.
    fn poll_json(&self) -> Option<String> {
        let mut rt = lock(&self.rt);
        rt.poll().map(|d| rt.decision_json(&d))
    }

    /// The counters, model status, monitors and versions, as JSON.
    fn stats_json(&self) -> PyResult<String> {
        to_json(&lock(&self.rt).stats())
    }

    /// Applies a signed config update package; raises UpdateError when refused.
    fn update_config(&self, package: &[u8]) -> PyResult<String> {
        let outcome = lock(&self.rt)
            .update_config(package)
            .map_err(|e| to_py(e.into()))?;
        Ok(format!("{outcome:?}"))
    }

    /// Applies a signed model update package; raises UpdateError when refused.
    fn update_model(&self, package: &[u8]) -> PyResult<String> {
        let outcome = lock(&self.rt)
            .update_model(package)
            .map_err(|e| to_py(e.into()))?;
        Ok(format!("{outcome:?}"))
    }
}

// ------------------------------------------------------------------- replay

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
        Some(p) => edgeintent::offline::UpdateSchedule::from_file(p).map_err(to_py)?,
        None => edgeintent::offline::UpdateSchedule::default(),
    };
    let (batch, summary) = py.detach(|| -> Result<(RecordBatch, String), PyErrText> {
        let mut b = edgeintent::Runtime::builder().config(config);
        if let Some(id) = user_id {
            b = b.user_id(id);
        }
        if let Some(a) = arm {
            b = b.force_arm(a);
        }
        let mut rt = b.build().map_err(PyErrText::Runtime)?;
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
            edgeintent::offline::replay_with_updates(&mut rt, items, read, &schedule, |d, line| {
                ts.push(d.ts_ms);
                action.append_value(d.action.name());
                reason.append_value(d.reason.as_str());
                json.append_value(line);
                Ok(())
            })
            .map_err(|e| match &path {
                Some(p) => match e {
                    edgeintent::Error::Trace(source) => {
                        PyErrText::Runtime(edgeintent::Error::TraceFile {
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

/// One user's events and truth records, gathered while a partition streams by.
#[derive(Default)]
struct UserGather {
    user: Option<String>,
    events: Vec<edgeintent::Event>,
    truth: String,
}

struct EvalState {
    tallies: Vec<eval::Tally>,
    events: u64,
    users: u64,
    gather: Option<UserGather>,
}

/// Scores refresh policies against ground truth user by user, so an
/// evaluation can be split over many machines and its counts summed: the
/// same report as `edgeintent evaluate` on the same traces.
#[pyclass(module = "edgeintent._native", frozen)]
struct Evaluator {
    candidates: Vec<eval::Candidate>,
    mode: eval::Loop,
    state: Mutex<EvalState>,
}

impl Evaluator {
    fn score(
        &self,
        name: String,
        events: Vec<edgeintent::Event>,
        truth: &str,
    ) -> Result<Vec<eval::Tally>, edgeintent::Error> {
        let truth = eval::Truth::from_reader(truth.as_bytes(), &format!("truth of {name}"))?;
        let sc = eval::Scenario {
            name,
            events,
            truth,
        };
        eval::tally_scenario(&self.candidates, &sc, self.mode)
    }

    fn add(st: &mut EvalState, tallies: &[eval::Tally], events: u64) {
        for (t, u) in st.tallies.iter_mut().zip(tallies) {
            t.merge(u);
        }
        st.events += events;
        st.users += 1;
    }

    fn finish_user(&self, st: &mut EvalState) -> Result<(), edgeintent::Error> {
        if let Some(g) = st.gather.take() {
            let n = g.events.len() as u64;
            let name = g.user.clone().unwrap_or_default();
            let t = self.score(format!("user {name:?}"), g.events, &g.truth)?;
            Self::add(st, &t, n);
        }
        Ok(())
    }
}

#[pymethods]
impl Evaluator {
    #[new]
    #[pyo3(signature = (config_path=None, config_json=None, base_dir=None, sweep=vec![], user_id=None, updates=None, closed_loop=false))]
    fn new(
        config_path: Option<PathBuf>,
        config_json: Option<String>,
        base_dir: Option<PathBuf>,
        sweep: Vec<f32>,
        user_id: Option<String>,
        updates: Option<PathBuf>,
        closed_loop: bool,
    ) -> PyResult<Evaluator> {
        let config = load_config(config_path, config_json, base_dir)?;
        let schedule = match &updates {
            Some(p) => Some(Arc::new(
                edgeintent::offline::UpdateSchedule::from_file(p).map_err(to_py)?,
            )),
            None => None,
        };
        let candidates =
            eval::evaluation_candidates(&config, &sweep, user_id.as_deref(), schedule.as_ref())
                .map_err(to_py)?;
        let n = candidates.len();
        Ok(Evaluator {
            candidates,
            mode: if closed_loop {
                eval::Loop::Closed
            } else {
                eval::Loop::Open
            },
            state: Mutex::new(EvalState {
                tallies: vec![eval::Tally::default(); n],
                events: 0,
                users: 0,
                gather: None,
            }),
        })
    }

    /// The names of the policies compared, ours first.
    #[getter]
    fn candidates(&self) -> Vec<String> {
        self.candidates.iter().map(|c| c.name.clone()).collect()
    }

    /// Scores one trace file against its truth file and adds the counts.
    #[pyo3(signature = (trace, truth, skip_invalid=false))]
    fn add_files(
        &self,
        py: Python<'_>,
        trace: PathBuf,
        truth: PathBuf,
        skip_invalid: bool,
    ) -> PyResult<()> {
        let truth_text = std::fs::read_to_string(&truth)
            .map_err(|e| input_err(format!("{}: {e}", truth.display())))?;
        py.detach(|| -> Result<(), edgeintent::Error> {
            let events = edgeintent::offline::load_trace(&trace, skip_invalid)?.events;
            let n = events.len() as u64;
            let t = self.score(trace.display().to_string(), events, &truth_text)?;
            Self::add(&mut lock(&self.state), &t, n);
            Ok(())
        })
        .map_err(to_py)
    }

    /// Scores one user's events (Arrow) against truth records (JSON Lines
    /// text) and adds the counts.
    fn add_user(&self, py: Python<'_>, events: AnyRecordBatch, truth: String) -> PyResult<()> {
        let b = batches(events)?;
        py.detach(|| -> Result<(), PyErrText> {
            let mut evs = Vec::new();
            for item in trace_items(&b).map_err(PyErrText::Input)? {
                match item.map_err(|e| PyErrText::Runtime(e.into()))? {
                    (_, Parsed::Event(e)) => evs.push(e),
                    (_, Parsed::Unknown { .. }) => {}
                }
            }
            let n = evs.len() as u64;
            let t = self
                .score("events".into(), evs, &truth)
                .map_err(PyErrText::Runtime)?;
            Self::add(&mut lock(&self.state), &t, n);
            Ok(())
        })
        .map_err(PyErr::from)
    }

    /// Streams a partition's records, sorted by user: columns `user_id`,
    /// `record` (`"truth"` rows before `"event"` rows of the same user) and
    /// `json` (the record). Each user is scored when the next one begins,
    /// and the last by `finish`; only one user's events are held at a time.
    fn feed(&self, py: Python<'_>, data: AnyRecordBatch) -> PyResult<()> {
        let b = batches(data)?;
        py.detach(|| -> Result<(), PyErrText> {
            let mut st = lock(&self.state);
            for batch in &b {
                let col = |name: &str| -> Result<arrow_array::StringArray, PyErrText> {
                    let c = batch.column_by_name(name).ok_or_else(|| {
                        PyErrText::Input(format!("the evaluation's records need a column `{name}`"))
                    })?;
                    arrow_cast::cast(c, &DataType::Utf8)
                        .map(|a| arrow_array::cast::AsArray::as_string::<i32>(&a).clone())
                        .map_err(|e| PyErrText::Input(format!("column `{name}`: {e}")))
                };
                let (users, records, jsons) = (col("user_id")?, col("record")?, col("json")?);
                for row in 0..batch.num_rows() {
                    let user = arrow_array::Array::is_valid(&users, row).then(|| users.value(row));
                    if st.gather.as_ref().is_none_or(|g| g.user.as_deref() != user) {
                        self.finish_user(&mut st).map_err(PyErrText::Runtime)?;
                        st.gather = Some(UserGather {
                            user: user.map(str::to_owned),
                            ..UserGather::default()
                        });
                    }
                    let g = st.gather.as_mut().expect("a user is being gathered");
                    let json = jsons.value(row);
                    match records.value(row) {
                        "truth" => {
                            g.truth.push_str(json);
                            g.truth.push('\n');
                        }
                        "event" => match edgeintent::parse_line(json) {
                            Ok(Parsed::Event(e)) => g.events.push(e),
                            Ok(Parsed::Unknown { .. }) => {}
                            Err(source) => {
                                let line = g.events.len() + 1;
                                return Err(PyErrText::Runtime(in_user(
                                    TraceError::Line { line, source },
                                    g.user.as_deref(),
                                )));
                            }
                        },
                        other => {
                            return Err(PyErrText::Input(format!(
                                "column `record`: {other:?} is neither \"truth\" nor \"event\""
                            )))
                        }
                    }
                }
            }
            Ok(())
        })
        .map_err(PyErr::from)
    }

    /// Scores the last user fed; returns the summed counts so far as JSON
    /// (`tallies`, one per candidate, `events`, `users`), to merge with others.
    fn finish(&self) -> PyResult<String> {
        let mut st = lock(&self.state);
        self.finish_user(&mut st).map_err(to_py)?;
        to_json(&serde_json::json!({
            "tallies": st.tallies,
            "events": st.events,
            "users": st.users,
        }))
    }

    /// The report (as `edgeintent evaluate --json` prints it) from summed
    /// counts: JSON texts as `finish` returns them, from any number of
    /// evaluators over disjoint users; `traces` names what was evaluated.
    fn report(&self, parts: Vec<String>, traces: Vec<String>) -> PyResult<String> {
        let mut tallies = vec![eval::Tally::default(); self.candidates.len()];
        let mut events = 0;
        for p in &parts {
            let v: serde_json::Value = serde_json::from_str(p)
                .map_err(|e| input_err(format!("a part is not JSON: {e}")))?;
            let t: Vec<eval::Tally> = serde_json::from_value(v["tallies"].clone())
                .map_err(|e| input_err(format!("a part's `tallies`: {e}")))?;
            if t.len() != tallies.len() {
                return Err(to_py(
                    edgeintent::offline::OfflineError::TallyCount {
                        tallies: t.len(),
                        candidates: tallies.len(),
                    }
                    .into(),
                ));
            }
            for (a, b) in tallies.iter_mut().zip(&t) {
                a.merge(b);
            }
            events += v["events"].as_u64().unwrap_or(0);
        }
        let report = eval::report_from_tallies(
            &self.candidates,
            &tallies,
            eval::Totals { traces, events },
            self.mode,
        )
        .map_err(to_py)?;
        to_json(&report)
    }
}

// ------------------------------------------------------------------ predict

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
    Ok(edgeintent::offline::feature_columns(
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
    let mut identity = edgeintent::offline::spec_identity(config.features());
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
