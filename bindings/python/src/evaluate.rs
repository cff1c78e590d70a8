//! The refresh evaluation over many users: tallies per user, merged.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::convert::*;
use crate::errors::*;
use arrow_schema::DataType;
use edgeintent::{Parsed, TraceError};
use edgeintent_offline::refresh_eval as eval;
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;

/// One user's events and truth records, gathered while a partition streams by.
#[derive(Default)]
pub(crate) struct UserGather {
    user: Option<String>,
    events: Vec<edgeintent::Event>,
    truth: String,
}

pub(crate) struct EvalState {
    tallies: Vec<eval::Tally>,
    events: u64,
    users: u64,
    gather: Option<UserGather>,
}

/// Scores refresh policies against ground truth user by user, so an
/// evaluation can be split over many machines and its counts summed: the
/// same report as `edgeintent evaluate` on the same traces.
#[pyclass(module = "edgeintent._native", frozen)]
pub(crate) struct Evaluator {
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
    ) -> Result<Vec<eval::Tally>, edgeintent_offline::Error> {
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

    fn finish_user(&self, st: &mut EvalState) -> Result<(), edgeintent_offline::Error> {
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
                edgeintent_offline::UpdateSchedule::from_file(p).map_err(to_py)?,
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
        py.detach(|| -> Result<(), edgeintent_offline::Error> {
            let events = edgeintent_offline::load_trace(&trace, skip_invalid)?.events;
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
                return Err(to_py(edgeintent_offline::OfflineError::TallyCount {
                    tallies: t.len(),
                    candidates: tallies.len(),
                }));
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
