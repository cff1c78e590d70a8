//! Ground truth: when fresh content would have been useful, read from a
//! truth file (`want_fresh` intervals, `interest_shift` records).

use std::io::BufRead;

use serde::Deserialize;

use crate::error::Error;
use crate::files::{open, read_records};

/// Ground truth for one trace: when fresh content would have been useful.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Truth {
    /// `[start_ms, end_ms]` of every `want_fresh` record, sorted by start.
    pub want_fresh: Vec<(i64, i64)>,
    /// `ts_ms` of every `interest_shift` record, sorted.
    pub shifts: Vec<i64>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum TruthRecord {
    WantFresh {
        start_ms: i64,
        end_ms: i64,
    },
    InterestShift {
        ts_ms: i64,
    },
    #[serde(other)]
    Other,
}

impl Truth {
    /// Reads a truth file (JSON Lines, see `training/generate.py`): records of
    /// `kind` `want_fresh` with `start_ms` and `end_ms`, and `interest_shift`
    /// with `ts_ms`; other kinds are ignored.
    pub fn from_reader(input: impl BufRead, origin: &str) -> Result<Truth, Error> {
        let mut want_fresh = Vec::new();
        let mut shifts = Vec::new();
        read_records(input, origin, |record, bad| {
            match record {
                TruthRecord::WantFresh { start_ms, end_ms } if end_ms < start_ms => {
                    return Err(bad(format!(
                        "want_fresh ends ({end_ms}) before it starts ({start_ms})"
                    )))
                }
                TruthRecord::WantFresh { start_ms, end_ms } => want_fresh.push((start_ms, end_ms)),
                TruthRecord::InterestShift { ts_ms } => shifts.push(ts_ms),
                TruthRecord::Other => {}
            }
            Ok(())
        })?;
        want_fresh.sort_unstable();
        shifts.sort_unstable();
        Ok(Truth { want_fresh, shifts })
    }

    /// Reads a truth file from disk.
    pub fn from_file(path: &std::path::Path) -> Result<Truth, Error> {
        Truth::from_reader(open(path)?, &path.display().to_string())
    }
}
