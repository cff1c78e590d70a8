//! Offline work on traces, behind the `offline` feature and never in the device
//! library: replay, featurize, the refresh, geofence and de-duplication
//! evaluations, and the benchmark harness. Everything here drives the same
//! [`crate::Runtime`] an app embeds, so offline results are what the app would do.

pub mod bench;
pub mod conformance;
mod dedup_eval;
pub mod featurize;
pub mod geo_eval;
pub mod refresh_eval;
pub mod replay;
pub mod timeline;
pub mod updates;

pub use crate::error::OfflineError;
pub use dedup_eval::{dedup_eval, DedupReport};
pub use featurize::{
    feature_columns, featurize, featurize_user, spec_identity, FeatureRows, FeaturizeOptions,
    FeaturizeSummary, Featurizer,
};
pub use replay::{
    load_trace, replay, replay_with_updates, LoadedTrace, ReadCounts, ReadOptions, ReplaySummary,
    TraceItem,
};
pub use timeline::{
    page_file_name, replay_timeline, timeline_html, timeline_index_html, trace_events_json,
    IndexEntry, Timeline,
};
pub use updates::{UpdateRecord, UpdateSchedule};

use crate::error::Error;
use std::io::BufRead;

/// Opens a file for buffered reading; the error names it.
pub(crate) fn open(path: &std::path::Path) -> Result<std::io::BufReader<std::fs::File>, Error> {
    crate::limits::ensure_regular_file(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    let f = std::fs::File::open(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    Ok(std::io::BufReader::new(f))
}

/// Feeds every non-blank JSON Lines record of `input` to `f`, which gets a
/// maker of errors that name `origin` and the line.
pub(crate) fn read_records<T: serde::de::DeserializeOwned>(
    input: impl BufRead,
    origin: &str,
    mut f: impl FnMut(T, &dyn Fn(String) -> Error) -> Result<(), Error>,
) -> Result<(), Error> {
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| Error::Io {
            path: origin.to_owned(),
            why: e.to_string(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| Error::Io {
            path: origin.to_owned(),
            why: format!("line {}: {why}", i + 1),
        };
        let record = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        f(record, &bad)?;
    }
    Ok(())
}
