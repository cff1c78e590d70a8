//! The model benchmark harness behind `edgeintent bench`: load time, latency
//! percentiles, throughput, peak RSS and heap allocations per run, optionally
//! side by side with ONNX Runtime (cargo feature `ort-compare`), interleaved
//! call by call so both engines see the same machine noise.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::error::Error;
use crate::error::OfflineError;
use edgeintent::ModelError;
use edgeintent::OnnxGraph;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// One shape per input; `None` takes the model's declared shapes with symbolic dims as 1.
    pub input_shapes: Option<Vec<Vec<usize>>>,
    /// Timed runs.
    pub iters: usize,
    /// Untimed runs first.
    pub warmup: usize,
    /// Seed of the random rows.
    pub seed: u64,
    /// Rows to cycle through (single-input models), e.g. from `--input
    /// ROWS.csv`; `None`: [`DEFAULT_ROWS`] seeded random rows.
    pub rows: Option<BenchRows>,
    /// `libonnxruntime.so` to compare with (needs the `ort-compare` feature).
    pub ort_lib: Option<PathBuf>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            input_shapes: None,
            iters: 20_000,
            warmup: 1_000,
            seed: 42,
            rows: None,
            ort_lib: None,
        }
    }
}

/// How many distinct random input sets are cycled when no rows are given: a
/// single repeated row lets the branch predictor memorise its path.
pub const DEFAULT_ROWS: usize = 256;

/// Rows given to the benchmark, and where they came from.
#[derive(Debug, Clone)]
pub struct BenchRows {
    /// Where they came from (a file name), for the report.
    pub source: String,
    /// The rows, all of the model input's width.
    pub rows: Vec<Vec<f32>>,
}

/// Which inputs were cycled.
#[derive(Debug, Clone, Serialize)]
pub struct RowsUsed {
    /// `random` or the rows' file.
    pub source: String,
    /// Distinct input sets, cycled in order.
    pub count: usize,
    /// The random rows' first seed (set `i` uses seeds `seed + i * inputs ..`).
    pub seed: Option<u64>,
}

/// The native executor's side of a benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct NativeSide {
    /// The output it computes (the runtime's score output).
    pub output: String,
    /// Its latency.
    #[serde(flatten)]
    pub latency: Latency,
    /// Heap allocations per run, when counted.
    pub allocs_per_run: Option<f64>,
    /// Native / ONNX Runtime, medians.
    pub ratio_ort_p50: Option<f64>,
    /// Largest absolute difference from tract on that output, over the rows.
    pub max_abs_diff_tract: f64,
}

/// Latency summary of one engine, nanoseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// Mean.
    pub mean_ns: u64,
    /// Runs per second at the mean latency.
    pub throughput_per_s: f64,
}

impl Latency {
    fn from_samples(samples: &mut [u64]) -> Latency {
        samples.sort_unstable();
        let n = samples.len().max(1);
        let q = |p: f64| {
            samples
                .get(((p * n as f64).ceil() as usize).clamp(1, n) - 1)
                .copied()
                .unwrap_or(0)
        };
        let mean = samples.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        Latency {
            p50_ns: q(0.50),
            p90_ns: q(0.90),
            p99_ns: q(0.99),
            mean_ns: mean.round() as u64,
            throughput_per_s: if mean > 0.0 { 1e9 / mean } else { 0.0 },
        }
    }
}

/// Everything `bench` reports (`--json` prints it as one object).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The model file.
    pub model: String,
    /// Input shapes used, in graph order.
    pub input_shapes: Vec<Vec<usize>>,
    /// The inputs cycled through, for every engine alike.
    pub rows: RowsUsed,
    /// Timed runs per engine.
    pub iters: usize,
    /// Load, optimise and plan time (ms).
    pub load_ms: f64,
    /// edgeintent (tract + edgeintent ops) latency.
    #[serde(flatten)]
    pub latency: Latency,
    /// Heap allocations per run (all made inside tract's plan and edgeintent's ops;
    /// the harness itself allocates nothing per run). `None` when not counted.
    pub allocs_per_run: Option<f64>,
    /// Peak resident set size of the process (KiB), Linux only.
    pub peak_rss_kib: Option<u64>,
    /// ONNX Runtime load time (ms), when compared.
    pub ort_load_ms: Option<f64>,
    /// ONNX Runtime median (ns).
    pub ort_p50_ns: Option<u64>,
    /// ONNX Runtime 90th percentile (ns).
    pub ort_p90_ns: Option<u64>,
    /// ONNX Runtime 99th percentile (ns).
    pub ort_p99_ns: Option<u64>,
    /// Ours / ONNX Runtime, medians.
    pub ratio_p50: Option<f64>,
    /// Ours / ONNX Runtime, 99th percentiles.
    pub ratio_p99: Option<f64>,
    /// Largest absolute difference between the engines' outputs.
    pub max_abs_diff: Option<f64>,
    /// Outputs compared (by name); ZipMap's map output cannot be read from ONNX Runtime.
    pub compared_outputs: Vec<String>,
    /// The native executor, when it compiles the model (else why not).
    pub native: Option<NativeSide>,
    /// Why the native executor does not take the model.
    pub native_unavailable: Option<String>,
}

/// The model's declared input shapes, symbolic dimensions taken as 1.
pub fn declared_input_shapes(path: &Path) -> Result<Vec<Vec<usize>>, ModelError> {
    let inputs = edgeintent::declared_inputs(path)?;
    if inputs.is_empty() {
        return Err(ModelError::Shape {
            path: path.to_owned(),
            why: "has no input".into(),
        });
    }
    Ok(inputs
        .iter()
        .map(|i| i.dims.iter().map(|d| d.parse().unwrap_or(1)).collect())
        .collect())
}

/// Deterministic pseudo-random input in [-1, 1) (SplitMix64).
pub fn random_input(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Peak resident set size (KiB) from `/proc/self/status`.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A process-wide allocation counter (the CLI installs a counting allocator).
pub trait AllocationCounter {
    /// Allocations counted so far.
    fn count(&self) -> u64;
    /// Starts or stops counting (timed runs happen with counting off).
    fn set_counting(&self, on: bool);
}

/// Runs the benchmark; allocations are counted, when a counter is given, in a
/// separate untimed pass so counting never slows the timed runs.
pub fn run(
    path: &Path,
    opts: &BenchOptions,
    allocations: Option<&dyn AllocationCounter>,
) -> Result<BenchReport, Error> {
    if opts.iters == 0 {
        return Err(OfflineError::NoIterations.into());
    }
    let shapes = match &opts.input_shapes {
        Some(s) => s.clone(),
        None => declared_input_shapes(path)?,
    };
    // The inputs are allocated before the model: check their size first.
    edgeintent::check_input_shapes(&shapes, path)?;
    let (sets, rows_used): (Vec<Vec<Vec<f32>>>, RowsUsed) = match &opts.rows {
        Some(given) => {
            let width: usize = shapes.first().map_or(0, |s| s.iter().product());
            if shapes.len() != 1 {
                return Err(OfflineError::BenchRows(format!(
                    "the model has {} inputs; rows feed a single-input model",
                    shapes.len()
                ))
                .into());
            }
            if given.rows.is_empty() {
                return Err(OfflineError::BenchRows(format!("{}: no rows", given.source)).into());
            }
            if let Some(bad) = given.rows.iter().position(|r| r.len() != width) {
                return Err(OfflineError::BenchRows(format!(
                    "{}: row {} has {} values; the model input takes {width}",
                    given.source,
                    bad + 1,
                    given.rows[bad].len()
                ))
                .into());
            }
            (
                given.rows.iter().map(|r| vec![r.clone()]).collect(),
                RowsUsed {
                    source: given.source.clone(),
                    count: given.rows.len(),
                    seed: None,
                },
            )
        }
        None => (
            (0..DEFAULT_ROWS as u64)
                .map(|k| {
                    shapes
                        .iter()
                        .enumerate()
                        .map(|(i, s)| {
                            let seed = opts.seed + k * shapes.len() as u64 + i as u64;
                            random_input(s.iter().product(), seed)
                        })
                        .collect()
                })
                .collect(),
            RowsUsed {
                source: "random".into(),
                count: DEFAULT_ROWS,
                seed: Some(opts.seed),
            },
        ),
    };
    let views: Vec<Vec<&[f32]>> = sets
        .iter()
        .map(|set| set.iter().map(Vec::as_slice).collect())
        .collect();
    let nth = |i: usize| views[i % views.len()].as_slice();
    let input = nth(0);
    let started = Instant::now();
    let mut graph = OnnxGraph::load_inputs(path, &shapes)?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    // The native executor on the score output (a classifier's probabilities).
    let single_row = shapes.iter().all(|s| s.first() == Some(&1));
    let (mut native, native_unavailable) = if single_row {
        let widths: Vec<usize> = input.iter().map(|i| i.len()).collect();
        match edgeintent::NativeModel::load(path, None) {
            Ok(m) if m.input_widths() == widths => (Some(m), None),
            Ok(m) => (
                None,
                Some(format!(
                    "it takes inputs of widths {:?}, the bench rows {widths:?}",
                    m.input_widths()
                )),
            ),
            Err(e) => (None, Some(e.to_string())),
        }
    } else {
        (None, Some("only single-row runs are native".into()))
    };

    #[cfg(feature = "ort-compare")]
    let mut ort = match &opts.ort_lib {
        Some(lib) => Some(ort_side::OrtSide::load(lib, path, &shapes)?),
        None => None,
    };
    #[cfg(not(feature = "ort-compare"))]
    if opts.ort_lib.is_some() {
        return Err(OfflineError::OrtNotBuilt.into());
    }

    for i in 0..opts.warmup {
        let input = nth(i);
        graph.run_discard(input)?;
        if let Some(m) = native.as_mut() {
            std::hint::black_box(m.run_inputs(input)?);
        }
        #[cfg(feature = "ort-compare")]
        if let Some(o) = ort.as_mut() {
            o.run(input)?;
        }
    }
    let mut ours = Vec::with_capacity(opts.iters);
    let mut natives: Vec<u64> = Vec::with_capacity(if native.is_some() { opts.iters } else { 0 });
    #[cfg(feature = "ort-compare")]
    let mut theirs: Vec<u64> = Vec::with_capacity(opts.iters);
    for i in 0..opts.iters {
        let input = nth(i);
        // Alternate which engine goes first so neither always runs on a warmer cache.
        #[cfg(feature = "ort-compare")]
        if i % 2 == 1 {
            if let Some(o) = ort.as_mut() {
                theirs.push(o.timed_run(input)?);
            }
        }
        let t0 = Instant::now();
        graph.run_discard(input)?;
        let dt = t0.elapsed();
        ours.push(u64::try_from(dt.as_nanos()).unwrap_or(u64::MAX));
        if let Some(m) = native.as_mut() {
            let t0 = Instant::now();
            std::hint::black_box(m.run_inputs(input)?);
            natives.push(u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        #[cfg(feature = "ort-compare")]
        if i % 2 == 0 {
            if let Some(o) = ort.as_mut() {
                theirs.push(o.timed_run(input)?);
            }
        }
    }
    let latency = Latency::from_samples(&mut ours);
    let allocs_per_run = match allocations {
        None => None,
        Some(counter) => {
            let runs = opts.iters.clamp(1, 1000);
            counter.set_counting(true);
            let before = counter.count();
            for i in 0..runs {
                graph.run_discard(nth(i))?;
            }
            let n = counter.count() - before;
            counter.set_counting(false);
            Some(n as f64 / runs as f64)
        }
    };
    let native_side = match native.as_mut() {
        None => None,
        Some(m) => {
            let native_allocs = match allocations {
                None => None,
                Some(counter) => {
                    let runs = opts.iters.clamp(1, 1000);
                    counter.set_counting(true);
                    let before = counter.count();
                    for i in 0..runs {
                        std::hint::black_box(m.run_inputs(nth(i))?);
                    }
                    let n = counter.count() - before;
                    counter.set_counting(false);
                    Some(n as f64 / runs as f64)
                }
            };
            // Agreement with tract on the same output, over every row.
            let out_ix = graph
                .output_names()
                .iter()
                .position(|o| o == m.output_name());
            let mut diff = 0f64;
            if let Some(ix) = out_ix {
                for i in 0..views.len() {
                    let t = graph.run_inputs(nth(i))?;
                    if let edgeintent::OutputValues::Float(t) = &t[ix].values {
                        for (a, b) in m.run_inputs(nth(i))?.iter().zip(t) {
                            let d = (f64::from(*a) - b).abs();
                            if d.is_nan() {
                                if !(a.is_nan() && b.is_nan()) {
                                    diff = f64::INFINITY;
                                }
                            } else {
                                diff = diff.max(d);
                            }
                        }
                    }
                }
            }
            Some(NativeSide {
                output: m.output_name().to_owned(),
                latency: Latency::from_samples(&mut natives),
                allocs_per_run: native_allocs,
                ratio_ort_p50: None,
                max_abs_diff_tract: diff,
            })
        }
    };
    #[allow(unused_mut)]
    let mut report = BenchReport {
        model: path.display().to_string(),
        input_shapes: shapes,
        rows: rows_used,
        iters: opts.iters,
        load_ms,
        allocs_per_run,
        peak_rss_kib: None,
        ort_load_ms: None,
        ort_p50_ns: None,
        ort_p90_ns: None,
        ort_p99_ns: None,
        ratio_p50: None,
        ratio_p99: None,
        max_abs_diff: None,
        compared_outputs: Vec::new(),
        latency,
        native: native_side,
        native_unavailable,
    };
    #[cfg(feature = "ort-compare")]
    if let Some(o) = ort.as_mut() {
        let l = Latency::from_samples(&mut theirs);
        report.ort_load_ms = Some(o.load_ms);
        report.ort_p50_ns = Some(l.p50_ns);
        report.ort_p90_ns = Some(l.p90_ns);
        report.ort_p99_ns = Some(l.p99_ns);
        report.ratio_p50 = Some(report.latency.p50_ns as f64 / l.p50_ns.max(1) as f64);
        report.ratio_p99 = Some(report.latency.p99_ns as f64 / l.p99_ns.max(1) as f64);
        if let Some(n) = report.native.as_mut() {
            n.ratio_ort_p50 = Some(n.latency.p50_ns as f64 / l.p50_ns.max(1) as f64);
        }
        let (diff, names) = o.compare(&mut graph, input)?;
        report.max_abs_diff = diff;
        report.compared_outputs = names;
    }
    report.peak_rss_kib = peak_rss_kib();
    Ok(report)
}

#[cfg(feature = "ort-compare")]
mod ort_side;

/// ONNX Runtime on a model, for side-by-side benches (feature `ort-compare`).
#[cfg(feature = "ort-compare")]
pub struct OrtRunner(ort_side::OrtSide);

#[cfg(feature = "ort-compare")]
impl OrtRunner {
    /// Opens `lib` (the wheel's libonnxruntime.so) and loads `model` for these input shapes.
    pub fn load(lib: &Path, model: &Path, shapes: &[Vec<usize>]) -> Result<OrtRunner, Error> {
        ort_side::OrtSide::load(lib, model, shapes).map(OrtRunner)
    }

    /// One run on one slice per input.
    pub fn run(&mut self, inputs: &[&[f32]]) -> Result<(), Error> {
        self.0.run(inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_sorted_samples() {
        let mut s: Vec<u64> = (1..=100).rev().collect();
        let l = Latency::from_samples(&mut s);
        assert_eq!((l.p50_ns, l.p90_ns, l.p99_ns), (50, 90, 99));
        assert_eq!(l.mean_ns, 51);
    }

    #[test]
    fn random_input_is_seeded_and_in_range() {
        let a = random_input(1000, 7);
        assert_eq!(a, random_input(1000, 7));
        assert_ne!(a, random_input(1000, 8));
        assert!(a.iter().all(|v| (-1.0..1.0).contains(v)));
    }
}
