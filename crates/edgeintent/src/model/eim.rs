//! `.eim` packages: the native executor's compiled plan with the model's
//! package metadata, versioned and checksummed, so a device build loads a
//! model without tract or ONNX. Written by `edgeintent compile`; the runtime
//! checks the spec hash, feature names and normalisation exactly as it does
//! for ONNX files.
//!
//! Layout: `EIM\0`, format version (u32 LE), payload length (u64 LE), the
//! payload's SHA-256 (32 bytes), then the payload (bincode, serde).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::ModelError;
use super::metadata::ModelMetadata;
use super::native::NativePlan;

const MAGIC: &[u8; 4] = b"EIM\0";
/// The format version this build writes and reads.
pub const EIM_VERSION: u32 = 1;
const HEADER: usize = 4 + 4 + 8 + 32;
/// The largest payload read (64 MiB): bounds what a damaged length can allocate.
const MAX_PAYLOAD: usize = 64 << 20;

/// Whether `bytes` start like a `.eim` package.
pub(crate) fn is_eim(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// How the score is read from the plan's output row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum EimReading {
    Column(u32),
    Probability,
    Logit,
}

/// What a package holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EimPayload {
    pub(crate) props: BTreeMap<String, String>,
    pub(crate) producer: String,
    pub(crate) output_name: String,
    pub(crate) reading: EimReading,
    pub(crate) plan: NativePlan,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_PAYLOAD>()
}

/// Encodes a package.
pub(crate) fn write(payload: &EimPayload) -> Result<Vec<u8>, String> {
    let body = bincode::serde::encode_to_vec(payload, config()).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&EIM_VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(&body));
    out.extend_from_slice(&body);
    Ok(out)
}

/// What a decoding failure means for the package, in words.
fn decode_error(e: &bincode::error::DecodeError) -> String {
    use bincode::error::DecodeError as D;
    match e {
        D::UnexpectedEnd { .. } => {
            "the payload ends early (truncated, or written by another format)".into()
        }
        D::LimitExceeded => format!("the payload claims more than {MAX_PAYLOAD} bytes"),
        other => format!("the payload does not decode: {other}"),
    }
}

/// Decodes and checks a package: version, length, checksum, every index its
/// plan follows, and that its arena fits `budget` bytes (`model.max_memory_mb`).
pub(crate) fn read(
    bytes: &[u8],
    path: &Path,
    budget: u64,
) -> Result<(EimPayload, ModelMetadata), ModelError> {
    let bad = |why: String| ModelError::Package {
        path: path.to_owned(),
        why,
    };
    if bytes.len() < HEADER || !is_eim(bytes) {
        return Err(bad("too short or no EIM header".into()));
    }
    let word = |at: usize, n: usize| &bytes[at..at + n];
    let version = u32::from_le_bytes(word(4, 4).try_into().unwrap_or_default());
    if version != EIM_VERSION {
        return Err(bad(format!(
            "format version {version}; this build reads version {EIM_VERSION} (recompile it with this build's `edgeintent compile`)"
        )));
    }
    let len = u64::from_le_bytes(word(8, 8).try_into().unwrap_or_default());
    let body = &bytes[HEADER..];
    if len != body.len() as u64 || body.len() > MAX_PAYLOAD {
        return Err(bad(format!(
            "the header says {len} payload bytes, the file holds {}",
            body.len()
        )));
    }
    if Sha256::digest(body).as_slice() != word(16, 32) {
        return Err(bad("checksum mismatch: the file is damaged".into()));
    }
    let (payload, used): (EimPayload, usize) =
        bincode::serde::decode_from_slice(body, config()).map_err(|e| bad(decode_error(&e)))?;
    if used != body.len() {
        return Err(bad("trailing bytes after the payload".into()));
    }
    let arena_bytes = (payload.plan.arena_len as u64).saturating_mul(4);
    if arena_bytes.saturating_add(body.len() as u64) > budget {
        return Err(ModelError::Refused {
            path: path.to_owned(),
            why: format!(
                "its plan needs {} MiB (arena and weights), over the model memory budget of {} MiB (model.max_memory_mb)",
                (arena_bytes + body.len() as u64).div_ceil(1 << 20),
                budget >> 20
            ),
        });
    }
    let payload = EimPayload {
        plan: payload.plan.ready().map_err(bad)?,
        ..payload
    };
    if let EimReading::Column(c) = payload.reading {
        if c >= payload.plan.output.len {
            return Err(bad(format!(
                "reads column {c} of a {}-wide output",
                payload.plan.output.len
            )));
        }
    }
    let metadata = ModelMetadata {
        props: payload.props.clone(),
        producer: payload.producer.clone(),
    };
    Ok((payload, metadata))
}
