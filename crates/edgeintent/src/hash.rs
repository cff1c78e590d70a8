//! The one hash the crate uses for identities (spec hashes, config
//! fingerprints, A/B buckets, entity keys): stable across platforms and releases.

/// 64-bit FNV-1a: tiny, stable across platforms and releases.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
