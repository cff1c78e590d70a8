//! Live updates from the server: the signed update package (a config or a
//! model), its checks, the staged roll-out arm of this device, and the
//! `updates` section of the app's config that pins the server's keys.
//!
//! Package format 1 (all integers little-endian):
//!
//! ```text
//! magic "EIUPD\0\0\x01" (8 bytes) | manifest length M (u32) | manifest JSON (M bytes)
//! | Ed25519 signature (64 bytes) over the first 12 + M bytes | payload
//! ```
//!
//! The signature covers the manifest as sent, and the manifest holds the
//! payload's SHA-256 and length, so one signature check vouches for all of it.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, VerifyingKey, SIGNATURE_LENGTH};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The first bytes of every update package (format 1).
pub const PACKAGE_MAGIC: &[u8; 8] = b"EIUPD\0\0\x01";

/// The package format this build reads and writes (also `manifest.format`).
pub const PACKAGE_FORMAT: u32 = 1;

/// The largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 16 << 10;

/// The largest package accepted (a model payload included), in bytes.
pub const MAX_PACKAGE_BYTES: usize = 64 << 20;

const HEAD: usize = PACKAGE_MAGIC.len() + 4;

/// What an update replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateKind {
    /// The runtime config: policy, buckets, triggers, dedup, geofences, model options.
    Config,
    /// The model package (an ONNX file with edgeintent's metadata).
    Model,
}

impl UpdateKind {
    /// `config` or `model`.
    pub fn name(self) -> &'static str {
        match self {
            UpdateKind::Config => "config",
            UpdateKind::Model => "model",
        }
    }
}

/// One arm of a staged roll-out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutArm {
    /// The arm's name, reported in stats and decisions.
    pub name: String,
    /// Its share of users, in (0, 1]; the shares of all arms sum to 1.
    pub share: f64,
    /// Whether devices in this arm apply the update (false: a control arm).
    pub apply: bool,
}

/// A staged roll-out: which users apply the update.
///
/// A user's arm: with `h` the first 8 bytes of SHA-256(`<salt>:<user id>`)
/// read big-endian, `u = (h >> 11) / 2^53`, and the arm is the first whose
/// cumulative share exceeds `u`. The server computes the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// Salt of the user hash; a new salt reshuffles users.
    pub salt: String,
    /// The arms, in order.
    pub arms: Vec<RolloutArm>,
}

impl Rollout {
    /// The arm of `user_id`.
    pub fn arm_of(&self, user_id: &str) -> &RolloutArm {
        let digest = Sha256::digest(format!("{}:{user_id}", self.salt).as_bytes());
        let mut h = [0u8; 8];
        h.copy_from_slice(&digest[..8]);
        let u = (u64::from_be_bytes(h) >> 11) as f64 / (1u64 << 53) as f64;
        let mut upto = 0.0;
        for arm in &self.arms {
            upto += arm.share;
            if u < upto {
                return arm;
            }
        }
        // Rounding: the shares sum to 1 within 1e-6.
        &self.arms[self.arms.len() - 1]
    }

    /// The arm by name.
    pub fn arm_named(&self, name: &str) -> Option<&RolloutArm> {
        self.arms.iter().find(|a| a.name == name)
    }

    fn validate(&self) -> Result<(), String> {
        if self.arms.is_empty() || self.arms.len() > 16 {
            return Err("rollout.arms must hold 1 to 16 arms".into());
        }
        for (i, a) in self.arms.iter().enumerate() {
            check_label(&a.name).map_err(|why| format!("rollout.arms[{i}].name: {why}"))?;
            if !(a.share > 0.0 && a.share <= 1.0) {
                return Err(format!(
                    "rollout.arms[{i}].share must be in (0, 1], got {}",
                    a.share
                ));
            }
            if self.arms[..i].iter().any(|b| b.name == a.name) {
                return Err(format!("rollout.arms[{i}].name {:?} is repeated", a.name));
            }
        }
        let total: f64 = self.arms.iter().map(|a| a.share).sum();
        if (total - 1.0).abs() > 1e-6 {
            return Err(format!("rollout shares must sum to 1, they sum to {total}"));
        }
        Ok(())
    }
}

/// What the server says about an update; signed together with the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Package format; must be [`PACKAGE_FORMAT`].
    pub format: u32,
    /// What the payload replaces.
    pub kind: UpdateKind,
    /// A label for the version (1 to 64 of `A-Z a-z 0-9 . _ -`), shown in
    /// stats and decisions.
    pub version: String,
    /// Increases with every update of this kind the server signs; a device
    /// refuses a sequence not above the one in force, so an old package
    /// cannot be replayed to downgrade it.
    pub sequence: u64,
    /// SHA-256 of the payload, lower-case hex (empty for a rollback).
    #[serde(default)]
    pub payload_sha256: String,
    /// Length of the payload in bytes.
    #[serde(default)]
    pub payload_bytes: u64,
    /// A config whose feature spec differs may reset feature state, timers
    /// and dedup lists; without this it is refused.
    #[serde(default)]
    pub reset_state: bool,
    /// Return to the version the app shipped with (no payload).
    #[serde(default)]
    pub rollback: bool,
    /// The lowest app version that may apply it (dotted numbers, e.g. `3.2.0`).
    #[serde(default)]
    pub min_app_version: Option<String>,
    /// A staged roll-out; absent: every device applies it.
    #[serde(default)]
    pub rollout: Option<Rollout>,
}

impl Manifest {
    /// A manifest for an update of `kind` that every device applies; the
    /// payload's hash and length are filled in by [`pack`].
    pub fn new(kind: UpdateKind, version: impl Into<String>, sequence: u64) -> Manifest {
        Manifest {
            format: PACKAGE_FORMAT,
            kind,
            version: version.into(),
            sequence,
            payload_sha256: String::new(),
            payload_bytes: 0,
            reset_state: false,
            rollback: false,
            min_app_version: None,
            rollout: None,
        }
    }
}

/// The `updates` section of the app's config: the server's pinned public
/// keys and where accepted packages are kept. Only the config the app ships
/// with sets it; a delivered config cannot change it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatesConfig {
    /// Ed25519 public keys (64 hex digits each) whose signatures are accepted.
    pub public_keys: Vec<String>,
    /// Folder for the packages in force, so they survive a restart (relative
    /// paths resolve against the config file's folder); absent: in memory only.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// This app's version, compared with `min_app_version`.
    #[serde(default)]
    pub app_version: Option<String>,
}

impl UpdatesConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.public_keys.is_empty() {
            return Err("updates.public_keys: at least one key is needed".into());
        }
        for (i, k) in self.public_keys.iter().enumerate() {
            parse_key(k).map_err(|why| format!("updates.public_keys[{i}]: {why}"))?;
        }
        if let Some(v) = &self.app_version {
            parse_app_version(v).map_err(|why| format!("updates.app_version: {why}"))?;
        }
        Ok(())
    }

    /// The pinned keys, parsed (validated with the config).
    pub(crate) fn keys(&self) -> Vec<VerifyingKey> {
        self.public_keys
            .iter()
            .filter_map(|k| parse_key(k).ok())
            .collect()
    }

    pub(crate) fn resolve_dir(&mut self, base: &Path) {
        if let Some(d) = self.dir.as_mut().filter(|d| d.is_relative()) {
            *d = base.join(&*d);
        }
    }
}

fn parse_key(hex_key: &str) -> Result<VerifyingKey, String> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key.trim(), &mut bytes)
        .map_err(|e| format!("not 64 hex digits: {e}"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("not an Ed25519 public key: {e}"))
}

/// Dotted numbers, each at most 9 digits: `3`, `3.2`, `3.2.10`.
pub(crate) fn parse_app_version(v: &str) -> Result<Vec<u32>, String> {
    let parts: Result<Vec<u32>, _> = v
        .split('.')
        .map(|p| {
            if p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()) {
                Err(())
            } else {
                p.parse::<u32>().map_err(|_| ())
            }
        })
        .collect();
    match parts {
        Ok(p) if !p.is_empty() && p.len() <= 8 => Ok(p),
        _ => Err(format!("{v:?} is not a dotted version such as 3.2.0")),
    }
}

/// Whether version `a` is at least `b`, missing parts counting as 0.
pub(crate) fn version_at_least(a: &[u32], b: &[u32]) -> bool {
    let n = a.len().max(b.len());
    let at = |v: &[u32], i: usize| v.get(i).copied().unwrap_or(0);
    (0..n)
        .map(|i| at(a, i).cmp(&at(b, i)))
        .find(|o| o.is_ne())
        .is_none_or(|o| o.is_gt())
}

fn check_label(s: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} must be 1 to 64 characters of A-Z a-z 0-9 . _ -"
        ))
    }
}

/// Why an update was refused. The running version stays in force.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The app's config has no `updates` section.
    #[error("updates are not configured: the app's config needs an `updates` section with the server's public_keys")]
    NotConfigured,
    /// Not an update package.
    #[error("not an edgeintent update package (bad magic bytes)")]
    BadMagic,
    /// Shorter than its header, manifest or declared payload.
    #[error("update package is truncated: {got} bytes, expected {want}")]
    Truncated {
        /// Bytes present.
        got: usize,
        /// Bytes needed.
        want: usize,
    },
    /// Larger than any update.
    #[error("update package of {bytes} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The signature is not by any pinned key.
    #[error("update signature does not verify against any of the {keys} pinned public key(s): the package was altered or signed with another key")]
    Signature {
        /// How many keys were tried.
        keys: usize,
    },
    /// The manifest is malformed.
    #[error("update manifest: {0}")]
    Manifest(String),
    /// The payload is not what the manifest says.
    #[error("update payload does not match its manifest: {0}")]
    Payload(String),
    /// A package of one kind was given to the other call.
    #[error("this is a {got} update, given to update_{expected}")]
    WrongKind {
        /// The call's kind.
        expected: &'static str,
        /// The package's kind.
        got: &'static str,
    },
    /// A sequence number not above the one in force: a replay or downgrade.
    #[error("{kind} update {version:?} has sequence {sequence}, not above the {in_force} in force: an old or replayed package")]
    Stale {
        /// The kind.
        kind: &'static str,
        /// Its version label.
        version: String,
        /// Its sequence.
        sequence: u64,
        /// The sequence in force.
        in_force: u64,
    },
    /// The app is older than the update needs.
    #[error("update {version:?} needs app version {min} or later; this app is {app}")]
    AppTooOld {
        /// Its version label.
        version: String,
        /// What it needs.
        min: String,
        /// This app (`unknown` when `updates.app_version` is not set).
        app: String,
    },
    /// A staged roll-out needs the user's id to pick the arm.
    #[error("update {0:?} is a staged roll-out, which needs the user id (RuntimeBuilder::user_id, ei_runtime_new_for_user)")]
    NoUser(String),
    /// The delivered config is invalid.
    #[error("update {version:?}: {why}")]
    Config {
        /// Its version label.
        version: String,
        /// What is wrong.
        why: String,
    },
    /// The delivered model (or the model the delivered config names) is unusable.
    #[error("update {version:?}: {why}")]
    Model {
        /// Its version label.
        version: String,
        /// What is wrong.
        why: String,
    },
    /// The feature spec changes and the update does not say to reset.
    #[error("update {version:?} changes the feature spec ({from} -> {to}), which would discard feature state, timers and dedup lists; the server must set reset_state to apply it")]
    SpecChange {
        /// Its version label.
        version: String,
        /// The spec hash in force.
        from: String,
        /// The update's spec hash.
        to: String,
    },
    /// The accepted package could not be stored for the next start.
    #[error("update {version:?} could not be stored in {path}: {why}")]
    Store {
        /// Its version label.
        version: String,
        /// The file.
        path: PathBuf,
        /// The OS error.
        why: String,
    },
}

/// A package whose signature, manifest and payload have been checked.
#[derive(Debug, Clone)]
pub struct Verified<'a> {
    /// The signed manifest.
    pub manifest: Manifest,
    /// The payload it vouches for.
    pub payload: &'a [u8],
}

/// Checks a package: magic, lengths, the signature against `keys`, the
/// manifest's fields, and the payload's length and SHA-256.
pub fn verify<'a>(bytes: &'a [u8], keys: &[VerifyingKey]) -> Result<Verified<'a>, UpdateError> {
    if bytes.len() > MAX_PACKAGE_BYTES {
        return Err(UpdateError::TooLarge {
            bytes: bytes.len(),
            limit: MAX_PACKAGE_BYTES,
        });
    }
    let magic = &PACKAGE_MAGIC[..];
    if bytes.len() < magic.len() {
        return Err(if magic.starts_with(bytes) {
            UpdateError::Truncated {
                got: bytes.len(),
                want: HEAD,
            }
        } else {
            UpdateError::BadMagic
        });
    }
    if &bytes[..magic.len()] != magic {
        return Err(UpdateError::BadMagic);
    }
    if bytes.len() < HEAD {
        return Err(UpdateError::Truncated {
            got: bytes.len(),
            want: HEAD,
        });
    }
    let m = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    if m > MAX_MANIFEST_BYTES {
        return Err(UpdateError::Manifest(format!(
            "{m} bytes, more than the {MAX_MANIFEST_BYTES}-byte limit"
        )));
    }
    let signed_end = HEAD + m;
    let sig_end = signed_end + SIGNATURE_LENGTH;
    if bytes.len() < sig_end {
        return Err(UpdateError::Truncated {
            got: bytes.len(),
            want: sig_end,
        });
    }
    let mut sig = [0u8; SIGNATURE_LENGTH];
    sig.copy_from_slice(&bytes[signed_end..sig_end]);
    let sig = Signature::from_bytes(&sig);
    let signed = &bytes[..signed_end];
    if !keys.iter().any(|k| k.verify_strict(signed, &sig).is_ok()) {
        return Err(UpdateError::Signature { keys: keys.len() });
    }
    // Only signed text is parsed.
    let manifest: Manifest = serde_json::from_slice(&bytes[HEAD..signed_end])
        .map_err(|e| UpdateError::Manifest(e.to_string()))?;
    check_manifest(&manifest).map_err(UpdateError::Manifest)?;
    let payload = &bytes[sig_end..];
    if payload.len() as u64 != manifest.payload_bytes {
        return Err(if (payload.len() as u64) < manifest.payload_bytes {
            UpdateError::Truncated {
                got: bytes.len(),
                want: sig_end.saturating_add(manifest.payload_bytes as usize),
            }
        } else {
            UpdateError::Payload(format!(
                "{} bytes, the manifest says {}",
                payload.len(),
                manifest.payload_bytes
            ))
        });
    }
    if !manifest.rollback {
        let got = hex::encode(Sha256::digest(payload));
        if got != manifest.payload_sha256 {
            return Err(UpdateError::Payload(format!(
                "SHA-256 is {got}, the manifest says {}",
                manifest.payload_sha256
            )));
        }
    }
    Ok(Verified { manifest, payload })
}

/// [`verify`] against the keys a config pins.
pub fn verify_for<'a>(bytes: &'a [u8], cfg: &UpdatesConfig) -> Result<Verified<'a>, UpdateError> {
    verify(bytes, &cfg.keys())
}

/// The manifest of a package, without checking its signature (to look
/// inside one; devices never use it).
#[cfg(feature = "server")]
pub fn read_manifest_unverified(bytes: &[u8]) -> Result<Manifest, UpdateError> {
    if bytes.len() < HEAD || &bytes[..PACKAGE_MAGIC.len()] != PACKAGE_MAGIC {
        return Err(UpdateError::BadMagic);
    }
    let m = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    let end = HEAD.saturating_add(m.min(MAX_MANIFEST_BYTES));
    let text = bytes.get(HEAD..end).ok_or(UpdateError::Truncated {
        got: bytes.len(),
        want: end,
    })?;
    serde_json::from_slice(text).map_err(|e| UpdateError::Manifest(e.to_string()))
}

/// The largest update sequence accepted: a package numbered near `u64::MAX`
/// would leave no number for any later update or rollback of its kind.
pub const MAX_SEQUENCE: u64 = (1 << 53) - 1;

fn check_manifest(m: &Manifest) -> Result<(), String> {
    if m.format != PACKAGE_FORMAT {
        return Err(format!(
            "format {} is not supported (this build reads {PACKAGE_FORMAT})",
            m.format
        ));
    }
    check_label(&m.version).map_err(|why| format!("version: {why}"))?;
    if m.sequence == 0 {
        return Err("sequence must be at least 1 (0 is the version the app shipped with)".into());
    }
    if m.sequence > MAX_SEQUENCE {
        return Err(format!(
            "sequence {} is above {MAX_SEQUENCE} (2^53 - 1, the largest integer every JSON \
             reader keeps exactly); number updates 1, 2, 3, ... so later ones stay possible",
            m.sequence
        ));
    }
    if m.rollback {
        if m.payload_bytes != 0 || !m.payload_sha256.is_empty() {
            return Err("a rollback carries no payload".into());
        }
    } else {
        let is_hex = m.payload_sha256.len() == 64
            && m.payload_sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !is_hex {
            return Err("payload_sha256 must be 64 lower-case hex digits".into());
        }
        if m.payload_bytes == 0 {
            return Err("payload_bytes is 0: an update carries a payload".into());
        }
    }
    if let Some(v) = &m.min_app_version {
        parse_app_version(v).map_err(|why| format!("min_app_version: {why}"))?;
    }
    if let Some(r) = &m.rollout {
        r.validate()?;
    }
    Ok(())
}

/// Writes a signed package: the server side of [`verify`], for the
/// `edgeintent update pack` command and tests. The manifest's hash and length
/// are filled in from `payload`.
#[cfg(any(test, feature = "server"))]
pub fn pack(
    mut manifest: Manifest,
    payload: &[u8],
    key: &ed25519_dalek::SigningKey,
) -> Result<Vec<u8>, UpdateError> {
    use ed25519_dalek::Signer;
    if manifest.rollback {
        manifest.payload_sha256.clear();
        manifest.payload_bytes = 0;
    } else {
        manifest.payload_sha256 = hex::encode(Sha256::digest(payload));
        manifest.payload_bytes = payload.len() as u64;
    }
    check_manifest(&manifest).map_err(UpdateError::Manifest)?;
    let payload = if manifest.rollback { &[][..] } else { payload };
    let text = serde_json::to_vec(&manifest).map_err(|e| UpdateError::Manifest(e.to_string()))?;
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(UpdateError::Manifest(format!(
            "{} bytes, more than the {MAX_MANIFEST_BYTES}-byte limit",
            text.len()
        )));
    }
    let mut out = Vec::with_capacity(HEAD + text.len() + SIGNATURE_LENGTH + payload.len());
    out.extend_from_slice(PACKAGE_MAGIC);
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(&text);
    let sig = key.sign(&out);
    out.extend_from_slice(&sig.to_bytes());
    out.extend_from_slice(payload);
    if out.len() > MAX_PACKAGE_BYTES {
        return Err(UpdateError::TooLarge {
            bytes: out.len(),
            limit: MAX_PACKAGE_BYTES,
        });
    }
    Ok(out)
}

/// A signing key from 64 hex digits (its seed), as `edgeintent update keygen` writes.
#[cfg(feature = "server")]
pub fn signing_key_from_hex(text: &str) -> Result<ed25519_dalek::SigningKey, String> {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed)
        .map_err(|e| format!("a signing key is 64 hex digits: {e}"))?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
}

/// Reads a package file (a regular file of at most [`MAX_PACKAGE_BYTES`]).
pub fn read_package(path: &Path) -> std::io::Result<Vec<u8>> {
    crate::limits::read_regular(path, MAX_PACKAGE_BYTES as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn manifest(kind: UpdateKind) -> Manifest {
        Manifest::new(kind, "v2", 2)
    }

    #[test]
    fn a_packed_update_verifies_and_any_damage_is_named() {
        let k = key(7);
        let bytes = pack(manifest(UpdateKind::Config), b"{\"x\":1}", &k).unwrap();
        let ok = verify(&bytes, &[key(1).verifying_key(), k.verifying_key()]).unwrap();
        assert_eq!(ok.payload, b"{\"x\":1}");
        assert_eq!(ok.manifest.payload_bytes, 7);
        // Another key.
        assert!(matches!(
            verify(&bytes, &[key(1).verifying_key()]),
            Err(UpdateError::Signature { keys: 1 })
        ));
        // A flipped bit anywhere in the signed part or the signature.
        for i in [0, 9, 20, bytes.len() - 8] {
            let mut b = bytes.clone();
            b[i] ^= 1;
            let e = verify(&b, &[k.verifying_key()]).unwrap_err();
            assert!(
                matches!(
                    e,
                    UpdateError::Signature { .. }
                        | UpdateError::BadMagic
                        | UpdateError::Manifest(_)
                        | UpdateError::Truncated { .. }
                        | UpdateError::Payload(_)
                ),
                "{i}: {e}"
            );
        }
        // A flipped payload byte fails the hash, a cut one the length.
        let mut b = bytes.clone();
        *b.last_mut().unwrap() ^= 1;
        assert!(matches!(
            verify(&b, &[k.verifying_key()]),
            Err(UpdateError::Payload(_))
        ));
        for cut in [0, 5, 11, 30, bytes.len() - 1] {
            assert!(
                matches!(
                    verify(&bytes[..cut], &[k.verifying_key()]),
                    Err(UpdateError::Truncated { .. } | UpdateError::Signature { .. })
                ),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn rollout_arms_follow_their_shares_and_are_stable() {
        let r = Rollout {
            salt: "s1".into(),
            arms: vec![
                RolloutArm {
                    name: "control".into(),
                    share: 0.25,
                    apply: false,
                },
                RolloutArm {
                    name: "treatment".into(),
                    share: 0.75,
                    apply: true,
                },
            ],
        };
        r.validate().unwrap();
        let n = (0..4000)
            .filter(|i| r.arm_of(&format!("user-{i}")).apply)
            .count();
        assert!((2850..3150).contains(&n), "{n}");
        assert_eq!(r.arm_of("u1"), r.arm_of("u1"));
        let bad = Rollout {
            arms: vec![r.arms[0].clone()],
            ..r.clone()
        };
        assert!(bad.validate().unwrap_err().contains("sum to 1"));
    }

    #[test]
    fn app_versions_compare_by_number() {
        let v = |s| parse_app_version(s).unwrap();
        assert!(version_at_least(&v("3.10"), &v("3.2")));
        assert!(version_at_least(&v("3.2"), &v("3.2.0")));
        assert!(!version_at_least(&v("3.1.9"), &v("3.2")));
        assert!(parse_app_version("3..1").is_err());
        assert!(parse_app_version("v3").is_err());
    }
}
