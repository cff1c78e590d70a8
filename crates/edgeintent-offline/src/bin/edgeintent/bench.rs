//! `edgeintent bench`: latency, throughput, allocations; ONNX Runtime beside it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::common::Error;
use crate::counting_alloc;

/// Benchmark a model: load time, latency percentiles, throughput, peak RSS,
/// allocations per run; with --ort-lib, ONNX Runtime side by side.
#[derive(Args)]
pub struct BenchArgs {
    /// ONNX model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Input shape, e.g. 1x34; several inputs separated by `;`, e.g. `1x1;1x1x32`
    /// (default: the model's, symbolic dimensions as 1).
    #[arg(long, value_parser = parse_shapes)]
    pub input_shape: Option<Shapes>,
    /// Timed runs.
    #[arg(long, default_value_t = 20_000)]
    pub iters: usize,
    /// Untimed runs first.
    #[arg(long, default_value_t = 1_000)]
    pub warmup: usize,
    /// Rows to cycle through, for every engine alike: a CSV read as `predict`
    /// reads it (with a header line, `featurize`'s non-feature columns are
    /// skipped), one model input row per line. Default: 256
    /// seeded random rows (never one repeated row, which a branch predictor
    /// would memorise).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Seed of the random rows.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// libonnxruntime.so to compare with (build with --features ort-compare).
    #[arg(long)]
    pub ort_lib: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// One shape per model input, as given to `--input-shape`.
#[derive(Debug, Clone)]
pub struct Shapes(Vec<Vec<usize>>);

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

pub fn run(a: BenchArgs) -> Result<ExitCode, Error> {
    let (model, json) = (a.model.as_path(), a.json);
    let rows = match &a.input {
        None => None,
        Some(p) => Some(read_rows(p)?),
    };
    let opts = edgeintent_offline::bench::BenchOptions {
        input_shapes: a.input_shape.map(|s| s.0),
        iters: a.iters,
        warmup: a.warmup,
        ort_lib: a.ort_lib,
        seed: a.seed,
        rows,
    };
    struct Counter;
    impl edgeintent_offline::bench::AllocationCounter for Counter {
        fn count(&self) -> u64 {
            counting_alloc::allocations()
        }
        fn set_counting(&self, on: bool) {
            counting_alloc::set_counting(on);
        }
    }
    let r = edgeintent_offline::bench::run(model, &opts, Some(&Counter))?;
    if json {
        println!("{}", serde_json::to_string(&r).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    let us = |ns: u64| format!("{:.2} µs", ns as f64 / 1000.0);
    println!(
        "model {} inputs {:?}, {} runs",
        r.model, r.input_shapes, r.iters
    );
    println!(
        "  rows: {} ({} distinct, cycled, the same for every engine)",
        r.rows.source, r.rows.count
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
    match (&r.native, &r.native_unavailable) {
        (Some(n), _) => {
            println!(
                "  native      p50 {}  p90 {}  p99 {}  mean {}  (output {}; {} allocations per run; max |native - tract| {:.2e})",
                us(n.latency.p50_ns),
                us(n.latency.p90_ns),
                us(n.latency.p99_ns),
                us(n.latency.mean_ns),
                n.output,
                n.allocs_per_run.map_or("uncounted".to_string(), |a| format!("{a:.1}")),
                n.max_abs_diff_tract
            );
            if let Some(ratio) = n.ratio_ort_p50 {
                println!("  ratio native / onnxruntime: p50 {ratio:.2}");
            }
        }
        (None, Some(why)) => println!("  native: not available ({why})"),
        (None, None) => {}
    }
    if let Some(kib) = r.peak_rss_kib {
        println!("  peak RSS {:.1} MiB", kib as f64 / 1024.0);
    }
    Ok(ExitCode::SUCCESS)
}

/// The rows of a CSV, read as `predict` reads them (a header line names the
/// columns; `featurize`'s non-feature columns are skipped).
fn read_rows(path: &std::path::Path) -> Result<edgeintent_offline::bench::BenchRows, Error> {
    let rows = crate::predict::read_rows(path, None)?;
    Ok(edgeintent_offline::bench::BenchRows {
        source: path.display().to_string(),
        rows: rows
            .values
            .chunks_exact(rows.width.max(1))
            .map(<[f32]>::to_vec)
            .collect(),
    })
}
