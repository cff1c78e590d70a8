//! Offline evaluation of geofencing against ground truth: entry delay, missed
//! entries, false transitions and fixes per hour of adaptive sampling against
//! fixed-interval sampling, through the same [`Runtime`] an app embeds.

use serde::{Deserialize, Serialize};

use super::refresh_eval::ratio;
use crate::error::Error;
use crate::files::{open, read_records};
use edgeintent::Action;
use edgeintent::Config;
use edgeintent::Runtime;
use edgeintent::{Event, EventKind};

/// One true visit of a fence: the noise-free position was inside its radius.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Visit {
    /// The fence id.
    pub fence: String,
    /// When the position crossed in (ms).
    pub enter_ms: i64,
    /// When it crossed out (ms).
    pub exit_ms: i64,
}

/// Ground truth of a location trace (`training/geo_traces.py --truth`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeoTruth {
    /// Trace start and end (ms).
    pub span_ms: (i64, i64),
    /// Visits, sorted by entry.
    pub visits: Vec<Visit>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum GeoRecord {
    Trace {
        start_ms: i64,
        end_ms: i64,
    },
    Visit(Visit),
    #[serde(other)]
    Other,
}

impl GeoTruth {
    /// Reads a truth file: a `trace` record and `visit` records.
    pub fn from_file(path: &std::path::Path) -> Result<GeoTruth, Error> {
        let origin = path.display().to_string();
        let mut t = GeoTruth::default();
        read_records(open(path)?, &origin, |record, bad| {
            match record {
                GeoRecord::Trace { start_ms, end_ms } => t.span_ms = (start_ms, end_ms),
                GeoRecord::Visit(v) if v.exit_ms < v.enter_ms => {
                    return Err(bad(format!("visit of {} exits before it enters", v.fence)))
                }
                GeoRecord::Visit(v) => t.visits.push(v),
                GeoRecord::Other => {}
            }
            Ok(())
        })?;
        if t.span_ms.1 <= t.span_ms.0 {
            return Err(Error::Io {
                path: origin,
                why: "no `trace` record with start_ms < end_ms".into(),
            });
        }
        t.visits.sort_by_key(|v| v.enter_ms);
        Ok(t)
    }
}

/// How location fixes are picked from the dense ground-truth stream.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "interval_s", rename_all = "snake_case")]
pub enum Sampler {
    /// The runtime's own `set_location_interval`.
    Adaptive,
    /// A fix every so many seconds.
    Fixed(f64),
}

impl Sampler {
    fn name(self) -> String {
        match self {
            Sampler::Adaptive => "adaptive".into(),
            Sampler::Fixed(s) => format!("fixed {s}s"),
        }
    }
}

/// Visits at least this long must be detected (else they are missed).
pub const MIN_VISIT_MS: i64 = 60_000;
/// An ENTER this long before the true entry still counts (noise can cross early).
const EARLY_MS: i64 = 60_000;
/// An ENTER must come before the true exit plus this.
const LATE_MS: i64 = 60_000;

/// One sampler's figures over every trace.
#[derive(Debug, Clone, Serialize)]
pub struct GeoMetrics {
    /// Display name.
    pub name: String,
    /// The sampler.
    pub sampler: Sampler,
    /// True visits.
    pub visits: u64,
    /// Of those, visits of at least 60 s.
    pub visits_60s: u64,
    /// Visits of at least 60 s with no ENTER in time.
    pub missed_60s: u64,
    /// `missed_60s / visits_60s`.
    pub missed_rate: f64,
    /// Median seconds from true entry to ENTER (visits of at least 60 s).
    pub entry_delay_p50_s: Option<f64>,
    /// 95th percentile of the same.
    pub entry_delay_p95_s: Option<f64>,
    /// ENTERs that match no visit, or a visit already entered (flapping).
    pub false_enters: u64,
    /// EXITs that match no visit, or a visit already left.
    pub false_exits: u64,
    /// The first few missed visits (trace, fence, entry time, length).
    pub missed_examples: Vec<String>,
    /// Fixes delivered to the runtime.
    pub fixes: u64,
    /// Hours of trace.
    pub hours: f64,
    /// `fixes / hours`.
    pub fixes_per_hour: f64,
}

/// Everything `geo-eval` reports.
#[derive(Debug, Clone, Serialize)]
pub struct GeoReport {
    /// Traces evaluated.
    pub traces: Vec<String>,
    /// Adaptive first, then the fixed intervals.
    pub samplers: Vec<GeoMetrics>,
    /// `1 - adaptive / fixed 10 s` fixes per hour, when both ran.
    pub fix_reduction_vs_10s: Option<f64>,
}

/// One location trace and its truth.
#[derive(Debug, Clone)]
pub struct GeoScenario {
    /// Where it came from.
    pub name: String,
    /// Its events.
    pub events: Vec<Event>,
    /// Its truth.
    pub truth: GeoTruth,
}

fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    Some(sorted[i])
}

/// Replays every scenario with each sampler through a rules-only runtime
/// built from `config` (which must have a `geofence` section) and scores the
/// fence transitions against the true visits.
pub fn geo_evaluate(
    config: &Config,
    samplers: &[Sampler],
    scenarios: &[GeoScenario],
    mut progress: impl FnMut(u64),
) -> Result<GeoReport, Error> {
    let fences = &config
        .geofence()
        .ok_or(Error::NothingTo {
            input: "the config".into(),
            missing: "`geofence` section",
            task: "evaluate geofencing on",
        })?
        .fences;
    let has_fix = |s: &GeoScenario| {
        s.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Location { .. }))
    };
    if !scenarios.iter().any(has_fix) {
        return Err(Error::NothingTo {
            input: "the traces".into(),
            missing: "`location` events",
            task: "evaluate geofencing on",
        });
    }
    let mut out = Vec::with_capacity(samplers.len());
    for &sampler in samplers {
        let mut m = GeoMetrics {
            name: sampler.name(),
            sampler,
            visits: 0,
            visits_60s: 0,
            missed_60s: 0,
            missed_rate: 0.0,
            entry_delay_p50_s: None,
            entry_delay_p95_s: None,
            false_enters: 0,
            false_exits: 0,
            missed_examples: Vec::new(),
            fixes: 0,
            hours: 0.0,
            fixes_per_hour: 0.0,
        };
        let mut delays = Vec::new();
        for sc in scenarios {
            let mut rt = Runtime::builder()
                .config(config.clone())
                .without_model()
                .build()?;
            // (time, fence index, entered?)
            let mut transitions: Vec<(i64, u32, bool)> = Vec::new();
            let mut due = i64::MIN;
            for (k, e) in sc.events.iter().enumerate() {
                if k % 4096 == 4095 {
                    progress(4096);
                }
                if matches!(e.kind, EventKind::Location { .. }) {
                    if e.ts_ms < due {
                        continue;
                    }
                    let _ = rt.process(e.clone());
                    m.fixes += 1;
                    let step_s = match sampler {
                        Sampler::Adaptive => rt.location_interval_s().unwrap_or(0.0),
                        Sampler::Fixed(s) => s,
                    };
                    due = e.ts_ms + (step_s * 1000.0).round() as i64;
                } else {
                    let _ = rt.process(e.clone());
                }
                while let Some(d) = rt.poll() {
                    match (d.action, d.fence) {
                        (Action::FetchCard, Some(i)) => transitions.push((d.ts_ms, i, true)),
                        (Action::ReclaimCard, Some(i)) => transitions.push((d.ts_ms, i, false)),
                        _ => {}
                    }
                }
            }
            progress(sc.events.len() as u64 % 4096);
            m.hours += (sc.truth.span_ms.1 - sc.truth.span_ms.0) as f64 / 3.6e6;
            let mut used = vec![false; transitions.len()];
            for v in &sc.truth.visits {
                m.visits += 1;
                let long = v.exit_ms - v.enter_ms >= MIN_VISIT_MS;
                m.visits_60s += u64::from(long);
                let mut take = |enter: bool, lo: i64, hi: i64| {
                    let j = transitions
                        .iter()
                        .enumerate()
                        .position(|(j, &(t, i, en))| {
                            !used[j]
                                && en == enter
                                && fences.get(i as usize).is_some_and(|f| f.id == v.fence)
                                && (lo..=hi).contains(&t)
                        })?;
                    used[j] = true;
                    Some(transitions[j].0)
                };
                match take(true, v.enter_ms - EARLY_MS, v.exit_ms + LATE_MS) {
                    Some(t) => {
                        if long {
                            delays.push((t - v.enter_ms).max(0) as f64 / 1000.0);
                        }
                        // The matching EXIT: after the ENTER, until well after the exit.
                        let _ = take(false, t, v.exit_ms + 10 * 60_000);
                    }
                    None if long => {
                        m.missed_60s += 1;
                        if m.missed_examples.len() < 10 {
                            m.missed_examples.push(format!(
                                "{}: {} at {} for {} s",
                                sc.name,
                                v.fence,
                                v.enter_ms,
                                (v.exit_ms - v.enter_ms) / 1000
                            ));
                        }
                    }
                    None => {}
                }
            }
            for (j, &(_, _, enter)) in transitions.iter().enumerate() {
                if !used[j] {
                    if enter {
                        m.false_enters += 1;
                    } else {
                        m.false_exits += 1;
                    }
                }
            }
        }
        delays.sort_by(f64::total_cmp);
        m.entry_delay_p50_s = percentile(&delays, 0.5);
        m.entry_delay_p95_s = percentile(&delays, 0.95);
        m.missed_rate = ratio(m.missed_60s as f64, m.visits_60s as f64);
        m.fixes_per_hour = ratio(m.fixes as f64, m.hours);
        out.push(m);
    }
    let adaptive = out.iter().find(|m| m.sampler == Sampler::Adaptive);
    let ten = out.iter().find(|m| m.sampler == Sampler::Fixed(10.0));
    let fix_reduction_vs_10s = adaptive
        .zip(ten)
        .filter(|(_, t)| t.fixes_per_hour > 0.0)
        .map(|(a, t)| 1.0 - a.fixes_per_hour / t.fixes_per_hour);
    Ok(GeoReport {
        traces: scenarios.iter().map(|s| s.name.clone()).collect(),
        samplers: out,
        fix_reduction_vs_10s,
    })
}

/// The geofence report as a plain-text table.
pub fn render_geo_table(r: &GeoReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<12} {:>10} {:>10} {:>11} {:>12} {:>11} {:>11}",
        "sampler",
        "fixes/hour",
        "delay p50",
        "delay p95",
        "missed ≥60s",
        "false ENTER",
        "false EXIT"
    );
    let secs = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1} s"));
    for m in &r.samplers {
        let _ = writeln!(
            s,
            "{:<12} {:>10.1} {:>10} {:>11} {:>6}/{:<5} {:>11} {:>11}",
            m.name,
            m.fixes_per_hour,
            secs(m.entry_delay_p50_s),
            secs(m.entry_delay_p95_s),
            m.missed_60s,
            m.visits_60s,
            m.false_enters,
            m.false_exits
        );
    }
    if let Some(v) = r.fix_reduction_vs_10s {
        let _ = writeln!(
            s,
            "\nadaptive sampling: {:.1}% fewer fixes than a fix every 10 s ({} traces)",
            v * 100.0,
            r.traces.len()
        );
    }
    s
}
