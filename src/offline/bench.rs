//! The model benchmark harness behind `edgeintent bench`: load time, latency
//! percentiles, throughput, peak RSS and heap allocations per run, optionally
//! side by side with ONNX Runtime (cargo feature `ort-compare`), interleaved
//! call by call so both engines see the same machine noise.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::OfflineError;
use crate::error::Error;
use crate::model::ModelError;
use crate::model::OnnxGraph;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// One shape per input; `None` takes the model's declared shapes with symbolic dims as 1.
    pub input_shapes: Option<Vec<Vec<usize>>>,
    /// Timed runs.
    pub iters: usize,
    /// Untimed runs first.
    pub warmup: usize,
    /// Seed of the random input.
    pub seed: u64,
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
            ort_lib: None,
        }
    }
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
}

/// The model's declared input shapes, symbolic dimensions taken as 1.
pub fn declared_input_shapes(path: &Path) -> Result<Vec<Vec<usize>>, ModelError> {
    let inputs = crate::model::declared_inputs(path)?;
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
    crate::model::check_input_shapes(&shapes, path)?;
    let owned: Vec<Vec<f32>> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| random_input(s.iter().product(), opts.seed + i as u64))
        .collect();
    let input: Vec<&[f32]> = owned.iter().map(Vec::as_slice).collect();
    let input = input.as_slice();
    let started = Instant::now();
    let mut graph = OnnxGraph::load_inputs(path, &shapes)?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;

    #[cfg(feature = "ort-compare")]
    let mut ort = match &opts.ort_lib {
        Some(lib) => Some(ort_side::OrtSide::load(lib, path, &shapes)?),
        None => None,
    };
    #[cfg(not(feature = "ort-compare"))]
    if opts.ort_lib.is_some() {
        return Err(OfflineError::OrtNotBuilt.into());
    }

    for _ in 0..opts.warmup {
        graph.run_discard(input)?;
        #[cfg(feature = "ort-compare")]
        if let Some(o) = ort.as_mut() {
            o.run(input)?;
        }
    }
    let mut ours = Vec::with_capacity(opts.iters);
    #[cfg(feature = "ort-compare")]
    let mut theirs: Vec<u64> = Vec::with_capacity(opts.iters);
    for i in 0..opts.iters {
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
        #[cfg(feature = "ort-compare")]
        if i % 2 == 0 {
            if let Some(o) = ort.as_mut() {
                theirs.push(o.timed_run(input)?);
            }
        }
        #[cfg(not(feature = "ort-compare"))]
        let _ = i;
    }
    let latency = Latency::from_samples(&mut ours);
    let allocs_per_run = match allocations {
        None => None,
        Some(counter) => {
            let runs = opts.iters.clamp(1, 1000);
            counter.set_counting(true);
            let before = counter.count();
            for _ in 0..runs {
                graph.run_discard(input)?;
            }
            let n = counter.count() - before;
            counter.set_counting(false);
            Some(n as f64 / runs as f64)
        }
    };
    #[allow(unused_mut)]
    let mut report = BenchReport {
        model: path.display().to_string(),
        input_shapes: shapes,
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
