//! Persisted runtime state: a versioned, checksummed container around a
//! bincode 2 payload, written atomically (temporary file, fsync, rename,
//! fsync of the folder), so an app killed at any moment leaves either the
//! old snapshot or the new one, never a torn file.
//!
//! Layout (little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `EISNAP\r\n` |
//! | 4 | format version ([`FORMAT_VERSION`]) |
//! | 8 | FNV-1a 64 of the feature spec hash and fence ids the state was built for |
//! | 8 | payload length |
//! | 8 | FNV-1a 64 of the payload |
//! | n | payload (bincode 2, serde, standard config, 64 MiB limit) |

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The file's first bytes.
pub const MAGIC: &[u8; 8] = b"EISNAP\r\n";
/// The container and payload version this build writes and reads. 3: the
/// geofence state carries the motion estimate and the fix budget's ring
/// (bincode is not self-describing, so a new field is a new version).
/// 4: the payload starts with the config and model versions in force.
/// 5: the monitors' windows. 6: the monitors' own history of the device.
/// 7: the geofence motion estimate keeps its recent fixes.
pub const FORMAT_VERSION: u32 = 7;
const HEADER_LEN: usize = 8 + 4 + 8 + 8 + 8;
/// Payloads larger than this are refused (and never allocated when decoding).
pub const MAX_PAYLOAD: usize = 64 << 20;

/// Why a snapshot could not be written or used. Loading never changes the
/// runtime when it fails: it keeps the state it had (fresh at start-up).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The file could not be read or written.
    #[error("snapshot {path}: {why}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        why: String,
    },
    /// Shorter than its header or its declared payload.
    #[error("snapshot is truncated: {got} bytes, expected at least {want}")]
    Truncated {
        /// Bytes present.
        got: usize,
        /// Bytes needed.
        want: usize,
    },
    /// Not a snapshot at all.
    #[error("not an edgeintent snapshot (bad magic bytes)")]
    BadMagic,
    /// Written by a newer (or unknown) format.
    #[error("snapshot format version {found} is not supported (this build reads {supported}); start fresh")]
    Version {
        /// The file's version.
        found: u32,
        /// What this build reads.
        supported: u32,
    },
    /// The payload does not match its checksum.
    #[error("snapshot is corrupt: checksum mismatch")]
    Checksum,
    /// Made for another feature spec or fence set.
    #[error(
        "snapshot was made for another configuration (feature spec or fences differ); start fresh"
    )]
    ConfigMismatch,
    /// Made while another config or model update was in force.
    #[error("snapshot was made under {snapshot}, but {running} is in force; start fresh (or restore the update it was made under)")]
    VersionMismatch {
        /// The versions the snapshot records.
        snapshot: String,
        /// The versions in force.
        running: String,
    },
    /// The payload (or the file) is larger than any snapshot.
    #[error("snapshot of {bytes} bytes exceeds the {MAX_PAYLOAD}-byte limit")]
    TooLarge {
        /// Its size.
        bytes: u64,
    },
    /// The payload does not decode.
    #[error("snapshot payload does not decode: {0}")]
    Decode(String),
    /// Bytes follow the decoded state.
    #[error("snapshot payload has {0} trailing bytes after the state")]
    TrailingBytes(usize),
    /// A component's saved state does not fit its settings.
    #[error("snapshot state does not fit the configuration: {0}")]
    State(#[from] StateError),
}

/// Why a component refuses a saved state: it does not fit the component's
/// settings (another ring size, another number of rules or fences).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A table of the state has another size than the settings give it.
    #[error("{component}: {what} has {got} entries, the configuration gives {want}")]
    Size {
        /// The component (`features`, `policy`, `triggers`, `dedup`, `geofence`).
        component: &'static str,
        /// Which table.
        what: &'static str,
        /// Entries in the saved state.
        got: usize,
        /// Entries the settings give.
        want: usize,
    },
    /// A value of the state is impossible (out of range, not finite, of another kind).
    #[error("{component}: {what} is impossible")]
    Impossible {
        /// The component.
        component: &'static str,
        /// Which value.
        what: &'static str,
    },
}

/// A component that survives a restart. Every stateful component is
/// `{settings, state}`: settings come from the config and are never saved; a
/// snapshot holds only states, which [`Persist::restore_state`] checks against
/// the settings before taking them.
pub(crate) trait Persist {
    /// What a snapshot holds of this component.
    type State: Serialize + DeserializeOwned;
    /// A copy of the current state.
    fn save_state(&self) -> Self::State;
    /// Checks `state` against the settings and installs it; on error nothing changes.
    fn restore_state(&mut self, state: Self::State) -> Result<(), StateError>;
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_PAYLOAD>()
}

fn fnv(bytes: &[u8]) -> u64 {
    crate::hash::fnv1a64(bytes)
}

/// Wraps a state in the container; `fingerprint` identifies the configuration.
pub(crate) fn encode<T: Serialize>(state: &T, fingerprint: u64) -> Result<Vec<u8>, SnapshotError> {
    let payload = bincode::serde::encode_to_vec(state, config())
        .map_err(|e| SnapshotError::Decode(e.to_string()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&fingerprint.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&fnv(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Checks the container and returns its payload.
pub fn open(bytes: &[u8], fingerprint: u64) -> Result<&[u8], SnapshotError> {
    open_checked(bytes, Some(fingerprint))
}

/// The payload of a sound container made for any configuration (to read
/// what it records when the configuration does not match).
pub(crate) fn open_any(bytes: &[u8]) -> Result<&[u8], SnapshotError> {
    open_checked(bytes, None)
}

/// Decodes the value at the start of a payload, ignoring what follows.
pub(crate) fn decode_prefix<T: DeserializeOwned>(payload: &[u8]) -> Result<T, SnapshotError> {
    bincode::serde::decode_from_slice::<T, _>(payload, config())
        .map(|(v, _)| v)
        .map_err(|e| SnapshotError::Decode(e.to_string()))
}

fn open_checked(bytes: &[u8], fingerprint: Option<u64>) -> Result<&[u8], SnapshotError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
            SnapshotError::Truncated {
                got: bytes.len(),
                want: HEADER_LEN,
            }
        } else {
            SnapshotError::BadMagic
        });
    }
    if bytes.len() < HEADER_LEN {
        return Err(SnapshotError::Truncated {
            got: bytes.len(),
            want: HEADER_LEN,
        });
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != FORMAT_VERSION {
        return Err(SnapshotError::Version {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let len = u64_at(bytes, 20);
    if len > MAX_PAYLOAD as u64 {
        return Err(SnapshotError::TooLarge { bytes: len });
    }
    let want = HEADER_LEN + len as usize;
    if bytes.len() < want {
        return Err(SnapshotError::Truncated {
            got: bytes.len(),
            want,
        });
    }
    let payload = &bytes[HEADER_LEN..want];
    if fnv(payload) != u64_at(bytes, 28) {
        return Err(SnapshotError::Checksum);
    }
    if fingerprint.is_some_and(|f| u64_at(bytes, 12) != f) {
        return Err(SnapshotError::ConfigMismatch);
    }
    Ok(payload)
}

/// A copy of the valid snapshot `base` (its version and configuration) with
/// `payload` in place of its state, length and checksum updated: for fuzzing
/// the decoder behind the container checks, and for tools that rewrite state.
pub fn reseal(base: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&base[..HEADER_LEN.min(base.len())]);
    out.resize(HEADER_LEN, 0);
    out[20..28].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    out[28..36].copy_from_slice(&fnv(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Decodes a payload (already checked by [`open`]); never panics, never
/// allocates beyond [`MAX_PAYLOAD`].
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, SnapshotError> {
    let (state, used) = bincode::serde::decode_from_slice::<T, _>(payload, config())
        .map_err(|e| SnapshotError::Decode(e.to_string()))?;
    if used != payload.len() {
        return Err(SnapshotError::TrailingBytes(payload.len() - used));
    }
    Ok(state)
}

/// Writes `bytes` to `path` atomically. The temporary file has a name of
/// its own in the same folder, created exclusively (a symlink or a file
/// planted at that name is never followed or reused), so two writers to one
/// path never share it; a snapshot larger than [`read`] accepts is refused
/// before anything is written; the temporary file is read back and compared
/// before it replaces the previous snapshot, and removed if anything fails.
/// `before_rename` runs after the temporary file is complete and synced; an
/// error from it aborts the write as a crash would (tests use it to stand
/// for a kill at that moment).
pub(crate) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    before_rename: impl FnOnce() -> std::io::Result<()>,
) -> Result<(), SnapshotError> {
    let io = |e: std::io::Error| SnapshotError::Io {
        path: path.to_owned(),
        why: e.to_string(),
    };
    if bytes.len() > HEADER_LEN + MAX_PAYLOAD {
        return Err(SnapshotError::TooLarge {
            bytes: bytes.len() as u64,
        });
    }
    let (tmp, mut f) = create_temp(path).map_err(io)?;
    let result = (|| {
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        // Never let a save replace a good snapshot with one that cannot be read back.
        if read(&tmp).map_err(|e| std::io::Error::other(e.to_string()))? != bytes {
            return Err(std::io::Error::other(
                "the temporary file does not read back as written",
            ));
        }
        before_rename()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    // The rename itself must reach the disk.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// A new temporary file beside `path`, created exclusively under a name no
/// other writer (thread or process) uses.
fn create_temp(path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut last = None;
    for _ in 0..16 {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(
            ".{}.{}.tmp",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = PathBuf::from(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
}

/// Reads a whole snapshot file (a regular file; a FIFO or a device is refused
/// rather than read).
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, SnapshotError> {
    let len = std::fs::metadata(path)
        .map_err(|e| SnapshotError::Io {
            path: path.to_owned(),
            why: e.to_string(),
        })?
        .len();
    if len > (HEADER_LEN + MAX_PAYLOAD) as u64 {
        return Err(SnapshotError::TooLarge { bytes: len });
    }
    crate::limits::read_regular(path, (HEADER_LEN + MAX_PAYLOAD) as u64).map_err(|e| {
        SnapshotError::Io {
            path: path.to_owned(),
            why: e.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_kind_of_damage_is_named() {
        let state = (42u32, vec![1.5f32, 2.5], String::from("x"));
        let bytes = encode(&state, 7).unwrap();
        let back: (u32, Vec<f32>, String) = decode_payload(open(&bytes, 7).unwrap()).unwrap();
        assert_eq!(back, state);
        assert!(matches!(
            open(&bytes, 8),
            Err(SnapshotError::ConfigMismatch)
        ));
        for cut in [0, 3, 8, HEADER_LEN - 1, bytes.len() - 1] {
            assert!(
                matches!(open(&bytes[..cut], 7), Err(SnapshotError::Truncated { .. })),
                "cut at {cut}"
            );
        }
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 0x40;
        assert!(matches!(open(&flipped, 7), Err(SnapshotError::Checksum)));
        let mut future = bytes.clone();
        future[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let e = open(&future, 7).unwrap_err();
        assert!(
            matches!(e, SnapshotError::Version { found, .. } if found == FORMAT_VERSION + 1),
            "{e}"
        );
        // A snapshot of the previous format (whole feature state) is refused
        // by its version, not misread.
        let mut old = bytes.clone();
        old[8..12].copy_from_slice(&1u32.to_le_bytes());
        assert!(matches!(
            open(&old, 7),
            Err(SnapshotError::Version { found: 1, .. })
        ));
        assert!(matches!(
            open(b"PK\x03\x04 not ours", 7),
            Err(SnapshotError::BadMagic)
        ));
        let mut huge = bytes.clone();
        huge[20..28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            open(&huge, 7),
            Err(SnapshotError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_kill_before_the_rename_leaves_the_previous_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.snap");
        write_atomic(&path, b"first", || Ok(())).unwrap();
        let crash = write_atomic(&path, b"second", || {
            Err(std::io::Error::other("killed before rename"))
        });
        assert!(crash.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        write_atomic(&path, b"third", || Ok(())).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"third");
        // No temporary file is left behind, by the failed save or the good one.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.snap"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_at_the_old_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, b"precious").unwrap();
        let path = dir.path().join("s.snap");
        std::os::unix::fs::symlink(&victim, dir.path().join("s.snap.tmp")).unwrap();
        write_atomic(&path, b"state", || Ok(())).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&path).unwrap(), b"state");
    }

    #[test]
    fn a_snapshot_too_large_to_read_back_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.snap");
        write_atomic(&path, b"good", || Ok(())).unwrap();
        let big = vec![0u8; HEADER_LEN + MAX_PAYLOAD + 1];
        assert!(matches!(
            write_atomic(&path, &big, || Ok(())),
            Err(SnapshotError::TooLarge { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"good");
    }

    #[test]
    fn two_writers_to_one_path_both_succeed_and_a_reader_sees_a_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.snap");
        write_atomic(&path, &[1u8; 4096], || Ok(())).unwrap();
        std::thread::scope(|s| {
            for k in 2..4u8 {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..50 {
                        write_atomic(path, &[k; 4096], || Ok(())).unwrap();
                    }
                });
            }
            s.spawn(|| {
                for _ in 0..200 {
                    let b = std::fs::read(&path).unwrap();
                    assert_eq!(b.len(), 4096);
                    assert!(b.iter().all(|&x| x == b[0]));
                }
            });
        });
    }
}
