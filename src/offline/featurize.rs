//! Featurizing a trace into training rows: the runtime's own feature state and
//! decision points, so training and serving cannot drift.

use std::io::{BufRead, Write};

use serde::Serialize;

use super::replay::{drive, ReadCounts, ReadOptions};
use crate::config::Config;
use crate::error::Error;
use crate::event::TraceReader;
use crate::runtime::{DecisionPoint, Runtime};

/// What `featurize` writes besides the features.
#[derive(Debug, Clone, Copy, Default)]
pub struct FeaturizeOptions {
    /// Append the last-N event-type ids (`seq_0` oldest .. `seq_{N-1}` newest)
    /// for sequence models; N is the spec's `sequence_length`.
    pub with_sequence: bool,
    /// Let the config's model decide refreshes while featurizing, as it will
    /// when serving, so features that depend on past refreshes
    /// (`since_refresh`) are what the model will see; otherwise the rules
    /// decide alone.
    pub under_model: bool,
}

/// The result of featurizing a trace.
#[derive(Debug, Clone, Serialize)]
pub struct FeaturizeSummary {
    /// What the trace held.
    pub read: ReadCounts,
    /// Rows written (one per decision point).
    pub rows: u64,
    /// Hash of the feature spec the rows were computed with.
    pub feature_spec_hash: String,
    /// Its version label.
    pub feature_spec_version: String,
    /// Column names after `ts_ms` and `point`.
    pub feature_names: Vec<String>,
}

/// Writes one CSV row per decision point (`ts_ms,point,<features...>`, raw,
/// before normalisation), computed by the runtime itself, so the rows are
/// exactly what the serving runtime computes. Refreshes are decided by the
/// rules alone, or with `under_model` by the config's model too.
pub fn featurize<R: BufRead, W: Write>(
    config: Config,
    reader: TraceReader<R>,
    opts: ReadOptions,
    what: FeaturizeOptions,
    mut out: W,
) -> Result<FeaturizeSummary, Error> {
    let spec = config.features().clone();
    let with_sequence = what.with_sequence;
    let (tx, rx) = crossbeam_channel::unbounded::<(i64, DecisionPoint, Vec<f32>)>();
    let mut builder = Runtime::builder().config(config);
    if !what.under_model {
        builder = builder.without_model();
    }
    let mut rt = builder
        .row_sink(Box::new(move |ts, point, row, seq| {
            let mut v = row.to_vec();
            if with_sequence {
                v.extend_from_slice(seq);
            }
            let _ = tx.send((ts, point, v));
        }))
        .build()?;
    let io_err = |e: std::io::Error| Error::Io {
        path: "<featurize output>".into(),
        why: e.to_string(),
    };
    let names: Vec<String> = spec.names().map(str::to_owned).collect();
    let mut columns = names.clone();
    if with_sequence {
        columns.extend((0..spec.sequence_length).map(|i| format!("seq_{i}")));
    }
    writeln!(out, "ts_ms,point,{}", columns.join(",")).map_err(io_err)?;
    let mut rows = 0u64;
    let mut line = String::new();
    let mut write_rows = || -> Result<(), Error> {
        for (ts, point, row) in rx.try_iter() {
            use std::fmt::Write as _;
            line.clear();
            let _ = write!(line, "{ts},{}", point.name());
            for v in &row {
                let _ = write!(line, ",{v}");
            }
            writeln!(out, "{line}").map_err(io_err)?;
            rows += 1;
        }
        Ok(())
    };
    let read = drive(&mut rt, reader, opts, None, |_, _| write_rows())?;
    write_rows()?;
    Ok(FeaturizeSummary {
        read,
        rows,
        feature_spec_hash: spec.hash(),
        feature_spec_version: spec.version.clone(),
        feature_names: names,
    })
}
