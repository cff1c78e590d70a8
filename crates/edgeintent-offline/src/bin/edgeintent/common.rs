//! What every subcommand shares: default configs, file and trace helpers,
//! warnings about what a trace skipped, report printing, progress bars.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use edgeintent::{Config, ConfigError, ModelError, TraceReader};
use edgeintent_offline::{self as offline, ReadCounts};

/// What a subcommand can fail with: the library's errors, or a command line
/// that asks for something impossible (the CLI's own words, naming its flags).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The library refused.
    #[error(transparent)]
    Lib(#[from] edgeintent_offline::Error),
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// An input file of the CLI's own (such as `predict`'s CSV) is malformed.
    #[error("{path}: {}{why}", at_line(*.line))]
    Input {
        /// The file.
        path: String,
        /// 1-based line (0: the file as a whole).
        line: usize,
        /// What is wrong.
        why: String,
    },
}

/// `line N: `, or nothing for an error about the whole file (line 0).
fn at_line(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!("line {line}: ")
    }
}

impl From<edgeintent::Error> for Error {
    fn from(e: edgeintent::Error) -> Self {
        Error::Lib(e.into())
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Lib(e.into())
    }
}

impl From<ModelError> for Error {
    fn from(e: ModelError) -> Self {
        Error::Lib(e.into())
    }
}

/// The config used when `--config` is not given: the one shipped in `models/`.
pub const SHIPPED_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/config.json");
/// `geo-eval`'s default: the shipped airport fences.
pub const SHIPPED_GEO_CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/geo/config.json"
);

/// An I/O error on `path`, named.
pub fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| {
        Error::Lib(edgeintent_offline::Error::Io {
            path: path.display().to_string(),
            why: e.to_string(),
        })
    }
}

/// Names the file in a library error about "the trace".
pub fn in_file(path: &Path, e: edgeintent_offline::Error) -> Error {
    Error::Lib(match e {
        edgeintent_offline::Error::NothingTo { missing, task, .. } => {
            edgeintent_offline::Error::NothingTo {
                input: path.display().to_string(),
                missing,
                task,
            }
        }
        other => other,
    })
}

/// JSON (with `--json`) or the table, on stdout.
pub fn print_report<R: serde::Serialize>(
    report: &R,
    json: bool,
    table: impl Fn(&R) -> String,
) -> Result<ExitCode, Error> {
    // Reports are plain data: serialising them cannot fail.
    let text = if json {
        serde_json::to_string_pretty(report).unwrap_or_default() + "\n"
    } else {
        table(report)
    };
    use std::io::Write;
    // A closed stdout (`| head`) ends the output quietly, as in `replay`.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(io_err(Path::new("<stdout>"))(e))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// One truth file per trace, in order.
pub fn check_pairs(traces: usize, truths: usize) -> Result<(), Error> {
    if truths == traces {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{traces} traces but {truths} --truth files: give one truth file per trace, in the same order"
    )))
}

pub fn progress_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    // Drawn on stderr, and only when it is a terminal.
    indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{what} {{bar:40}} {{percent:>3}}% {{human_pos}}/{{human_len}} events, eta {{eta}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    )
}

/// Reads a whole trace, warning on stderr about what it skipped.
pub fn load_trace(path: &Path, skip_invalid: bool) -> Result<Vec<edgeintent::Event>, Error> {
    let trace = offline::load_trace(path, skip_invalid)?;
    warn_read(path, &trace.read);
    Ok(trace.events)
}

/// Warnings for what reading a trace skipped: unknown event types (with the
/// type each most likely meant) and a trace without any event.
pub fn warn_read(path: &Path, read: &ReadCounts) {
    for (name, n) in &read.unknown_types {
        let hint = edgeintent::EventType::closest(name).map_or(String::new(), |t| {
            format!(" (did you mean \"{}\"?)", t.name())
        });
        let lines = if *n == 1 { "line" } else { "lines" };
        eprintln!(
            "edgeintent: warning: {}: skipped {n} {lines} of unknown event type \"{name}\"{hint}",
            path.display()
        );
    }
    if read.events == 0 {
        eprintln!(
            "edgeintent: warning: {}: no events ({} non-blank lines)",
            path.display(),
            read.lines
        );
    }
}

pub fn load_config(path: Option<PathBuf>) -> Result<Config, Error> {
    let path = path.unwrap_or_else(|| PathBuf::from(SHIPPED_CONFIG));
    Ok(Config::from_file(path)?)
}

pub fn open_trace(path: &Path) -> Result<TraceReader<BufReader<File>>, Error> {
    edgeintent::limits::ensure_regular_file(path).map_err(io_err(path))?;
    let f = File::open(path).map_err(io_err(path))?;
    Ok(TraceReader::new(BufReader::new(f)))
}
