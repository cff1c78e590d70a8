//! The windows' arithmetic: the bin of a value, the population stability
//! index, and the model calls of the window (latency and errors).

use super::profile::{MAX_BINS, PSI_FLOOR};

/// What the model did at a decision point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ModelCall {
    /// Not consulted.
    Skipped = 0,
    /// Ran and scored.
    Ran = 1,
    /// Failed.
    Failed = 2,
}

/// The bin of `x` among `n` ascending edges padded with `+inf`: how many
/// edges lie below it (NaN: the last bin). Counted over the fixed width
/// without branches: a binary search over a few edges mispredicts.
#[inline(always)]
pub(super) fn bin_of(padded: &[f32; MAX_BINS], n: usize, x: f32) -> usize {
    if x.is_nan() {
        return n;
    }
    padded.iter().map(|&e| u32::from(e < x)).sum::<u32>() as usize
}

/// The population stability index of `counts` (out of `total`) against
/// reference shares floored at [`PSI_FLOOR`] (`floored`, and their
/// logarithms `ln_freq`); `ln_count[c]` is `ln(c)`.
pub(super) fn psi(
    counts: &[u32],
    total: u32,
    floored: &[f64],
    ln_freq: &[f64],
    ln_count: &[f64],
) -> f64 {
    let inv_n = 1.0 / f64::from(total.max(1));
    let ln_n = ln_count[total.max(1) as usize];
    let ln_floor = PSI_FLOOR.ln();
    let at_least = |v: f64, floor: f64| if v > floor { v } else { floor };
    counts
        .iter()
        .zip(floored.iter().zip(ln_freq))
        .map(|(&c, (&e, &ln_e))| {
            let a = at_least(f64::from(c) * inv_n, PSI_FLOOR);
            // ln(max(c / n, floor)) = max(ln c - ln n, ln floor): ln is monotone.
            let ln_a = at_least(ln_count[c as usize] - ln_n, ln_floor);
            (a - e) * (ln_a - ln_e)
        })
        .sum()
}

/// Latency exact to the microsecond below this; slower calls are counted
/// apart and a quantile among them falls back to a scan of the window.
pub(super) const EXACT_LATENCY_US: usize = 1024;

/// The window's model calls (ran or failed): how many, how many failed,
/// and a histogram of their latencies, kept as points enter and leave, so
/// a p99 needs no sort.
#[derive(Debug, Clone)]
pub(super) struct CallWindow {
    pub(super) calls: u32,
    pub(super) failed: u32,
    /// Calls per latency in µs, below [`EXACT_LATENCY_US`].
    pub(super) by_us: Box<[u32]>,
    pub(super) slower: u32,
}

impl Default for CallWindow {
    fn default() -> Self {
        CallWindow {
            calls: 0,
            failed: 0,
            by_us: vec![0; EXACT_LATENCY_US].into_boxed_slice(),
            slower: 0,
        }
    }
}

impl CallWindow {
    pub(super) fn slot(&mut self, latency_us: u32) -> &mut u32 {
        match self.by_us.get_mut(latency_us as usize) {
            Some(n) => n,
            None => &mut self.slower,
        }
    }

    pub(super) fn add(&mut self, model: u8, latency_us: u32) {
        if model == ModelCall::Skipped as u8 {
            return;
        }
        self.calls += 1;
        self.failed += u32::from(model == ModelCall::Failed as u8);
        *self.slot(latency_us) += 1;
    }

    pub(super) fn remove(&mut self, model: u8, latency_us: u32) {
        if model == ModelCall::Skipped as u8 {
            return;
        }
        self.calls -= 1;
        self.failed -= u32::from(model == ModelCall::Failed as u8);
        *self.slot(latency_us) -= 1;
    }

    /// The `k`-th smallest latency (from 0), when it is below the exact limit.
    pub(super) fn nth_smallest(&self, k: usize) -> Option<u32> {
        let mut seen = 0usize;
        for (us, &n) in self.by_us.iter().enumerate() {
            seen += n as usize;
            if seen > k {
                return Some(us as u32);
            }
        }
        None
    }
}
