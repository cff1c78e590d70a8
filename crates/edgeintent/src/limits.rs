//! The bounds every input is checked against, in one place: durations in
//! configs, timestamps in events and snapshots. Time arithmetic inside these
//! bounds cannot overflow an `i64` of milliseconds.

/// The longest duration any config field may hold: ten years, in seconds.
pub const MAX_DURATION_S: f64 = 315_360_000.0;

/// The latest timestamp an event or snapshot may carry: 2200-01-01 UTC, in
/// Unix milliseconds.
pub const MAX_TS_MS: i64 = 7_258_118_400_000;

/// Why a duration in seconds is out of bounds (non-finite, negative, or over
/// [`MAX_DURATION_S`]), or `None` when it is fine.
pub(crate) fn bad_duration(v: f64) -> Option<String> {
    if !v.is_finite() || v < 0.0 {
        Some(format!("must be a non-negative number of seconds, got {v}"))
    } else if v > MAX_DURATION_S {
        Some(format!(
            "must be at most {MAX_DURATION_S} seconds (ten years), got {v}"
        ))
    } else {
        None
    }
}

/// Whether a timestamp is within `0..=MAX_TS_MS`.
pub fn ts_in_range(ts_ms: i64) -> bool {
    (0..=MAX_TS_MS).contains(&ts_ms)
}

/// An error unless `path` is a regular file: opening a FIFO blocks until a
/// writer comes, and a device such as `/dev/zero` never ends.
pub fn ensure_regular_file(path: &std::path::Path) -> std::io::Result<()> {
    regular_metadata(path).map(|_| ())
}

/// The metadata of `path`, or an error unless it is a regular file.
fn regular_metadata(path: &std::path::Path) -> std::io::Result<std::fs::Metadata> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        Ok(meta)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ))
    }
}

/// The largest config or feature-spec file read (16 MiB).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Reads a whole file of at most `max_bytes`. Anything but a regular file
/// (a FIFO would block forever, `/dev/zero` never ends) and anything larger
/// is an error that says so, before a byte is read.
pub fn read_regular(path: &std::path::Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let meta = regular_metadata(path)?;
    if meta.len() > max_bytes {
        return Err(too_large(meta.len(), max_bytes));
    }
    let mut out = Vec::with_capacity(meta.len() as usize);
    // The file may grow after the check: read one byte past the limit to see.
    std::fs::File::open(path)?
        .take(max_bytes + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > max_bytes {
        return Err(too_large(out.len() as u64, max_bytes));
    }
    Ok(out)
}

fn too_large(got: u64, max: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{got} bytes, more than the {max}-byte limit"),
    )
}
