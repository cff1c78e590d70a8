//! Fixed-size latency histogram for the per-decision path: recording is O(1)
//! and allocation-free; percentiles are read at reporting time.
//! Log-linear buckets (8 per power of two) bound the relative error to 12.5%.

const SUB: u32 = 8;
const POWERS: u32 = 40;
const BUCKETS: usize = (POWERS * SUB) as usize;

/// Latency histogram in nanoseconds (values up to ~18 minutes).
#[derive(Debug, Clone)]
pub(crate) struct LatencyHistogram {
    counts: Box<[u64]>,
    total: u64,
    max_ns: u64,
}

impl LatencyHistogram {
    pub(crate) fn new() -> Self {
        LatencyHistogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            max_ns: 0,
        }
    }

    fn bucket(ns: u64) -> usize {
        if ns < u64::from(SUB) {
            return ns as usize;
        }
        let p = 63 - ns.leading_zeros(); // floor(log2 ns) >= 3
        let sub = (ns >> (p - 3)) & u64::from(SUB - 1);
        (((p - 2) * SUB) as usize + sub as usize).min(BUCKETS - 1)
    }

    /// Upper bound of a bucket (what percentiles report).
    fn upper(b: usize) -> u64 {
        let b = b as u64;
        if b < u64::from(SUB) {
            return b;
        }
        let p = b / u64::from(SUB) + 2;
        let sub = b % u64::from(SUB);
        ((u64::from(SUB) + sub + 1) << (p - 3)) - 1
    }

    pub(crate) fn record(&mut self, ns: u64) {
        self.counts[Self::bucket(ns)] += 1;
        self.total += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    pub(crate) fn count(&self) -> u64 {
        self.total
    }

    /// Non-empty buckets as `[upper bound ns, count]`, in order.
    pub(crate) fn buckets(&self) -> Vec<[u64; 2]> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(b, c)| [Self::upper(b), *c])
            .collect()
    }

    /// The `q` quantile (0..=1), `None` when empty.
    pub(crate) fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::upper(b).min(self.max_ns));
            }
        }
        Some(self.max_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_bound_their_values() {
        let mut last = 0;
        for ns in [0u64, 1, 7, 8, 9, 15, 16, 100, 1_000, 12_345, 1 << 30] {
            let b = LatencyHistogram::bucket(ns);
            assert!(b >= last, "{ns}");
            last = b;
            assert!(LatencyHistogram::upper(b) >= ns, "{ns}");
            assert!(
                LatencyHistogram::upper(b) as f64 <= ns as f64 * 1.125 + 1.0,
                "{ns}"
            );
        }
    }

    #[test]
    fn quantiles_follow_the_data() {
        let mut h = LatencyHistogram::new();
        assert_eq!(h.quantile(0.5), None);
        for ns in 1..=1000u64 {
            h.record(ns * 1000);
        }
        let p50 = h.quantile(0.5).unwrap() as f64;
        let p99 = h.quantile(0.99).unwrap() as f64;
        assert!((500_000.0..=570_000.0).contains(&p50), "{p50}");
        assert!((990_000.0..=1_000_000.0).contains(&p99), "{p99}");
        assert_eq!(h.count(), 1000);
    }
}
