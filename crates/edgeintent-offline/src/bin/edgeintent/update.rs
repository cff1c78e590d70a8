//! `edgeintent update`: the server side of live updates: a signing key,
//! signed packages, and a look inside one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use edgeintent::update::{self, Manifest, Rollout, RolloutArm, UpdateKind};

use crate::common::{io_err, load_config, Error};

/// Make and check signed update packages (config or model) for devices.
#[derive(Args)]
pub struct UpdateArgs {
    #[command(subcommand)]
    pub command: UpdateCommand,
}

/// What to do.
#[derive(Subcommand)]
pub enum UpdateCommand {
    /// Write a new Ed25519 signing key (64 hex digits, mode 0600) and print
    /// its public key for the app config's updates.public_keys.
    Keygen {
        /// Where to write the secret key.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing key file.
        #[arg(long)]
        force: bool,
    },
    /// Print the public key of a signing key.
    Pubkey {
        /// The secret key file.
        key: PathBuf,
    },
    /// Sign a config or model as an update package.
    Pack(PackArgs),
    /// Print a package's manifest; with --config, verify it against the
    /// config's pinned keys.
    Inspect {
        /// App config whose updates.public_keys to check the signature with.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The package.
        package: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Kind {
    Config,
    Model,
}

/// Sign a payload.
#[derive(Args)]
pub struct PackArgs {
    /// What the payload replaces.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// The config JSON or ONNX model (not with --rollback).
    #[arg(long, required_unless_present = "rollback")]
    pub payload: Option<PathBuf>,
    /// The version label devices report (A-Z a-z 0-9 . _ -).
    #[arg(long)]
    pub version: String,
    /// Above every earlier update of this kind: devices refuse lower ones.
    #[arg(long)]
    pub sequence: u64,
    /// The signing key (from `update keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// Allow a feature-spec change to reset feature state, timers and dedup lists.
    #[arg(long)]
    pub reset_state: bool,
    /// Return devices to the version the app shipped with (no payload).
    #[arg(long, conflicts_with = "payload")]
    pub rollback: bool,
    /// The lowest app version that may apply it.
    #[arg(long)]
    pub min_app_version: Option<String>,
    /// Salt of the roll-out's user hash (with --arm).
    #[arg(long, requires = "arm")]
    pub rollout_salt: Option<String>,
    /// A roll-out arm, NAME:SHARE:apply or NAME:SHARE:keep (keep: a control
    /// arm that stays on the running version); repeat for each arm.
    #[arg(long, requires = "rollout_salt")]
    pub arm: Vec<String>,
    /// Where to write the package.
    #[arg(long, short)]
    pub out: PathBuf,
}

fn read_key(path: &Path) -> Result<ed25519_dalek::SigningKey, Error> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    update::signing_key_from_hex(&text)
        .map_err(|why| Error::Usage(format!("{}: {why}", path.display())))
}

fn parse_arm(text: &str) -> Result<RolloutArm, Error> {
    let bad = || {
        Error::Usage(format!(
            "--arm {text:?}: expected NAME:SHARE:apply or NAME:SHARE:keep, e.g. treatment:0.5:apply"
        ))
    };
    let mut parts = text.split(':');
    let (Some(name), Some(share), Some(mode), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let share: f64 = share.parse().map_err(|_| bad())?;
    let apply = match mode {
        "apply" => true,
        "keep" => false,
        _ => return Err(bad()),
    };
    Ok(RolloutArm {
        name: name.to_owned(),
        share,
        apply,
    })
}

fn random_seed() -> Result<[u8; 32], Error> {
    use std::io::Read;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(io_err(Path::new("/dev/urandom")))?;
    Ok(seed)
}

fn write_secret(path: &Path, text: &str, force: bool) -> Result<(), Error> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Usage(format!(
                "{} exists; pass --force to replace the key (devices pinned to it will refuse new packages)",
                path.display()
            ))
        } else {
            io_err(path)(e)
        }
    })?;
    f.write_all(text.as_bytes()).map_err(io_err(path))
}

pub fn run(a: UpdateArgs) -> Result<ExitCode, Error> {
    match a.command {
        UpdateCommand::Keygen { out, force } => {
            let key = ed25519_dalek::SigningKey::from_bytes(&random_seed()?);
            write_secret(&out, &format!("{}\n", hex::encode(key.to_bytes())), force)?;
            println!("{}", hex::encode(key.verifying_key().to_bytes()));
            eprintln!(
                "secret key in {}; put the public key above in the app config's updates.public_keys",
                out.display()
            );
        }
        UpdateCommand::Pubkey { key } => {
            println!(
                "{}",
                hex::encode(read_key(&key)?.verifying_key().to_bytes())
            );
        }
        UpdateCommand::Pack(p) => pack(p)?,
        UpdateCommand::Inspect { config, package } => {
            let bytes = std::fs::read(&package).map_err(io_err(&package))?;
            let (manifest, verified) = match config {
                Some(c) => {
                    let cfg = load_config(Some(c))?;
                    let u = cfg.updates().ok_or_else(|| {
                        Error::Usage("--config: the config has no `updates` section".into())
                    })?;
                    let v = update::verify_for(&bytes, u).map_err(|e| Error::Lib(e.into()))?;
                    (v.manifest, true)
                }
                None => (
                    update::read_manifest_unverified(&bytes).map_err(|e| Error::Lib(e.into()))?,
                    false,
                ),
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "manifest": manifest,
                    "bytes": bytes.len(),
                    "signature": if verified { "verified" } else { "not checked (pass --config)" },
                }))
                .unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn pack(p: PackArgs) -> Result<(), Error> {
    let key = read_key(&p.key)?;
    let payload = match &p.payload {
        Some(path) => std::fs::read(path).map_err(io_err(path))?,
        None => Vec::new(),
    };
    let rollout = match p.rollout_salt {
        Some(salt) => Some(Rollout {
            salt,
            arms: p
                .arm
                .iter()
                .map(|a| parse_arm(a))
                .collect::<Result<_, _>>()?,
        }),
        None => None,
    };
    let kind = match p.kind {
        Kind::Config => UpdateKind::Config,
        Kind::Model => UpdateKind::Model,
    };
    let manifest = Manifest {
        reset_state: p.reset_state,
        rollback: p.rollback,
        min_app_version: p.min_app_version,
        rollout,
        ..Manifest::new(kind, p.version, p.sequence)
    };
    let bytes = update::pack(manifest, &payload, &key).map_err(|e| Error::Lib(e.into()))?;
    std::fs::write(&p.out, &bytes).map_err(io_err(&p.out))?;
    eprintln!("{}: {} bytes", p.out.display(), bytes.len());
    Ok(())
}
