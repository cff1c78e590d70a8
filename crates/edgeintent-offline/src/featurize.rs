//! Featurizing traces into training rows: the runtime's own feature state and
//! decision points, so training and serving cannot drift. One [`Featurizer`]
//! serves the CLI (a trace file), the Python package and Spark (many users'
//! streams, one after another, in batches).

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use super::replay::{Driver, ReadCounts, ReadOptions, TraceItem};
use crate::error::Error;
use edgeintent::Config;
use edgeintent::FeatureSpec;
#[cfg(test)]
use edgeintent::TraceReader;
use edgeintent::{DecisionPoint, Runtime};
use edgeintent::{Event, Parsed, TraceError};

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

/// The value columns of `featurize`'s rows after `ts_ms` and `point`: the
/// feature names, then `seq_0..` when sequences are asked for.
pub fn feature_columns(spec: &FeatureSpec, with_sequence: bool) -> Vec<String> {
    let mut columns: Vec<String> = spec.names().map(str::to_owned).collect();
    if with_sequence {
        columns.extend((0..spec.sequence_length).map(|i| format!("seq_{i}")));
    }
    columns
}

/// What training needs to know about a feature spec: hash, version, names,
/// sequence length (`edgeintent spec`, and the `.spec.json` beside rows).
pub fn spec_identity(spec: &FeatureSpec) -> serde_json::Value {
    serde_json::json!({
        "feature_spec_hash": spec.hash(),
        "feature_spec_version": spec.version,
        "feature_names": spec.names().collect::<Vec<_>>(),
        "sequence_length": spec.sequence_length,
    })
}

/// Training rows, one per decision point: what a [`Featurizer`] hands out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureRows {
    /// The time of each row.
    pub ts_ms: Vec<i64>,
    /// The decision point of each row.
    pub point: Vec<DecisionPoint>,
    /// The raw values (before normalisation), row after row, `width` each:
    /// the features, then the sequence ids when asked for.
    pub values: Vec<f32>,
    /// Values per row.
    pub width: usize,
}

impl FeatureRows {
    /// Rows held.
    pub fn len(&self) -> usize {
        self.ts_ms.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.ts_ms.is_empty()
    }

    /// The values of row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.width..(i + 1) * self.width]
    }

    /// Forgets every row, keeping the width and the memory.
    pub fn clear(&mut self) {
        self.ts_ms.clear();
        self.point.clear();
        self.values.clear();
    }
}

/// Turns users' event streams into training rows, one user after another,
/// with one runtime built once from the config (the model, when asked for,
/// is loaded once). Rows come out as events go in, so memory is bounded by
/// what the caller takes at a time, not by the longest user.
pub struct Featurizer {
    rt: Runtime,
    rows: Arc<Mutex<FeatureRows>>,
    driver: Driver,
    read: ReadOptions,
    spec: FeatureSpec,
    columns: Vec<String>,
    user_started: bool,
}

impl std::fmt::Debug for Featurizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Featurizer")
            .field("columns", &self.columns)
            .field("read", &self.driver.counts)
            .finish_non_exhaustive()
    }
}

impl Featurizer {
    /// A featurizer for `config`'s feature spec. `read` says what to do with
    /// bad events (`skip_invalid`) and location fixes.
    pub fn new(
        config: Config,
        read: ReadOptions,
        what: FeaturizeOptions,
    ) -> Result<Featurizer, Error> {
        let spec = config.features().clone();
        let columns = feature_columns(&spec, what.with_sequence);
        let rows = Arc::new(Mutex::new(FeatureRows {
            width: columns.len(),
            ..FeatureRows::default()
        }));
        let sink = Arc::clone(&rows);
        let with_sequence = what.with_sequence;
        let mut builder = Runtime::builder().config(config);
        if !what.under_model {
            builder = builder.without_model();
        }
        let rt = builder
            .on_decision_point(move |p| {
                let mut r = sink.lock().unwrap_or_else(PoisonError::into_inner);
                r.ts_ms.push(p.ts_ms);
                r.point.push(p.point);
                r.values.extend_from_slice(p.features);
                if with_sequence {
                    r.values.extend_from_slice(p.sequence);
                }
            })
            .build()?;
        Ok(Featurizer {
            rt,
            rows,
            driver: Driver::new(),
            read,
            spec,
            columns,
            user_started: false,
        })
    }

    /// The value columns of every row, in order: the feature names, then
    /// `seq_0..` when sequences were asked for.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The feature spec the rows are computed with.
    pub fn spec(&self) -> &FeatureSpec {
        &self.spec
    }

    /// Starts the next user's stream from a fresh state, as the app would
    /// for that user (`user_id` picks the A/B bucket when the policy has
    /// buckets). The first user needs no call unless it has an id.
    pub fn start_user(&mut self, user_id: Option<&str>) -> Result<(), Error> {
        if self.user_started || user_id.is_some() {
            self.rt.restart(user_id)?;
        }
        self.user_started = true;
        self.driver.start_user();
        Ok(())
    }

    /// Folds one event of the current user into the state; rows of the
    /// decision points it causes wait for [`Featurizer::take_rows`]. `line`
    /// (1-based) names the event in errors. A bad event is counted and
    /// skipped with `skip_invalid`, and returned as an error otherwise; it
    /// changes nothing either way.
    pub fn push(&mut self, event: Event, line: usize) -> Result<(), TraceError> {
        self.user_started = true;
        match self.driver.event(&mut self.rt, event, self.read, None) {
            Ok(_) => Ok(()),
            Err(source) => self
                .driver
                .invalid(TraceError::Line { line, source }, self.read.skip_invalid),
        }
    }

    /// Counts a record whose `type` this version does not know (it is
    /// skipped, as the runtime would skip it).
    pub fn unknown(&mut self, type_name: String) {
        self.driver.unknown(type_name);
    }

    /// Counts a record that is not an event: skipped with `skip_invalid`,
    /// returned otherwise.
    pub fn unparsed(&mut self, err: TraceError) -> Result<(), TraceError> {
        self.driver.unparsed(err, self.read.skip_invalid)
    }

    /// Moves the rows made so far into `out` (cleared first).
    pub fn take_rows(&mut self, out: &mut FeatureRows) {
        let mut rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        out.clear();
        out.width = rows.width;
        std::mem::swap(&mut *rows, out);
    }

    /// What the streams held so far, over every user.
    pub fn read_counts(&self) -> &ReadCounts {
        &self.driver.counts
    }
}

/// Writes one CSV row per decision point (`ts_ms,point,<features...>`, raw,
/// before normalisation), computed by the runtime itself, so the rows are
/// exactly what the serving runtime computes. Refreshes are decided by the
/// rules alone, or with `under_model` by the config's model too.
pub fn featurize<W: Write>(
    config: Config,
    reader: impl IntoIterator<Item = TraceItem>,
    opts: ReadOptions,
    what: FeaturizeOptions,
    out: W,
) -> Result<FeaturizeSummary, Error> {
    featurize_user(config, None, reader, opts, what, out)
}

/// [`featurize`] for the runtime of the user `user_id` (whose id picks the
/// A/B bucket when the policy has buckets).
pub fn featurize_user<W: Write>(
    config: Config,
    user_id: Option<&str>,
    reader: impl IntoIterator<Item = TraceItem>,
    opts: ReadOptions,
    what: FeaturizeOptions,
    mut out: W,
) -> Result<FeaturizeSummary, Error> {
    let mut f = Featurizer::new(config, opts, what)?;
    f.start_user(user_id)?;
    let io_err = |e: std::io::Error| Error::Io {
        path: "<featurize output>".into(),
        why: e.to_string(),
    };
    writeln!(out, "ts_ms,point,{}", f.columns().join(",")).map_err(io_err)?;
    let mut rows = FeatureRows::default();
    let mut written = 0u64;
    let mut line = String::new();
    let mut write_rows = |f: &mut Featurizer, out: &mut W| -> Result<(), Error> {
        f.take_rows(&mut rows);
        for i in 0..rows.len() {
            use std::fmt::Write as _;
            line.clear();
            let _ = write!(line, "{},{}", rows.ts_ms[i], rows.point[i].name());
            for v in rows.row(i) {
                let _ = write!(line, ",{v}");
            }
            writeln!(out, "{line}").map_err(io_err)?;
        }
        written += rows.len() as u64;
        Ok(())
    };
    for item in reader {
        match item {
            Ok((_, Parsed::Unknown { type_name, .. })) => f.unknown(type_name),
            Ok((line, Parsed::Event(e))) => {
                f.push(e, line)?;
                write_rows(&mut f, &mut out)?;
            }
            Err(e) => f.unparsed(e)?,
        }
    }
    write_rows(&mut f, &mut out)?;
    let spec = f.spec();
    Ok(FeaturizeSummary {
        read: f.read_counts().clone(),
        rows: written,
        feature_spec_hash: spec.hash(),
        feature_spec_version: spec.version.clone(),
        feature_names: spec.names().map(str::to_owned).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Config {
        Config::from_file(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../models/config.json"
        ))
        .unwrap()
    }

    fn events(lines: &str) -> Vec<Event> {
        TraceReader::new(lines.as_bytes())
            .filter_map(|r| match r.unwrap().1 {
                Parsed::Event(e) => Some(e),
                Parsed::Unknown { .. } => None,
            })
            .collect()
    }

    fn rows_of(f: &mut Featurizer, user: &str, evs: &[Event]) -> FeatureRows {
        f.start_user(Some(user)).unwrap();
        for (i, e) in evs.iter().enumerate() {
            f.push(e.clone(), i + 1).unwrap();
        }
        let mut out = FeatureRows::default();
        f.take_rows(&mut out);
        out
    }

    #[test]
    fn one_featurizer_over_many_users_matches_a_fresh_one_per_user() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/example_trace.jsonl"
        ))
        .unwrap();
        let all = events(&text);
        let (a, b) = all.split_at(all.len() / 2);
        let what = FeaturizeOptions {
            with_sequence: true,
            under_model: true,
        };
        let mut shared = Featurizer::new(shipped(), ReadOptions::default(), what).unwrap();
        let first = rows_of(&mut shared, "a", a);
        let second = rows_of(&mut shared, "b", b);
        let mut fresh = Featurizer::new(shipped(), ReadOptions::default(), what).unwrap();
        let alone = rows_of(&mut fresh, "b", b);
        assert!(!first.is_empty() && !alone.is_empty());
        assert_eq!(second, alone);
        assert_eq!(shared.read_counts().events, all.len() as u64);
    }

    #[test]
    fn a_bad_event_is_named_and_skipped_only_when_asked() {
        let evs = events(
            "{\"ts_ms\":1000,\"type\":\"app_foreground\"}\n{\"ts_ms\":2000,\"type\":\"page_view\",\"page\":\"home\"}\n",
        );
        let late = Event {
            ts_ms: -10_000_000_000,
            ..evs[0].clone()
        };
        for skip in [false, true] {
            let read = ReadOptions {
                skip_invalid: skip,
                ..ReadOptions::default()
            };
            let mut f = Featurizer::new(shipped(), read, FeaturizeOptions::default()).unwrap();
            f.push(evs[0].clone(), 1).unwrap();
            let r = f.push(late.clone(), 2);
            assert_eq!(r.is_err(), !skip, "{r:?}");
            f.push(evs[1].clone(), 3).unwrap();
            let mut out = FeatureRows::default();
            f.take_rows(&mut out);
            assert_eq!(out.ts_ms, [1000, 2000]);
            assert_eq!(f.read_counts().skipped_invalid, u64::from(skip));
        }
    }
}
