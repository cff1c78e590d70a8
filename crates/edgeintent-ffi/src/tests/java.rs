//! The Java binding (bindings/java) on the host JVM: compiled with the JDK's
//! `javac`, run with `-Xcheck:jni` against the debug cdylib (which has the
//! `java` feature by default). It replays the example trace with exactly the
//! CLI's decisions, and pushes from 8 threads while another polls.

use super::*;

use std::path::{Path, PathBuf};
use std::process::Command;

fn lib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .unwrap()
        .join("libedgeintent.so")
}

/// Compiles the binding and the check program; None when there is no JDK.
fn compile(out: &Path) -> Option<()> {
    let javac = Command::new("javac").arg("-version").output();
    if !javac.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: no javac (a JDK 17 is needed for the Java binding's test)");
        return None;
    }
    let java = root().join("bindings/java");
    let status = Command::new("javac")
        .args(["-Xlint:all", "-Werror", "-d"])
        .arg(out)
        .arg(java.join("src/dev/edgeintent/EdgeIntent.java"))
        .arg(java.join("src/dev/edgeintent/EdgeIntentException.java"))
        .arg(java.join("test/Check.java"))
        .status()
        .unwrap();
    assert!(status.success(), "javac failed");
    Some(())
}

fn run_check(classes: &Path, mode: &str) -> std::process::Output {
    run_check_in(classes, mode, "models", &[])
}

fn run_check_in(classes: &Path, mode: &str, dir: &str, extra: &[&str]) -> std::process::Output {
    assert!(
        lib().exists(),
        "{} is missing: run `cargo build` first (scripts/test.sh does)",
        lib().display()
    );
    let out = Command::new("java")
        .arg("-Xcheck:jni")
        .arg(format!("-Dedgeintent.library={}", lib().display()))
        .arg("-cp")
        .arg(classes)
        .args(["Check", mode, "config.json"])
        .arg(root().join("fixtures/example_trace.jsonl"))
        .args(extra)
        .current_dir(root().join(dir))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "java {mode} failed: {stderr}");
    // -Xcheck:jni reports misuse (leaked local references, calls with an
    // exception pending) as warnings on either stream.
    let stdout = String::from_utf8_lossy(&out.stdout);
    for text in [&*stderr, &*stdout] {
        assert!(!text.contains("WARNING"), "-Xcheck:jni warned: {text}");
    }
    out
}

#[test]
fn java_replays_the_example_trace_exactly_like_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    if compile(dir.path()).is_none() {
        return;
    }
    let out = run_check(dir.path(), "replay");
    let expected = cli_replay(
        "models/config.json",
        &root().join("fixtures/example_trace.jsonl"),
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

#[test]
fn java_pushes_from_eight_threads_while_another_polls() {
    let dir = tempfile::tempdir().unwrap();
    if compile(dir.path()).is_none() {
        return;
    }
    let out = run_check(dir.path(), "threads");
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(
        line.starts_with("java: 8 threads pushed 154840 events"),
        "{line}"
    );
}

#[test]
fn java_applies_a_signed_update_and_refuses_a_tampered_one() {
    let dir = tempfile::tempdir().unwrap();
    if compile(dir.path()).is_none() {
        return;
    }
    let out = run_check_in(dir.path(), "updates", "fixtures/updates", &["policy_b.eiu"]);
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.starts_with("java updates: {"), "{line}");
}
