//! C hosts built against the library: the C example replays a trace exactly
//! like the CLI, cleanly under valgrind (or AddressSanitizer), from the
//! staticlib too; the threaded host is clean under memcheck, helgrind and
//! DRD; issue 35's reproducers (a re-entrant log callback, a start during a
//! stop) behave.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

/// Compiles the C example against the cdylib; extra flags first (sanitizers).
fn build_example(out: &Path, extra: &[&str]) -> bool {
    build_example_with(&lib_dir(), out, extra)
}

fn build_example_with(lib: &Path, out: &Path, extra: &[&str]) -> bool {
    build_c("examples/c/replay.c", lib, out, extra)
}

#[test]
fn the_c_example_replays_the_example_trace_like_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("replay");
    assert!(build_example(&exe, &[]), "the C example does not compile");
    let trace = root().join("fixtures/example_trace.jsonl");
    let snap = dir.path().join("state.snap");
    // Relative paths in the config resolve against the working directory.
    let out = Command::new(&exe)
        .current_dir(root().join("models"))
        .arg("config.json")
        .arg(&trace)
        .arg(&snap)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let c = String::from_utf8(out.stdout).unwrap();
    assert_eq!(c, cli_replay("models/config.json", &trace));
    assert!(c.lines().count() > 100);
    assert!(stderr.contains("\"events_pushed\":3871"), "{stderr}");
    // The snapshot the C host saved restores in Rust.
    let mut rt = edgeintent::Runtime::builder()
        .config(edgeintent::Config::from_file(root().join("models/config.json")).unwrap())
        .build()
        .unwrap();
    rt.load_snapshot(&snap).unwrap();
}

/// The first 600 events of the example trace (they keep instrumented runs short).
fn trace_head(dir: &Path) -> PathBuf {
    let trace = dir.join("head.jsonl");
    let text = std::fs::read_to_string(root().join("fixtures/example_trace.jsonl")).unwrap();
    std::fs::write(
        &trace,
        text.lines().take(600).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    trace
}

/// Whether `tool --version` runs.
fn has_tool(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// valgrind memcheck with every check on; errors and definite leaks fail.
fn memcheck() -> Command {
    let mut c = Command::new("valgrind");
    c.args([
        "--error-exitcode=99",
        "--leak-check=full",
        "--track-origins=yes",
        "--errors-for-leak-kinds=definite,indirect",
        "--quiet",
    ]);
    c
}

/// Issue 15: memcheck on the optimised library, where the optimiser once
/// hoisted a branch on a `Custom` event's `Option<f64>` tag out of the
/// feature loop and ran it for events of every kind. scripts/test.sh builds
/// the release cdylib and sets `EDGEINTENT_RELEASE_LIB` to its folder.
#[test]
fn the_c_example_is_memcheck_clean_with_the_release_library() {
    let Some(lib) = std::env::var_os("EDGEINTENT_RELEASE_LIB").map(PathBuf::from) else {
        eprintln!("SKIPPED: EDGEINTENT_RELEASE_LIB is not set (scripts/test.sh sets it)");
        return;
    };
    if !has_tool("valgrind") {
        eprintln!("SKIPPED: valgrind is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trace = trace_head(dir.path());
    let exe = dir.path().join("replay");
    assert!(build_example_with(&lib, &exe, &[]));
    let out = memcheck()
        .arg(&exe)
        .arg("config.json")
        .arg(&trace)
        .current_dir(root().join("models"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "memcheck errors: {stderr}");
    assert_eq!(
        without_latency_alerts(&String::from_utf8(out.stdout).unwrap()),
        without_latency_alerts(&cli_replay("models/config.json", &trace))
    );
    // The multi-threaded host: four producers, a polling thread, a snapshot
    // round trip, the stats.
    let threaded = dir.path().join("threaded");
    assert!(build_c(
        "examples/c/threaded.c",
        &lib,
        &threaded,
        &["-lpthread"]
    ));
    let out = memcheck()
        .arg(&threaded)
        .arg("config.json")
        .arg(&trace)
        .arg(dir.path().join("t.snap"))
        .arg("4")
        .current_dir(root().join("models"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "memcheck errors (threads): {stderr}"
    );
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.contains("600 lines, 600 pushed"), "{line}");
    // The whole-ABI host (worker mode, callbacks, ticks, coverage).
    let host = dir.path().join("host");
    assert!(build_c("examples/c/host.c", &lib, &host, &["-lpthread"]));
    run_host(&host, &trace, &dir.path().join("h.snap"), Some(memcheck()));
}

#[test]
fn the_c_example_is_clean_under_valgrind_or_asan() {
    let dir = tempfile::tempdir().unwrap();
    let trace = trace_head(dir.path());
    let expected = cli_replay("models/config.json", &trace);
    let exe = dir.path().join("replay");
    let out = if has_tool("valgrind") {
        assert!(build_example(&exe, &[]));
        memcheck()
            .arg(&exe)
            .arg("config.json")
            .arg(&trace)
            .current_dir(root().join("models"))
            .output()
            .unwrap()
    } else if build_example(&exe, &["-fsanitize=address", "-fno-omit-frame-pointer"]) {
        Command::new(&exe)
            .env("ASAN_OPTIONS", "detect_leaks=1:exitcode=99")
            .arg("config.json")
            .arg(&trace)
            .current_dir(root().join("models"))
            .output()
            .unwrap()
    } else {
        eprintln!("SKIPPED: neither valgrind nor AddressSanitizer is available here");
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "memory errors or leaks: {stderr}"
    );
    assert_eq!(
        without_latency_alerts(&String::from_utf8(out.stdout).unwrap()),
        without_latency_alerts(&expected)
    );
}

/// The output less latency alerts: the latency monitor measures wall time,
/// which valgrind slows many-fold, so those alerts depend on the machine's
/// load, not on the library.
fn without_latency_alerts(s: &str) -> String {
    s.lines()
        .filter(|l| !l.contains("monitor:model_latency"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The binary's `GNU_STACK` program header has no execute flag.
fn assert_stack_not_executable(exe: &std::path::Path) {
    let Ok(out) = Command::new("readelf").arg("-lW").arg(exe).output() else {
        eprintln!("readelf not found: stack flags not checked");
        return;
    };
    let headers = String::from_utf8_lossy(&out.stdout).into_owned();
    let stack = headers
        .lines()
        .find(|l| l.trim_start().starts_with("GNU_STACK"))
        .unwrap_or_else(|| panic!("no GNU_STACK header in {}:\n{headers}", exe.display()));
    assert!(
        stack.contains(" RW ") && !stack.contains("RWE"),
        "{} has an executable stack: {stack}",
        exe.display()
    );
}

#[test]
fn the_cdylib_and_the_cli_have_no_executable_stack() {
    assert_stack_not_executable(&lib_dir().join("libedgeintent.so"));
    assert_stack_not_executable(&edgeintent_bin());
}

#[test]
fn the_c_example_links_against_the_staticlib_too() {
    let lib = lib_dir().join("libedgeintent.a");
    assert!(
        lib.exists(),
        "{} is missing: run `cargo build` first",
        lib.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("replay_static");
    let status = Command::new("cc")
        .arg(root().join("examples/c/replay.c"))
        .arg(format!("-I{}", root().join("include").display()))
        .arg(&lib)
        // tract-linalg's x86-64 assembly kernels carry no `.note.GNU-stack`
        // section, so without this flag ld warns and marks the stack executable.
        .args(["-lpthread", "-ldl", "-lm", "-Wl,-z,noexecstack", "-o"])
        .arg(&exe)
        .status()
        .unwrap();
    assert!(status.success());
    assert_stack_not_executable(&exe);
    let trace = root().join("fixtures/example_trace.jsonl");
    let out = Command::new(&exe)
        .current_dir(root().join("models"))
        .arg("config.json")
        .arg(&trace)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        cli_replay("models/config.json", &trace)
    );
}

/// Runs the C host of issue 20 (examples/c/host.c) on `trace` under `tool`
/// (None: natively) and returns its summary line.
fn run_host(exe: &Path, trace: &Path, snap: &Path, tool: Option<Command>) -> String {
    let mut cmd = match tool {
        Some(mut t) => {
            t.arg(exe);
            t
        }
        None => Command::new(exe),
    };
    let out = cmd
        .arg(trace)
        .arg(snap)
        .arg("4")
        .current_dir(root().join("models"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "host failed: {stderr}");
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.contains("failures=0"), "{line}");
    line
}

/// Issue 20: the whole host (config as a JSON string, log callback, worker
/// mode whose callback calls back in, four producers, snapshots while the
/// worker runs, a restore, ticks, tiny buffers) runs natively, and cleanly
/// under memcheck, helgrind and DRD. The race tools get
/// examples/c/race.supp, which hides only crossbeam-channel's internals.
#[test]
fn the_c_host_is_clean_under_memcheck_helgrind_and_drd() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("host");
    assert!(build_c(
        "examples/c/host.c",
        &lib_dir(),
        &exe,
        &["-lpthread"]
    ));
    let trace = root().join("fixtures/example_trace.jsonl");
    let snap = dir.path().join("h.snap");
    let line = run_host(&exe, &trace, &snap, None);
    assert!(line.contains("lines=3871 pushed=3871"), "{line}");
    assert!(line.contains("coverage_requests=1"), "{line}");
    if !has_tool("valgrind") {
        eprintln!("SKIPPED: valgrind is not installed");
        return;
    }
    let head = trace_head(dir.path());
    run_host(&exe, &head, &snap, Some(memcheck()));
    let supp = format!(
        "--suppressions={}",
        root().join("examples/c/race.supp").display()
    );
    for tool in ["helgrind", "drd"] {
        let mut c = Command::new("valgrind");
        c.args([
            &format!("--tool={tool}"),
            "--error-exitcode=99",
            "--quiet",
            &supp,
        ]);
        run_host(&exe, &head, &snap, Some(c));
    }
}

/// Builds a C host from `tests/c/` and runs it on the shipped config with
/// `args`; its exit status and output. The hosts set their own deadline.
fn run_c_host(source: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("host");
    assert!(
        build_c(source, &lib_dir(), &exe, &["-pthread"]),
        "{source} builds"
    );
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, shipped_config_json().as_bytes()).unwrap();
    let out = Command::new(&exe).arg(&cfg).args(args).output().unwrap();
    let text = format!("{}{}", text(&out.stdout), text(&out.stderr));
    (out.status.code(), text)
}

/// Issue 35: a log callback that calls back into the library (stats, a push,
/// unsetting itself, the next wake-up; in worker mode too) returns instead
/// of deadlocking on the runtime's lock.
#[test]
fn a_log_callback_may_call_back_into_the_library() {
    for mode in ["stats", "push", "unset", "wakeup", "worker"] {
        let (code, out) = run_c_host("crates/edgeintent-ffi/tests/c/reentrant_log.c", &[mode]);
        assert_eq!(
            code,
            Some(0),
            "mode {mode} (killed by the deadline if None):\n{out}"
        );
    }
}

/// Issue 35: a start while another thread stops the worker waits for the
/// stop, then the new worker gets the decisions and the host's poll is refused.
#[test]
fn a_worker_started_during_a_stop_gets_the_decisions() {
    let (code, out) = run_c_host("crates/edgeintent-ffi/tests/c/worker_race.c", &[]);
    assert_eq!(code, Some(0), "{out}");
}
