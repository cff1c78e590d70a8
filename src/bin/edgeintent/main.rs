//! The `edgeintent` command: replay traces, featurize them for training,
//! inspect models, and print the feature spec's identity.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod counting_alloc;

use clap::{Parser, Subcommand};
use edgeintent::sim::{self, ReadOptions, ReplaySummary};
use edgeintent::{Config, Error, ModelStatus, OnnxGraph, OutputValues, Runtime, TraceReader};

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// The config used when `--config` is not given: the one shipped in `models/`.
const SHIPPED_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/config.json");
/// `geo-eval`'s default: the shipped airport fences.
const SHIPPED_GEO_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/geo/config.json");

#[derive(Parser)]
#[command(
    name = "edgeintent",
    version,
    about = "On-device intent runtime: decides when the homepage refreshes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay a trace: decisions as JSON Lines on stdout, a summary on stderr.
    Replay {
        /// Runtime config (model, feature spec, policy). Default: the shipped models/config.json.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Skip and count invalid lines instead of stopping at the first.
        #[arg(long)]
        skip_invalid: bool,
        /// Also write the summary as JSON to this file.
        #[arg(long)]
        summary: Option<PathBuf>,
        /// Ignore the configured model and decide by the rules alone.
        #[arg(long)]
        no_model: bool,
        /// The user id whose A/B bucket threshold to use (with policy.buckets).
        #[arg(long)]
        user_id: Option<String>,
        /// Treat the trace's location events as a dense ground truth and deliver
        /// a fix only when the runtime's sampling interval says one is due.
        #[arg(long)]
        sample_locations: bool,
        /// Trace file (JSON Lines).
        trace: PathBuf,
    },
    /// Write one CSV row of raw features per decision point, for training.
    Featurize {
        /// Runtime config whose feature spec to compute. Default: the shipped config.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Skip and count invalid lines instead of stopping at the first.
        #[arg(long)]
        skip_invalid: bool,
        /// Output CSV; the spec identity goes to `<out>.spec.json` beside it.
        #[arg(long)]
        out: PathBuf,
        /// Also write the last-N event-type ids (columns seq_0..) for sequence models.
        #[arg(long)]
        with_sequence: bool,
        /// Trace file (JSON Lines).
        trace: PathBuf,
    },
    /// Print a model's inputs, outputs, metadata and operator support; with
    /// --config, whether that runtime config would accept it. Exit status 3 when
    /// an operator is unsupported or tract cannot load it, 4 when the config's
    /// runtime refuses it (spec hash, feature names, normalisation, outputs).
    Inspect {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Check the model against this runtime config's feature spec and model
        /// options, as the runtime does when it loads it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// ONNX model file.
        model: PathBuf,
    },
    /// Run any ONNX model on CSV rows: one JSON object per row, each output's values as a flat array.
    ///
    /// Like the runtime, it applies the model's `edgeintent.normalization` and,
    /// with a header line, picks the columns named in `edgeintent.feature_names`,
    /// so `featurize` output goes in as is.
    Predict {
        /// ONNX model file.
        #[arg(long)]
        model: PathBuf,
        /// CSV of input rows (numbers; empty or `nan` is a missing value). With a
        /// first line of column names, non-feature columns (`ts_ms`, `point`,
        /// `seq_N`) are skipped.
        #[arg(long)]
        input: PathBuf,
        /// Feed the rows to the bare graph, without the package's normalisation.
        #[arg(long)]
        raw: bool,
    },
    /// Benchmark a model: load time, latency percentiles, throughput, peak RSS,
    /// allocations per run; with --ort-lib, ONNX Runtime side by side.
    Bench {
        /// ONNX model file.
        #[arg(long)]
        model: PathBuf,
        /// Input shape, e.g. 1x34; several inputs separated by `;`, e.g. `1x1;1x1x32`
        /// (default: the model's, symbolic dimensions as 1).
        #[arg(long, value_parser = parse_shapes)]
        input_shape: Option<Shapes>,
        /// Timed runs.
        #[arg(long, default_value_t = 20_000)]
        iters: usize,
        /// Untimed runs first.
        #[arg(long, default_value_t = 1_000)]
        warmup: usize,
        /// libonnxruntime.so to compare with (build with --features ort-compare).
        #[arg(long)]
        ort_lib: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Compare cross-slot de-duplication strategies on a trace: none, greedy
    /// first-come-first-served, and edgeintent's value-aware arbiter.
    DedupEval {
        /// Runtime config whose `dedup` section to use. Default: the shipped config.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Trace file (JSON Lines).
        trace: PathBuf,
    },
    /// Score the configured refresh policy against ground truth, next to the
    /// baselines: fixed intervals (30/60/120/300/600 s), every home view, and one
    /// request per notification. A table on stdout (JSON with --json).
    Evaluate {
        /// Runtime config (model, policy, triggers). Default: the shipped config.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Ground-truth file for each trace, in the same order (see training/generate.py).
        #[arg(long, required = true)]
        truth: Vec<PathBuf>,
        /// Also evaluate our policy at these thresholds, e.g. 0.3,0.5,0.7.
        #[arg(long, value_delimiter = ',')]
        sweep_threshold: Vec<f32>,
        /// The user id whose A/B bucket threshold to use (with policy.buckets).
        #[arg(long)]
        user_id: Option<String>,
        /// Skip invalid lines instead of stopping at the first.
        #[arg(long)]
        skip_invalid: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Trace files (JSON Lines).
        #[arg(required = true)]
        traces: Vec<PathBuf>,
    },
    /// Score geofencing on location traces with ground truth: entry delay,
    /// missed entries, false transitions and fixes per hour, for adaptive
    /// sampling and fixed intervals.
    GeoEval {
        /// Runtime config with a `geofence` section. Default: the shipped
        /// fixtures/geo/config.json (airport fences).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Ground-truth file for each trace, in the same order (see training/geo_traces.py).
        #[arg(long, required = true)]
        truth: Vec<PathBuf>,
        /// Fixed sampling intervals to compare with, in seconds, e.g. 10,60.
        #[arg(long, value_delimiter = ',', default_value = "10,60")]
        fixed: Vec<f64>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Location traces (JSON Lines).
        #[arg(required = true)]
        traces: Vec<PathBuf>,
    },
    /// Print the feature spec's hash, version and names as JSON.
    Spec {
        /// Runtime config. Default: the shipped config.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay {
            config,
            skip_invalid,
            summary,
            no_model,
            user_id,
            sample_locations,
            trace,
        } => replay(
            ReplayArgs {
                config,
                read: ReadOptions {
                    skip_invalid,
                    sample_locations,
                },
                summary_path: summary,
                no_model,
                user_id,
            },
            &trace,
        ),
        Command::Featurize {
            config,
            skip_invalid,
            out,
            with_sequence,
            trace,
        } => featurize(config, skip_invalid, with_sequence, &out, &trace),
        Command::Inspect {
            json,
            config,
            model,
        } => inspect(&model, json, config.as_deref()),
        Command::Predict { model, input, raw } => predict(&model, &input, raw),
        Command::Spec { config } => spec(config),
        Command::GeoEval {
            config,
            truth,
            fixed,
            json,
            traces,
        } => geo_eval(
            &config.unwrap_or_else(|| PathBuf::from(SHIPPED_GEO_CONFIG)),
            &truth,
            &fixed,
            json,
            &traces,
        ),
        Command::Evaluate {
            config,
            truth,
            sweep_threshold,
            user_id,
            skip_invalid,
            json,
            traces,
        } => evaluate(EvaluateArgs {
            config,
            truth,
            sweep: sweep_threshold,
            user_id,
            skip_invalid,
            json,
            traces,
        }),
        Command::DedupEval {
            config,
            json,
            trace,
        } => dedup_eval(config, json, &trace),
        Command::Bench {
            model,
            input_shape,
            iters,
            warmup,
            ort_lib,
            json,
        } => bench(
            &model,
            edgeintent::bench::BenchOptions {
                input_shapes: input_shape.map(|s| s.0),
                iters,
                warmup,
                ort_lib,
                ..Default::default()
            },
            json,
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let bad_line = matches!(
                &e,
                Error::Trace(edgeintent::TraceError::Line { .. })
                    | Error::TraceFile {
                        source: edgeintent::TraceError::Line { .. },
                        ..
                    }
            );
            let hint = if bad_line {
                " (use --skip-invalid to skip and count bad lines)"
            } else {
                ""
            };
            eprintln!("edgeintent: error: {e}{hint}");
            ExitCode::FAILURE
        }
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.display().to_string(),
        why: e.to_string(),
    }
}

/// Names the file in an error about "the trace".
fn in_file(path: &Path, e: Error) -> Error {
    match e {
        Error::NothingTo { missing, task, .. } => Error::NothingTo {
            input: path.display().to_string(),
            missing,
            task,
        },
        other => other,
    }
}

struct EvaluateArgs {
    config: Option<PathBuf>,
    truth: Vec<PathBuf>,
    sweep: Vec<f32>,
    user_id: Option<String>,
    skip_invalid: bool,
    json: bool,
    traces: Vec<PathBuf>,
}

fn evaluate(a: EvaluateArgs) -> Result<ExitCode, Error> {
    use edgeintent::eval;
    check_pairs(a.traces.len(), a.truth.len())?;
    if let Some(t) = a.sweep.iter().find(|t| !(0.0..=1.0).contains(*t)) {
        return Err(Error::Usage(format!(
            "--sweep-threshold: {t} is outside [0, 1]"
        )));
    }
    let mut config = load_config(a.config)?;
    if let (Some(id), Some(_)) = (&a.user_id, &config.policy.buckets) {
        // Evaluate the bucket's threshold as "ours".
        config.policy.threshold = config.policy.threshold_for(Some(id)).0;
    }
    let scenarios = a
        .traces
        .iter()
        .zip(&a.truth)
        .map(|(trace, truth)| {
            Ok(eval::Scenario {
                name: trace.display().to_string(),
                events: load_trace(trace, a.skip_invalid)?,
                truth: eval::Truth::from_file(truth)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let candidates = eval::candidates(&config, &a.sweep)?;
    let total: u64 =
        scenarios.iter().map(|s| s.events.len() as u64).sum::<u64>() * candidates.len() as u64;
    let bar = progress_bar(total, "evaluate");
    let report = eval::evaluate(&candidates, &scenarios, |n| bar.inc(n))?;
    bar.finish_and_clear();
    print_report(&report, a.json, eval::render_table)
}

/// JSON (with `--json`) or the table, on stdout.
fn print_report<R: serde::Serialize>(
    report: &R,
    json: bool,
    table: impl Fn(&R) -> String,
) -> Result<ExitCode, Error> {
    if json {
        let text = serde_json::to_string_pretty(report).map_err(|e| Error::Usage(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", table(report));
    }
    Ok(ExitCode::SUCCESS)
}

/// One truth file per trace, in order.
fn check_pairs(traces: usize, truths: usize) -> Result<(), Error> {
    if truths == traces {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{traces} traces but {truths} --truth files: give one truth file per trace, in the same order"
    )))
}

fn progress_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    // Drawn on stderr, and only when it is a terminal.
    indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{what} {{bar:40}} {{percent:>3}}% {{human_pos}}/{{human_len}} events, eta {{eta}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    )
}

fn geo_eval(
    config: &Path,
    truth: &[PathBuf],
    fixed: &[f64],
    json: bool,
    traces: &[PathBuf],
) -> Result<ExitCode, Error> {
    use edgeintent::eval;
    check_pairs(traces.len(), truth.len())?;
    if let Some(s) = fixed.iter().find(|s| !s.is_finite() || **s <= 0.0) {
        return Err(Error::Usage(format!(
            "--fixed: {s} is not a positive number of seconds"
        )));
    }
    let config = Config::from_file(config)?;
    let scenarios = traces
        .iter()
        .zip(truth)
        .map(|(t, g)| {
            Ok(eval::GeoScenario {
                name: t.display().to_string(),
                events: load_trace(t, false)?,
                truth: eval::GeoTruth::from_file(g)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let samplers: Vec<eval::Sampler> = std::iter::once(eval::Sampler::Adaptive)
        .chain(fixed.iter().map(|&s| eval::Sampler::Fixed(s)))
        .collect();
    let total =
        scenarios.iter().map(|s| s.events.len() as u64).sum::<u64>() * samplers.len() as u64;
    let bar = progress_bar(total, "geo-eval");
    let report = eval::geo_evaluate(&config, &samplers, &scenarios, |n| bar.inc(n))?;
    bar.finish_and_clear();
    print_report(&report, json, eval::render_geo_table)
}

/// Reads a whole trace, warning on stderr about what it skipped.
fn load_trace(path: &Path, skip_invalid: bool) -> Result<Vec<edgeintent::Event>, Error> {
    let trace = sim::load_trace(path, skip_invalid)?;
    warn_read(path, &trace.read);
    Ok(trace.events)
}

/// Warnings for what reading a trace skipped: unknown event types (with the
/// type each most likely meant) and a trace without any event.
fn warn_read(path: &Path, read: &sim::ReadCounts) {
    for (name, n) in &read.unknown_types {
        let hint = edgeintent::EventType::closest(name).map_or(String::new(), |t| {
            format!(" (did you mean \"{}\"?)", t.name())
        });
        let lines = if *n == 1 { "line" } else { "lines" };
        eprintln!(
            "edgeintent: warning: {}: skipped {n} {lines} of unknown event type \"{name}\"{hint}",
            path.display()
        );
    }
    if read.events == 0 {
        eprintln!(
            "edgeintent: warning: {}: no events ({} non-blank lines)",
            path.display(),
            read.lines
        );
    }
}

fn load_config(path: Option<PathBuf>) -> Result<Config, Error> {
    let path = path.unwrap_or_else(|| PathBuf::from(SHIPPED_CONFIG));
    Ok(Config::from_file(path)?)
}

fn open_trace(path: &Path) -> Result<TraceReader<BufReader<File>>, Error> {
    let f = File::open(path).map_err(io_err(path))?;
    Ok(TraceReader::new(BufReader::new(f)))
}

struct ReplayArgs {
    config: Option<PathBuf>,
    read: ReadOptions,
    summary_path: Option<PathBuf>,
    no_model: bool,
    user_id: Option<String>,
}

fn replay(a: ReplayArgs, trace: &Path) -> Result<ExitCode, Error> {
    let ReplayArgs {
        config,
        read,
        summary_path,
        no_model,
        user_id,
    } = a;
    let mut builder = Runtime::builder().config(load_config(config)?);
    if no_model {
        builder = builder.without_model();
    }
    if let Some(id) = user_id {
        builder = builder.user_id(id);
    }
    let mut rt = builder.build()?;
    let reader = open_trace(trace)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    // A closed stdout (`| head`) ends the output, not the replay.
    let mut stdout_open = true;
    let summary = sim::replay(&mut rt, reader, read, |_, json| {
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
    })?;
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
    text += &format!(
        "  decision latency p50 {}, p99 {}\n",
        micros(rt.decision_latency_p50_ns),
        micros(rt.decision_latency_p99_ns)
    );
    text
}

fn featurize(
    config: Option<PathBuf>,
    skip_invalid: bool,
    with_sequence: bool,
    out: &Path,
    trace: &Path,
) -> Result<ExitCode, Error> {
    let config = load_config(config)?;
    let spec = config.features.clone();
    let reader = open_trace(trace)?;
    let file = File::create(out).map_err(io_err(out))?;
    let mut w = BufWriter::new(file);
    let summary = sim::featurize(
        config,
        reader,
        ReadOptions {
            skip_invalid,
            ..Default::default()
        },
        sim::FeaturizeOptions { with_sequence },
        &mut w,
    )?;
    w.flush().map_err(io_err(out))?;
    warn_read(trace, &summary.read);
    let side = PathBuf::from(format!("{}.spec.json", out.display()));
    let mut identity = spec_identity(&spec);
    identity["spec"] = serde_json::json!(spec);
    std::fs::write(
        &side,
        serde_json::to_string_pretty(&identity).unwrap_or_default() + "\n",
    )
    .map_err(io_err(&side))?;
    eprintln!(
        "edgeintent featurize {}: {} rows from {} events ({} skipped) -> {} (+ {})",
        trace.display(),
        summary.rows,
        summary.read.events,
        summary.read.skipped_invalid,
        out.display(),
        side.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Whether a runtime built from `config`, with its model replaced by the one
/// at `model`, would accept it.
#[derive(serde::Serialize)]
struct RuntimeCheck {
    config: String,
    accepted: bool,
    /// Why not, as the runtime says it.
    error: Option<String>,
    runtime_spec_hash: String,
    runtime_spec_version: String,
    model_spec_hash: Option<String>,
}

fn check_with_config(model: &Path, config_path: &Path) -> Result<RuntimeCheck, Error> {
    let mut config = Config::from_file(config_path)?;
    let model_hash = edgeintent::ModelPackage::read(model).ok().and_then(|p| {
        p.metadata()
            .get(edgeintent::META_SPEC_HASH)
            .map(String::from)
    });
    let mut options = config
        .model
        .clone()
        .unwrap_or_else(|| edgeintent::ModelOptions::for_path(model));
    options.path = model.to_owned();
    options.required = true;
    config.model = Some(options);
    let (runtime_spec_hash, runtime_spec_version) =
        (config.features.hash(), config.features.version.clone());
    let error = Runtime::builder()
        .config(config)
        .build()
        .err()
        .map(|e| e.to_string());
    Ok(RuntimeCheck {
        config: config_path.display().to_string(),
        accepted: error.is_none(),
        error,
        runtime_spec_hash,
        runtime_spec_version,
        model_spec_hash: model_hash,
    })
}

fn inspect(path: &Path, json: bool, config: Option<&Path>) -> Result<ExitCode, Error> {
    let report = edgeintent::inspect(path)?;
    let check = config.map(|c| check_with_config(path, c)).transpose()?;
    let all_supported = report.ops.iter().all(|o| o.supported);
    if json {
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        if let Some(c) = &check {
            value["runtime_check"] = serde_json::to_value(c).unwrap_or_default();
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        println!("model {}", path.display());
        println!("  producer: {}", report.producer);
        println!("  opsets: {}", report.opsets.join(", "));
        for (title, list) in [("input", &report.inputs), ("output", &report.outputs)] {
            for t in list {
                println!(
                    "  {title} {}: {} [{}]",
                    t.name,
                    t.elem_type,
                    t.dims.join(", ")
                );
            }
        }
        for (k, v) in &report.metadata {
            let v = if v.len() > 100 {
                format!("{}…", &v[..v.floor_char_boundary(100)])
            } else {
                v.clone()
            };
            println!("  metadata {k} = {v}");
        }
        for op in &report.ops {
            let mark = if op.supported {
                "supported"
            } else {
                "NOT SUPPORTED"
            };
            println!("  op {}: {mark}", op.op);
        }
        match &report.load_error {
            None => println!("  tract: loads and optimizes"),
            Some(e) => println!("  tract: FAILS to load: {e}"),
        }
        if let Some(c) = &check {
            match &c.error {
                None => println!(
                    "  runtime ({}): ACCEPTS it: feature spec {} (version {}) matches",
                    c.config, c.runtime_spec_hash, c.runtime_spec_version
                ),
                Some(e) => println!("  runtime ({}): REFUSES it: {e}", c.config),
            }
        }
    }
    Ok(if !all_supported || report.load_error.is_some() {
        ExitCode::from(3)
    } else if check.is_some_and(|c| !c.accepted) {
        ExitCode::from(4)
    } else {
        ExitCode::SUCCESS
    })
}

/// What training needs to know about a feature spec: hash, version, names.
fn spec_identity(s: &edgeintent::FeatureSpec) -> serde_json::Value {
    serde_json::json!({
        "feature_spec_hash": s.hash(),
        "feature_spec_version": s.version,
        "feature_names": s.names().collect::<Vec<_>>(),
        "sequence_length": s.sequence_length,
    })
}

fn spec(config: Option<PathBuf>) -> Result<ExitCode, Error> {
    let config = load_config(config)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&spec_identity(&config.features)).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// Columns `featurize` writes that are not features: the row's time, its
/// decision point, and the event-type ids of a sequence model's second input.
fn is_featurize_context(column: &str) -> bool {
    column == "ts_ms"
        || column == "point"
        || column
            .strip_prefix("seq_")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Input rows for `predict`: the feature columns of a CSV, in the model's order.
struct Rows {
    rows: usize,
    width: usize,
    values: Vec<f32>,
    skipped: Vec<String>,
}

/// Reads a CSV of rows. A first line with any non-numeric field is a header:
/// then columns are picked by the model's feature names (or, without them,
/// all but `featurize`'s non-feature columns); without a header every column
/// is a feature. Empty and `nan` cells are missing values.
fn read_rows(path: &Path, names: Option<&[String]>) -> Result<Rows, Error> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let bad = |line: usize, why: String| Error::Io {
        path: path.display().to_string(),
        why: format!("line {line}: {why}"),
    };
    let parse = |f: &str| -> Option<f32> {
        let f = f.trim();
        if f.is_empty() || f.eq_ignore_ascii_case("nan") {
            Some(f32::NAN)
        } else {
            f.parse::<f32>().ok()
        }
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_start_matches('\u{feff}')))
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let first: Vec<&str> = match lines.peek() {
        Some((_, l)) => l.split(',').map(str::trim).collect(),
        None => return Err(bad(0, "no data rows".into())),
    };
    let header = first.iter().any(|f| parse(f).is_none());
    let (n_fields, picked, skipped): (usize, Vec<(usize, String)>, Vec<String>) = if header {
        lines.next();
        let picked: Vec<(usize, String)> = match names {
            Some(names) => names
                .iter()
                .map(|n| {
                    first
                        .iter()
                        .position(|c| c == n)
                        .map(|i| (i, n.clone()))
                        .ok_or_else(|| {
                            bad(
                                1,
                                format!(
                                    "no column `{n}`; the model was trained on these features, in order: {}",
                                    names.join(", ")
                                ),
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
            None => first
                .iter()
                .enumerate()
                .filter(|(_, c)| !is_featurize_context(c))
                .map(|(i, c)| (i, c.to_string()))
                .collect(),
        };
        let skipped = first
            .iter()
            .enumerate()
            .filter(|(i, _)| !picked.iter().any(|(p, _)| p == i))
            .map(|(_, c)| c.to_string())
            .collect();
        (first.len(), picked, skipped)
    } else {
        let all = (0..first.len()).map(|i| (i, format!("column {}", i + 1)));
        (first.len(), all.collect(), Vec::new())
    };
    let mut values = Vec::new();
    let mut rows = 0;
    for (line, text) in lines {
        let fields: Vec<&str> = text.split(',').collect();
        if fields.len() != n_fields {
            return Err(bad(
                line,
                format!("{} fields, expected {n_fields}", fields.len()),
            ));
        }
        for (col, name) in &picked {
            let v = parse(fields[*col]).ok_or_else(|| {
                bad(
                    line,
                    format!("`{name}`: `{}` is not a number", fields[*col].trim()),
                )
            })?;
            values.push(v);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(bad(0, "no data rows".into()));
    }
    Ok(Rows {
        rows,
        width: picked.len(),
        values,
        skipped,
    })
}

fn predict(model: &Path, input: &Path, raw: bool) -> Result<ExitCode, Error> {
    let package = edgeintent::ModelPackage::read(model)?;
    let Rows {
        rows,
        width,
        mut values,
        skipped,
    } = read_rows(input, package.feature_names())?;
    let normalization = package.normalization().filter(|_| !raw);
    if let Some(n) = normalization {
        if n.len() != width {
            return Err(Error::Usage(format!(
                "{}: {width} feature columns, but the model's normalisation has {}",
                input.display(),
                n.len()
            )));
        }
        for row in values.chunks_exact_mut(width) {
            let src = row.to_vec();
            n.apply(&src, row);
        }
    }
    eprintln!(
        "edgeintent predict: {rows} rows of {width} features{}; {}",
        if skipped.is_empty() {
            String::new()
        } else {
            format!(" (skipped columns: {})", skipped.join(", "))
        },
        match (normalization, raw) {
            (Some(_), _) => "normalised by the model's edgeintent.normalization",
            (None, true) => "raw (--raw): not normalised",
            (None, false) => "the model has no normalisation",
        }
    );
    let mut graph = OnnxGraph::load(model, &[rows, width])?;
    let outputs = graph.run(&values)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for r in 0..rows {
        let mut obj = serde_json::Map::new();
        for o in &outputs {
            let per_row = if o.shape.first() == Some(&rows) {
                o.shape[1..].iter().product::<usize>()
            } else {
                0
            };
            let range = r * per_row..(r + 1) * per_row;
            let value = match &o.values {
                OutputValues::Float(v) => serde_json::json!(v[range]
                    .iter()
                    .map(|x| f64::from(*x as f32))
                    .collect::<Vec<_>>()),
                OutputValues::Int(v) => serde_json::json!(v[range]),
                OutputValues::Text(v) => serde_json::json!(v[range]),
            };
            obj.insert(o.name.clone(), value);
        }
        if writeln!(out, "{}", serde_json::Value::Object(obj)).is_err() {
            break; // stdout closed
        }
    }
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}

/// One shape per model input, as given to `--input-shape`.
#[derive(Debug, Clone)]
struct Shapes(Vec<Vec<usize>>);

fn parse_shapes(s: &str) -> Result<Shapes, String> {
    s.split(';')
        .map(|one| {
            let dims: Result<Vec<usize>, _> = one
                .split(['x', 'X', ','])
                .map(|d| d.trim().parse::<usize>())
                .collect();
            match dims {
                Ok(d) if !d.is_empty() && d.iter().all(|&v| v > 0) => Ok(d),
                _ => Err(format!("`{one}` is not a shape like 1x34")),
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Shapes)
}

fn bench(
    model: &Path,
    opts: edgeintent::bench::BenchOptions,
    json: bool,
) -> Result<ExitCode, Error> {
    struct Counter;
    impl edgeintent::bench::AllocationCounter for Counter {
        fn count(&self) -> u64 {
            counting_alloc::allocations()
        }
        fn set_counting(&self, on: bool) {
            counting_alloc::set_counting(on);
        }
    }
    let r = edgeintent::bench::run(model, &opts, Some(&Counter))?;
    if json {
        println!("{}", serde_json::to_string(&r).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    let us = |ns: u64| format!("{:.2} µs", ns as f64 / 1000.0);
    println!(
        "model {} inputs {:?}, {} runs",
        r.model, r.input_shapes, r.iters
    );
    println!("  load {:.1} ms", r.load_ms);
    println!(
        "  edgeintent  p50 {}  p90 {}  p99 {}  mean {}  {:.0} runs/s",
        us(r.latency.p50_ns),
        us(r.latency.p90_ns),
        us(r.latency.p99_ns),
        us(r.latency.mean_ns),
        r.latency.throughput_per_s
    );
    if let Some(a) = r.allocs_per_run {
        println!("  heap allocations per run: {a:.1} (tract's plan and edgeintent's ops: one output tensor per op)");
    }
    if let (Some(p50), Some(p90), Some(p99)) = (r.ort_p50_ns, r.ort_p90_ns, r.ort_p99_ns) {
        println!(
            "  onnxruntime p50 {}  p90 {}  p99 {}  (load {:.1} ms)",
            us(p50),
            us(p90),
            us(p99),
            r.ort_load_ms.unwrap_or(0.0)
        );
        println!(
            "  ratio edgeintent / onnxruntime: p50 {:.2}, p99 {:.2}; outputs {} differ by at most {:.2e}",
            r.ratio_p50.unwrap_or(0.0),
            r.ratio_p99.unwrap_or(0.0),
            r.compared_outputs.join(", "),
            r.max_abs_diff.unwrap_or(f64::NAN)
        );
    }
    if let Some(kib) = r.peak_rss_kib {
        println!("  peak RSS {:.1} MiB", kib as f64 / 1024.0);
    }
    Ok(ExitCode::SUCCESS)
}

fn dedup_eval(config: Option<PathBuf>, json: bool, trace: &Path) -> Result<ExitCode, Error> {
    let config = load_config(config)?;
    let events = load_trace(trace, false)?;
    let reports = sim::dedup_eval(&config.dedup, &events).map_err(|e| in_file(trace, e))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<22} {:>9} {:>13} {:>14} {:>15} {:>10}",
        "strategy", "snapshots", "dup entities", "dup exposures", "retained value", "fill rate"
    );
    for r in &reports {
        println!(
            "{:<22} {:>9} {:>13} {:>14} {:>15.1} {:>9.1}%",
            format!("{:?}", r.strategy),
            r.snapshots,
            r.duplicate_placements,
            r.duplicate_exposures,
            r.retained_value,
            r.fill_rate * 100.0
        );
    }
    Ok(ExitCode::SUCCESS)
}
