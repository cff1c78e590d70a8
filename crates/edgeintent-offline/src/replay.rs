//! The one trace driver: reads a trace into the [`Runtime`] an app embeds
//! (counting unknown types and skipped lines), replays it into decisions, or
//! loads it whole for evaluations that replay it many times.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use serde::Serialize;

use super::updates::{UpdateCursor, UpdateRecord, UpdateSchedule};

use crate::error::Error;
use edgeintent::Decision;
use edgeintent::{Event, EventKind, Parsed, TraceError, TraceReader};
use edgeintent::{Runtime, Stats};

/// One record of a trace as a [`TraceReader`] yields it: its 1-based line
/// number and what it held, or what was wrong with it. Any source of records
/// (an Arrow table, say) can be replayed by yielding these.
pub type TraceItem = Result<(usize, Parsed), TraceError>;

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
    edgeintent::limits::ensure_regular_file(path).map_err(|e| in_file(TraceError::Io(e)))?;
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

/// An event the runtime accepted, as `drive` reports it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accepted {
    pub(crate) ts_ms: i64,
    pub(crate) ty: edgeintent::EventType,
    /// Latitude, longitude and accuracy of a location fix.
    pub(crate) fix: Option<(f64, f64, f64)>,
}

/// What `drive` does with each trace event besides handing it to the
/// runtime: counts, location sampling, and the offline coverage answer. One
/// for a whole trace (or one user's stream).
#[derive(Debug)]
pub(crate) struct Driver {
    pub(crate) counts: ReadCounts,
    next_fix_due: i64,
}

impl Driver {
    pub(crate) fn new() -> Driver {
        Driver {
            counts: ReadCounts::default(),
            next_fix_due: i64::MIN,
        }
    }

    /// A new user's stream starts: location sampling starts over.
    pub(crate) fn start_user(&mut self) {
        self.next_fix_due = i64::MIN;
    }

    /// Counts a line whose `type` this version does not know.
    pub(crate) fn unknown(&mut self, type_name: String) {
        self.counts.lines += 1;
        self.counts.unknown(type_name);
    }

    /// Counts a line that did not parse; see [`Driver::invalid`].
    pub(crate) fn unparsed(
        &mut self,
        err: TraceError,
        skip_invalid: bool,
    ) -> Result<(), TraceError> {
        self.counts.lines += 1;
        self.invalid(err, skip_invalid)
    }

    /// Hands one event to `rt`: `Ok(None)` when location sampling drops it,
    /// `Ok(Some(_))` when the runtime accepted it, its error otherwise.
    pub(crate) fn event(
        &mut self,
        rt: &mut Runtime,
        e: Event,
        opts: ReadOptions,
        updates: Option<&mut UpdateCursor<'_>>,
    ) -> Result<Option<Accepted>, edgeintent::EventError> {
        self.counts.lines += 1;
        let fix = match e.kind {
            EventKind::Location {
                lat,
                lon,
                accuracy_m,
                ..
            } => Some((lat, lon, accuracy_m)),
            _ => None,
        };
        let accepted = Accepted {
            ts_ms: e.ts_ms,
            ty: e.kind.event_type(),
            fix,
        };
        if fix.is_some() {
            self.counts.location_fixes += 1;
            if opts.sample_locations && e.ts_ms < self.next_fix_due {
                return Ok(None);
            }
        }
        let ts = e.ts_ms;
        if let Some(u) = updates {
            u.apply_due(rt, ts);
        }
        rt.process(e)?;
        self.counts.events += 1;
        if let Some((lat, lon, _)) = fix {
            self.counts.location_fixes_used += 1;
            if let Some(s) = rt.location_interval_s() {
                self.next_fix_due = ts + (s * 1000.0).round() as i64;
            }
            // Offline there is no server: answer a coverage request with a
            // circle of the same radius here.
            if let Some(c) = rt.coverage().filter(|_| rt.coverage_requested()) {
                if rt.set_coverage(lat, lon, c.radius_m).is_ok() {
                    self.counts.coverage_answers += 1;
                }
            }
        }
        Ok(Some(accepted))
    }

    /// Counts a bad event (already counted as a line) when bad lines are
    /// skipped; hands it back otherwise.
    pub(crate) fn invalid(
        &mut self,
        err: TraceError,
        skip_invalid: bool,
    ) -> Result<(), TraceError> {
        self.counts.invalid(err, skip_invalid)
    }
}

/// Feeds a trace into a runtime, calling `after_event` after each accepted event.
pub(crate) fn drive(
    rt: &mut Runtime,
    reader: impl IntoIterator<Item = TraceItem>,
    opts: ReadOptions,
    mut updates: Option<&mut UpdateCursor<'_>>,
    mut after_event: impl FnMut(&mut Runtime, &Accepted) -> Result<(), Error>,
) -> Result<ReadCounts, Error> {
    let mut d = Driver::new();
    for item in reader {
        match item {
            Ok((_, Parsed::Unknown { type_name, .. })) => d.unknown(type_name),
            Ok((line, Parsed::Event(e))) => match d.event(rt, e, opts, updates.as_deref_mut()) {
                Ok(Some(accepted)) => after_event(rt, &accepted)?,
                Ok(None) => {}
                Err(source) => d.invalid(TraceError::Line { line, source }, opts.skip_invalid)?,
            },
            Err(e) => d.unparsed(e, opts.skip_invalid)?,
        }
    }
    Ok(d.counts)
}

/// The result of a replay.
#[derive(Debug, Clone, Serialize)]
pub struct ReplaySummary {
    /// What the trace held.
    pub read: ReadCounts,
    /// The runtime's counters at the end.
    pub runtime: Stats,
    /// What each scheduled update did (`replay --updates`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub updates: Vec<UpdateRecord>,
}

/// Hands every decision waiting in `rt`, with its JSON line, to `on_decision`.
pub(crate) fn take_decisions(
    rt: &mut Runtime,
    mut on_decision: impl FnMut(&Decision, &str) -> std::io::Result<()>,
) -> Result<(), Error> {
    while let Some(d) = rt.poll() {
        let json = rt.decision_json(&d);
        on_decision(&d, &json).map_err(|e| Error::Io {
            path: "<decision output>".into(),
            why: e.to_string(),
        })?;
    }
    Ok(())
}

/// Replays a trace through `rt`, handing every decision (and its contract JSON
/// line, which for `show` includes the slot's items) to `on_decision` in order.
pub fn replay(
    rt: &mut Runtime,
    reader: impl IntoIterator<Item = TraceItem>,
    opts: ReadOptions,
    on_decision: impl FnMut(&Decision, &str) -> std::io::Result<()>,
) -> Result<ReplaySummary, Error> {
    replay_with_updates(rt, reader, opts, &UpdateSchedule::default(), on_decision)
}

/// [`replay`], applying each of `updates` before the first event at or after its time.
pub fn replay_with_updates(
    rt: &mut Runtime,
    reader: impl IntoIterator<Item = TraceItem>,
    opts: ReadOptions,
    updates: &UpdateSchedule,
    mut on_decision: impl FnMut(&Decision, &str) -> std::io::Result<()>,
) -> Result<ReplaySummary, Error> {
    let mut cursor = updates.cursor();
    let read = drive(rt, reader, opts, Some(&mut cursor), |rt, _| {
        take_decisions(rt, &mut on_decision)
    })?;
    take_decisions(rt, &mut on_decision)?;
    Ok(ReplaySummary {
        read,
        runtime: rt.stats(),
        updates: cursor.log,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::featurize::{featurize, FeaturizeOptions};
    use edgeintent::Config;
    use edgeintent::FeatureSpec;

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
