//! Helpers every integration test shares: the repository root, the shipped
//! fixtures as events and runtimes, and the CLI binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use edgeintent::{Config, Event, Runtime};

/// The repository root (fixtures, models, include/).
pub fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A file under the repository root.
pub fn fixture(path: &str) -> PathBuf {
    root().join(path)
}

/// Every valid, known event of a trace under the repository root.
pub fn events(path: &str) -> Vec<Event> {
    edgeintent_offline::load_trace(&fixture(path), false)
        .unwrap()
        .events
}

/// A runtime built from a config under the repository root.
pub fn runtime(config: &str) -> Runtime {
    Runtime::builder()
        .config(Config::from_file(fixture(config)).unwrap())
        .build()
        .unwrap()
}

/// A JSON file, parsed.
pub fn json_file(path: impl AsRef<Path>) -> serde_json::Value {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs the `edgeintent` command from the repository root.
pub fn edgeintent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeintent"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run edgeintent")
}

/// Bytes as text, lossily.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `edgeintent replay` of `trace` with `config`: its decision lines.
pub fn cli_replay(config: &str, trace: &Path) -> String {
    let out = edgeintent(&["replay", "--config", config, trace.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// Feeds events (rejected ones are skipped, as an app would) and returns
/// every decision's JSON line, parsed.
pub fn decision_lines(rt: &mut Runtime, evs: &[Event]) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for e in evs {
        let _ = rt.process(e.clone());
        while let Some(d) = rt.poll() {
            out.push(serde_json::from_str(&rt.decision_json(&d)).unwrap());
        }
    }
    out
}

/// The command did not panic (its stderr says so when it does).
pub fn assert_no_panic(out: &Output) {
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "panic in stderr: {err}");
}

/// Runs a command that prints JSON; asserts success and parses stdout.
pub fn edgeintent_json(args: &[&str]) -> serde_json::Value {
    let out = edgeintent(args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs `edgeintent replay` with `--summary` added; asserts success and
/// returns the output and the summary JSON.
pub fn replay_with_summary(args: &[&str]) -> (Output, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let mut all = vec!["replay", "--summary", summary.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = edgeintent(&all);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = json_file(&summary);
    (out, s)
}
