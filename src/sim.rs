//! Offline use of the runtime: replaying a trace into decisions, and
//! featurizing a trace into the rows training uses. Both drive the same
//! [`Runtime`] an app embeds, so offline results are what the app would do.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::Serialize;

use crate::config::Config;
use crate::decision::Decision;
use crate::dedup::{DedupConfig, SlotArbiter, Strategy};
use crate::error::Error;
use crate::event::{Event, EventKind, Parsed, TraceError, TraceReader};
use crate::runtime::{DecisionPoint, Runtime, Stats};

/// How a trace is read: bad lines, and which location fixes reach the runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Skip and count invalid lines instead of stopping at the first.
    pub skip_invalid: bool,
    /// Treat the trace's `location` events as a dense ground-truth stream and
    /// deliver a fix only when the runtime's sampling interval says one is due
    /// (the first fix at or after the due time).
    pub sample_locations: bool,
}

/// What `featurize` writes besides the features.
#[derive(Debug, Clone, Copy, Default)]
pub struct FeaturizeOptions {
    /// Append the last-N event-type ids (`seq_0` oldest .. `seq_{N-1}` newest)
    /// for sequence models; N is the spec's `sequence_length`.
    pub with_sequence: bool,
}

/// What a trace contained, as read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReadCounts {
    /// Non-blank lines read.
    pub lines: u64,
    /// Valid events handed to the runtime.
    pub events: u64,
    /// Lines skipped as invalid (only with `skip_invalid`).
    pub skipped_invalid: u64,
    /// First few skipped lines with their errors.
    pub skipped_examples: Vec<String>,
    /// Lines with an unknown `type`, by type name.
    pub unknown_types: BTreeMap<String, u64>,
    /// `location` events in the trace.
    pub location_fixes: u64,
    /// Of those, fixes delivered to the runtime (all of them unless
    /// `sample_locations`).
    pub location_fixes_used: u64,
    /// Coverage requests answered by the simulated server.
    pub coverage_answers: u64,
}

impl ReadCounts {
    /// Counts a line whose `type` this version does not know.
    fn unknown(&mut self, type_name: String) {
        *self.unknown_types.entry(type_name).or_default() += 1;
    }

    /// Counts a bad line when bad lines are skipped; hands it back otherwise.
    fn invalid(&mut self, err: TraceError, skip_invalid: bool) -> Result<(), TraceError> {
        if !skip_invalid || matches!(err, TraceError::Io(_)) {
            return Err(err);
        }
        self.skipped_invalid += 1;
        if self.skipped_examples.len() < 5 {
            self.skipped_examples.push(err.to_string());
        }
        Ok(())
    }
}

/// A whole trace in memory, for evaluations that replay it many times.
#[derive(Debug, Clone, Default)]
pub struct LoadedTrace {
    /// Its valid, known events in file order.
    pub events: Vec<Event>,
    /// What reading it counted (unknown types, skipped lines).
    pub read: ReadCounts,
}

/// Reads a whole trace file; errors name the file and the line.
pub fn load_trace(path: &Path, skip_invalid: bool) -> Result<LoadedTrace, Error> {
    let in_file = |source| Error::TraceFile {
        path: path.display().to_string(),
        source,
    };
    let file = File::open(path).map_err(|e| in_file(TraceError::Io(e)))?;
    let mut trace = LoadedTrace::default();
    for item in TraceReader::new(BufReader::new(file)) {
        trace.read.lines += 1;
        match item {
            Ok((_, Parsed::Event(e))) => {
                if matches!(e.kind, EventKind::Location { .. }) {
                    trace.read.location_fixes += 1;
                }
                trace.read.events += 1;
                trace.events.push(e);
            }
            Ok((_, Parsed::Unknown { type_name, .. })) => trace.read.unknown(type_name),
            Err(e) => trace.read.invalid(e, skip_invalid).map_err(in_file)?,
        }
    }
    trace.read.location_fixes_used = trace.read.location_fixes;
    Ok(trace)
}

/// Feeds a trace into a runtime, calling `after_event` after each accepted event.
fn drive<R: BufRead>(
    rt: &mut Runtime,
    reader: TraceReader<R>,
    opts: ReadOptions,
    mut after_event: impl FnMut(&mut Runtime) -> Result<(), Error>,
) -> Result<ReadCounts, Error> {
    let mut counts = ReadCounts::default();
    let mut next_fix_due = i64::MIN;
    for item in reader {
        counts.lines += 1;
        let err = match item {
            Ok((_, Parsed::Unknown { type_name, .. })) => {
                counts.unknown(type_name);
                continue;
            }
            Ok((line, Parsed::Event(e))) => {
                let fix = match e.kind {
                    EventKind::Location { lat, lon, .. } => Some((lat, lon)),
                    _ => None,
                };
                if fix.is_some() {
                    counts.location_fixes += 1;
                    if opts.sample_locations && e.ts_ms < next_fix_due {
                        continue;
                    }
                }
                let ts = e.ts_ms;
                match rt.process(e) {
                    Ok(()) => {
                        counts.events += 1;
                        if let Some((lat, lon)) = fix {
                            counts.location_fixes_used += 1;
                            if let Some(s) = rt.location_interval_s() {
                                next_fix_due = ts + (s * 1000.0).round() as i64;
                            }
                            // Offline there is no server: answer a coverage
                            // request with a circle of the same radius here.
                            if let Some(c) = rt.coverage().filter(|_| rt.coverage_requested()) {
                                if rt.set_coverage(lat, lon, c.radius_m).is_ok() {
                                    counts.coverage_answers += 1;
                                }
                            }
                        }
                        after_event(rt)?;
                        continue;
                    }
                    Err(source) => TraceError::Line { line, source },
                }
            }
            Err(e) => e,
        };
        counts.invalid(err, opts.skip_invalid)?;
    }
    Ok(counts)
}

/// The result of a replay.
#[derive(Debug, Clone, Serialize)]
pub struct ReplaySummary {
    /// What the trace held.
    pub read: ReadCounts,
    /// The runtime's counters at the end.
    pub runtime: Stats,
}

/// Replays a trace through `rt`, handing every decision (and its contract JSON
/// line, which for `show` includes the slot's items) to `on_decision` in order.
pub fn replay<R: BufRead>(
    rt: &mut Runtime,
    reader: TraceReader<R>,
    opts: ReadOptions,
    mut on_decision: impl FnMut(&Decision, &str) -> std::io::Result<()>,
) -> Result<ReplaySummary, Error> {
    let mut emit = |rt: &mut Runtime| -> Result<(), Error> {
        while let Some(d) = rt.poll() {
            let json = rt.decision_json(&d);
            on_decision(&d, &json).map_err(|e| Error::Io {
                path: "<decision output>".into(),
                why: e.to_string(),
            })?;
        }
        Ok(())
    };
    let read = drive(rt, reader, opts, &mut emit)?;
    emit(rt)?;
    Ok(ReplaySummary {
        read,
        runtime: rt.stats(),
    })
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
/// before normalisation) with the runtime's rules deciding refreshes (no model),
/// so the rows are exactly what the serving runtime computes.
pub fn featurize<R: BufRead, W: Write>(
    config: Config,
    reader: TraceReader<R>,
    opts: ReadOptions,
    what: FeaturizeOptions,
    mut out: W,
) -> Result<FeaturizeSummary, Error> {
    let spec = config.features.clone();
    let with_sequence = what.with_sequence;
    let (tx, rx) = crossbeam_channel::unbounded::<(i64, DecisionPoint, Vec<f32>)>();
    let mut rt = Runtime::builder()
        .config(config)
        .without_model()
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
    let mut write_rows = |_: &mut Runtime| -> Result<(), Error> {
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
    let read = drive(&mut rt, reader, opts, &mut write_rows)?;
    write_rows(&mut rt)?;
    Ok(FeaturizeSummary {
        read,
        rows,
        feature_spec_hash: spec.hash(),
        feature_spec_version: spec.version.clone(),
        feature_names: names,
    })
}

/// One strategy's totals over a trace (see [`dedup_eval`]).
#[derive(Debug, Clone, Serialize)]
pub struct DedupReport {
    /// The strategy.
    pub strategy: Strategy,
    /// `recommendations` events (a snapshot is taken after each).
    pub snapshots: u64,
    /// Duplicate entity placements across live slots, summed over snapshots.
    pub duplicate_placements: u64,
    /// Duplicate placements of which the user had seen both copies (exposures and clicks).
    pub duplicate_exposures: u64,
    /// Value shown (each entity once, at its best placement), summed over snapshots.
    pub retained_value: f64,
    /// Items shown / item capacity, over all snapshots.
    pub fill_rate: f64,
}

/// Replays the `recommendations`, `exposure` and `click` events of a trace
/// through a [`SlotArbiter`] once per strategy and totals what the slots show
/// after each `recommendations` event.
/// A trace without `recommendations` events is an error: there is nothing to compare.
pub fn dedup_eval(config: &DedupConfig, events: &[Event]) -> Result<Vec<DedupReport>, Error> {
    let recommends = |e: &&Event| matches!(e.kind, EventKind::Recommendations { .. });
    if !events.iter().any(|e| recommends(&e)) {
        return Err(Error::NothingTo {
            input: "the trace".into(),
            missing: "`recommendations` events",
            task: "de-duplicate",
        });
    }
    Ok([
        Strategy::None,
        Strategy::FirstComeFirstServed,
        Strategy::ValueAware,
    ]
    .into_iter()
    .map(|strategy| {
        let mut arbiter = SlotArbiter::new(DedupConfig {
            strategy,
            ..config.clone()
        });
        let mut r = DedupReport {
            strategy,
            snapshots: 0,
            duplicate_placements: 0,
            duplicate_exposures: 0,
            retained_value: 0.0,
            fill_rate: 0.0,
        };
        let (mut shown, mut capacity) = (0u64, 0u64);
        for e in events {
            match &e.kind {
                EventKind::Recommendations { slot, items } => {
                    arbiter.recommendations(e.ts_ms, slot, items.clone());
                    let snap = arbiter.snapshot(e.ts_ms);
                    r.snapshots += 1;
                    r.duplicate_placements += snap.duplicates;
                    r.retained_value += snap.value;
                    shown += snap.shown;
                    capacity += snap.capacity;
                }
                EventKind::Exposure { slot, items } => {
                    arbiter.exposed(slot, items);
                    r.duplicate_exposures += arbiter.exposed_duplicates(e.ts_ms, slot);
                }
                EventKind::Click { slot, item } => {
                    arbiter.exposed(slot, std::slice::from_ref(item))
                }
                _ => {}
            }
        }
        r.fill_rate = if capacity == 0 {
            0.0
        } else {
            shown as f64 / capacity as f64
        };
        r
    })
    .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureSpec;

    fn cfg() -> Config {
        Config::rules_only(
            FeatureSpec::from_json(
                r#"{"version":"t","features":[{"name":"views","kind":"home_views_session"}]}"#,
            )
            .unwrap(),
        )
    }

    const TRACE: &str = r#"{"ts_ms":1000,"type":"app_foreground"}
{"ts_ms":2000,"type":"page_view","page":"home"}
{"ts_ms":2500,"type":"teleport"}
{"ts_ms":3000,"type":"location","lat":95,"lon":0,"accuracy_m":3}
{"ts_ms":4000,"type":"pull_to_refresh","page":"home"}
"#;

    #[test]
    fn replay_stops_at_a_bad_line_and_names_it() {
        let mut rt = Runtime::builder().config(cfg()).build().unwrap();
        let err = replay(
            &mut rt,
            TraceReader::new(TRACE.as_bytes()),
            ReadOptions::default(),
            |_, _| Ok(()),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("line 4:") && err.contains("lat"), "{err}");
    }

    #[test]
    fn replay_with_skip_invalid_counts_and_continues() {
        let mut rt = Runtime::builder().config(cfg()).build().unwrap();
        let mut out = Vec::new();
        let s = replay(
            &mut rt,
            TraceReader::new(TRACE.as_bytes()),
            ReadOptions {
                skip_invalid: true,
                ..Default::default()
            },
            |d, _| {
                out.push(d.reason.as_str());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(out, ["staleness", "trigger:pull_to_refresh"]);
        assert_eq!(
            (s.read.lines, s.read.events, s.read.skipped_invalid),
            (5, 3, 1)
        );
        assert_eq!(s.read.unknown_types.get("teleport"), Some(&1));
    }

    #[test]
    fn featurize_writes_a_row_per_decision_point() {
        let mut buf = Vec::new();
        let s = featurize(
            cfg(),
            TraceReader::new(TRACE.as_bytes()),
            ReadOptions {
                skip_invalid: true,
                ..Default::default()
            },
            FeaturizeOptions::default(),
            &mut buf,
        )
        .unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ts_ms,point,views");
        assert_eq!(lines[1], "1000,foreground,0");
        assert!(lines[2].starts_with("2000,home_view,0.69"), "{}", lines[2]);
        assert_eq!(s.rows, 2);
        assert_eq!(s.feature_names, ["views"]);
    }
}
