//! `edgeintent replay`: decisions as JSON Lines on stdout, a summary on stderr.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use edgeintent::{ModelStatus, Runtime};
use edgeintent_offline::{self, ReadOptions, ReplaySummary};

use crate::common::{io_err, load_config, open_trace, warn_read, Error};

/// Replay a trace: decisions as JSON Lines on stdout, a summary on stderr.
#[derive(Args)]
pub struct ReplayArgs {
    /// Runtime config (model, feature spec, policy). Default: the shipped models/config.json.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Skip and count invalid lines instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    pub summary: Option<PathBuf>,
    /// Ignore the configured model and decide by the rules alone.
    #[arg(long)]
    pub no_model: bool,
    /// The user id whose A/B bucket threshold to use (with policy.buckets).
    #[arg(long)]
    pub user_id: Option<String>,
    /// Treat the trace's location events as a dense ground truth and deliver
    /// a fix only when the runtime's sampling interval says one is due.
    #[arg(long)]
    pub sample_locations: bool,
    /// Also write the decision timeline as one self-contained HTML page.
    #[arg(long, value_name = "OUT.html")]
    pub timeline: Option<PathBuf>,
    /// Also write the timeline in the Trace Event format (opens in Perfetto's UI).
    #[arg(long, value_name = "OUT.json")]
    pub trace_events: Option<PathBuf>,
    /// Apply signed update packages at given times: JSON Lines of
    /// {"ts_ms": …, "package": "FILE.eiu"} (paths relative to this file), to
    /// rehearse a roll-out. The config must pin the packages' key.
    #[arg(long, value_name = "UPDATES.jsonl")]
    pub updates: Option<PathBuf>,
    /// Put this device in the named arm of every staged roll-out (default:
    /// the arm the user id hashes to).
    #[arg(long)]
    pub arm: Option<String>,
    /// Trace file (JSON Lines).
    pub trace: PathBuf,
}

pub fn run(a: ReplayArgs) -> Result<ExitCode, Error> {
    let ReplayArgs {
        config,
        skip_invalid,
        summary: summary_path,
        no_model,
        user_id,
        sample_locations,
        timeline,
        trace_events,
        updates,
        arm,
        trace,
    } = a;
    if updates.is_some() && (timeline.is_some() || trace_events.is_some()) {
        return Err(Error::Usage(
            "--updates cannot be combined with --timeline or --trace-events yet (the timeline scores with its own copy of the shipped model)".into(),
        ));
    }
    let schedule = match &updates {
        Some(p) => edgeintent_offline::UpdateSchedule::from_file(p)?,
        None => edgeintent_offline::UpdateSchedule::default(),
    };
    let trace = trace.as_path();
    let read = ReadOptions {
        skip_invalid,
        sample_locations,
    };
    let config = load_config(config)?;
    let mut builder = Runtime::builder();
    if no_model {
        builder = builder.without_model();
    }
    if let Some(id) = user_id {
        builder = builder.user_id(id);
    }
    if let Some(a) = arm {
        builder = builder.force_arm(a);
    }
    let reader = open_trace(trace)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    // A closed stdout (`| head`) ends the output, not the replay.
    let mut stdout_open = true;
    let mut print = |_: &edgeintent::Decision, json: &str| {
        if !stdout_open {
            return Ok(());
        }
        match writeln!(out, "{json}") {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                stdout_open = false;
                Ok(())
            }
            other => other,
        }
    };
    let summary = if timeline.is_some() || trace_events.is_some() {
        let name = trace.file_name().map_or_else(
            || trace.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let (summary, tl) =
            edgeintent_offline::replay_timeline(config, builder, &name, reader, read, &mut print)?;
        if let Some(p) = &timeline {
            std::fs::write(p, edgeintent_offline::timeline_html(&tl)).map_err(io_err(p))?;
        }
        if let Some(p) = &trace_events {
            std::fs::write(p, edgeintent_offline::trace_events_json(&tl)).map_err(io_err(p))?;
        }
        summary
    } else {
        let mut rt = builder.config(config).build()?;
        edgeintent_offline::replay_with_updates(&mut rt, reader, read, &schedule, &mut print)?
    };
    if stdout_open {
        match out.flush() {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                return Err(io_err(Path::new("<stdout>"))(e))
            }
            _ => {}
        }
    }
    warn_read(trace, &summary.read);
    eprint!("{}", render_summary(trace, &summary));
    if let Some(p) = summary_path {
        let json = serde_json::to_string_pretty(&summary).unwrap_or_default();
        std::fs::write(&p, json + "\n").map_err(io_err(&p))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn micros(ns: Option<u64>) -> String {
    ns.map_or("-".into(), |n| format!("{:.1} µs", n as f64 / 1000.0))
}

fn render_summary(trace: &Path, s: &ReplaySummary) -> String {
    let r = &s.read;
    let rt = &s.runtime;
    let unknown: u64 = r.unknown_types.values().sum();
    let unknown_list = r
        .unknown_types
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let model = match &rt.model {
        ModelStatus::Loaded(p) => format!("loaded {p}"),
        ModelStatus::None => "none (rules decide)".into(),
        ModelStatus::Failed(e) => format!("FAILED, rules decide: {e}"),
    };
    let by = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = format!(
        "edgeintent replay {}\n  lines {}, events {}, skipped invalid {}, unknown types {}{}\n",
        trace.display(),
        r.lines,
        r.events,
        r.skipped_invalid,
        unknown,
        if unknown > 0 {
            format!(" ({unknown_list})")
        } else {
            String::new()
        },
    );
    for ex in &r.skipped_examples {
        text += &format!("    skipped: {ex}\n");
    }
    text += &format!(
        "  model: {model}\n  decision points {} (ticks {}), suppressed by cooldown {}, model calls {}, model errors {}\n",
        rt.decision_points, rt.ticks, rt.suppressed_by_cooldown, rt.model_calls, rt.model_errors
    );
    text += &format!(
        "  policy: threshold {}{}, suppressed by budget {}, stale marks {} ({} folded into other refreshes), triggers debounced {}\n",
        rt.threshold,
        rt.bucket.map_or(String::new(), |b| format!(" (bucket {b})")),
        rt.suppressed_by_budget,
        rt.stale_marks,
        rt.stale_marks_absorbed,
        rt.triggers_debounced
    );
    if let Some(g) = &rt.geofence {
        text += &format!(
            "  geofence: location fixes {} of {} used, enters {}, exits {}, coverage requests {} ({} answered by the simulated server)\n",
            r.location_fixes_used, r.location_fixes, g.enters, g.exits, g.coverage_requests, r.coverage_answers
        );
    }
    text += &format!(
        "  decisions {}: {}\n    by reason: {}\n",
        rt.decisions,
        by(&rt.decisions_by_action),
        by(&rt.decisions_by_reason)
    );
    let u = &rt.updates;
    if u.enabled {
        let arm = |v: &edgeintent::VersionInForce| {
            v.arm.as_ref().map_or(String::new(), |a| {
                format!(" (arm {a} of {})", v.rollout.as_deref().unwrap_or("?"))
            })
        };
        text += &format!(
            "  versions: config {}{}, model {}{}; updates accepted {}, refused {}\n",
            u.config.version,
            arm(&u.config),
            u.model.version,
            arm(&u.model),
            u.accepted,
            u.refused
        );
    }
    for r in &s.updates {
        text += &format!(
            "    update at {}: {} {}{}\n",
            r.ts_ms,
            r.package,
            r.outcome,
            r.error.as_ref().map_or(String::new(), |e| format!(": {e}"))
        );
    }
    text += &format!(
        "  decision latency p50 {}, p99 {}\n",
        micros(rt.decision_latency_p50_ns),
        micros(rt.decision_latency_p99_ns)
    );
    text
}
