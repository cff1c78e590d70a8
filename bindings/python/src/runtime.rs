//! The runtime for Python: one user's events in, decisions out.

use std::path::PathBuf;
use std::sync::Mutex;

use crate::convert::*;
use crate::errors::*;
use edgeintent::{Parsed, TraceError};
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;

/// The on-device runtime for one user, driven from Python.
#[pyclass(module = "edgeintent._native", frozen)]
pub(crate) struct Runtime {
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
                lock(&self.rt).process(e).map_err(to_py)?;
                Ok(true)
            }
            Ok(Parsed::Unknown { .. }) => Ok(false),
            Err(e) => Err(to_py(e)),
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
        lock(&self.rt).tick(now_ms).map_err(to_py)
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
        let outcome = lock(&self.rt).update_config(package).map_err(to_py)?;
        Ok(format!("{outcome:?}"))
    }

    /// Applies a signed model update package; raises UpdateError when refused.
    fn update_model(&self, package: &[u8]) -> PyResult<String> {
        let outcome = lock(&self.rt).update_model(package).map_err(to_py)?;
        Ok(format!("{outcome:?}"))
    }
}
