//! The C ABI: the header matches the exports, the C example builds against
//! the library and replays a trace exactly like the CLI, cleanly under
//! valgrind (or AddressSanitizer), and pushes from many threads lose nothing.

use crate::common::*;

use std::ffi::{c_char, CStr};
use std::path::{Path, PathBuf};
use std::process::Command;

use edgeintent::ffi;

/// `target/<profile>`, where cargo put the cdylib next to this test's folder.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_owned()
}

fn normalise(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("( ", "(")
        .replace(" )", ")")
        .replace(" ,", ",")
        .replace("* ", "*")
}

/// C prototypes as the header declares them, by function name.
fn header_prototypes() -> Vec<(String, String)> {
    let h = std::fs::read_to_string(root().join("include/edgeintent.h")).unwrap();
    let no_comments: String = h
        .split("/*")
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part
            } else {
                part.split_once("*/").map_or("", |p| p.1)
            }
        })
        .collect();
    no_comments
        .split(';')
        .map(normalise)
        .filter(|d| {
            d.contains("ei_") && d.contains('(') && !d.starts_with('#') && !d.starts_with("typedef")
        })
        .map(|d| {
            let d = d.rsplit('}').next().unwrap().trim().to_owned();
            let name = d
                .split('(')
                .next()
                .unwrap()
                .rsplit([' ', '*'])
                .next()
                .unwrap()
                .to_owned();
            (name, d)
        })
        .collect()
}

/// The prototypes `src/ffi.rs` exports, translated to C.
fn rust_prototypes() -> Vec<(String, String)> {
    let src = std::fs::read_to_string(root().join("src/ffi.rs")).unwrap();
    let c_type = |t: &str| -> String {
        match t.trim() {
            "*const EiRuntime" | "*mut EiRuntime" => "ei_runtime *".into(),
            "*const c_char" => "const char *".into(),
            "*mut c_char" => "char *".into(),
            "usize" => "size_t".into(),
            "c_int" => "int".into(),
            "i64" => "int64_t".into(),
            "*mut i64" => "int64_t *".into(),
            "f64" => "double".into(),
            "*mut c_void" => "void *".into(),
            "*const u8" => "const uint8_t *".into(),
            "Option<EiDecisionCb>" => "ei_decision_cb".into(),
            "Option<EiLogCb>" => "ei_log_cb".into(),
            "" => "void".into(),
            other => panic!("no C type for {other}"),
        }
    };
    src.split("extern \"C\" fn ")
        .skip(1)
        .map(|rest| {
            let name = rest.split('(').next().unwrap().trim().to_owned();
            let args = rest.split_once('(').unwrap().1.split_once(')').unwrap().0;
            let ret = rest
                .split_once(')')
                .unwrap()
                .1
                .split('{')
                .next()
                .unwrap()
                .trim()
                .trim_start_matches("->")
                .trim()
                .to_owned();
            let params: Vec<String> = args
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(|a| {
                    let (n, t) = a.split_once(':').unwrap();
                    let ct = c_type(t);
                    if ct.ends_with('*') {
                        format!("{ct}{}", n.trim())
                    } else {
                        format!("{ct} {}", n.trim())
                    }
                })
                .collect();
            let params = if params.is_empty() {
                "void".to_owned()
            } else {
                params.join(", ")
            };
            let ret = c_type(&ret);
            let sep = if ret.ends_with('*') { "" } else { " " };
            (
                name.clone(),
                normalise(&format!("{ret}{sep}{name}({params})")),
            )
        })
        .collect()
}

#[test]
fn the_header_declares_exactly_what_the_library_exports() {
    let mut h = header_prototypes();
    let mut r = rust_prototypes();
    h.sort();
    r.sort();
    assert_eq!(h, r, "include/edgeintent.h and src/ffi.rs drifted apart");
    assert_eq!(r.len(), 19);
    let header = std::fs::read_to_string(root().join("include/edgeintent.h")).unwrap();
    for (name, value) in [
        ("EI_ERR_NULL", ffi::EI_ERR_NULL),
        ("EI_ERR_UTF8", ffi::EI_ERR_UTF8),
        ("EI_ERR_EVENT", ffi::EI_ERR_EVENT),
        ("EI_ERR_FULL", ffi::EI_ERR_FULL),
        ("EI_ERR_SNAPSHOT", ffi::EI_ERR_SNAPSHOT),
        ("EI_ERR_INTERNAL", ffi::EI_ERR_INTERNAL),
        ("EI_ERR_CLOSED", ffi::EI_ERR_CLOSED),
        ("EI_ERR_STATE", ffi::EI_ERR_STATE),
        ("EI_ERR_ARG", ffi::EI_ERR_ARG),
        ("EI_ERR_UPDATE", ffi::EI_ERR_UPDATE),
    ] {
        assert!(
            header.contains(&format!("#define {name} ({value})")),
            "{name} must be ({value}) in the header"
        );
    }
    for (name, value) in [
        ("EI_ABI_VERSION", ffi::EI_ABI_VERSION),
        ("EI_LOG_ERROR", ffi::EI_LOG_ERROR),
        ("EI_LOG_WARN", ffi::EI_LOG_WARN),
        ("EI_LOG_INFO", ffi::EI_LOG_INFO),
        ("EI_LOG_DEBUG", ffi::EI_LOG_DEBUG),
    ] {
        assert!(
            header.contains(&format!("#define {name} {value}")),
            "{name} must be {value} in the header"
        );
    }
    // The callback types, as src/ffi.rs declares them.
    for typedef in [
        "typedef void (*ei_decision_cb)(void *user, const char *decision_json);",
        "typedef void (*ei_log_cb)(void *user, int level, const char *message);",
    ] {
        assert!(header.contains(typedef), "the header lacks `{typedef}`");
    }
    let src = std::fs::read_to_string(root().join("src/ffi.rs")).unwrap();
    assert!(src.contains(
        "pub type EiDecisionCb = unsafe extern \"C\" fn(user: *mut c_void, decision_json: *const c_char);"
    ));
    assert!(src.contains(
        "pub type EiLogCb = unsafe extern \"C\" fn(user: *mut c_void, level: c_int, message: *const c_char);"
    ));
}

/// Compiles the C example against the cdylib; extra flags first (sanitizers).
fn build_example(out: &Path, extra: &[&str]) -> bool {
    build_example_with(&lib_dir(), out, extra)
}

fn build_example_with(lib: &Path, out: &Path, extra: &[&str]) -> bool {
    build_c("examples/c/replay.c", lib, out, extra)
}

fn build_c(source: &str, lib: &Path, out: &Path, extra: &[&str]) -> bool {
    let lib = lib.to_owned();
    assert!(
        lib.join("libedgeintent.so").exists(),
        "{}/libedgeintent.so is missing: run `cargo build` before `cargo test` \
         (scripts/test.sh does), since `cargo test` builds only the rlib",
        lib.display()
    );
    let status = Command::new("cc")
        .args(extra)
        .arg(root().join(source))
        .arg(format!("-I{}", root().join("include").display()))
        .arg(format!("-L{}", lib.display()))
        .arg("-ledgeintent")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-Wall", "-Wextra", "-Werror", "-o"])
        .arg(out)
        .status()
        .expect("a C compiler (cc) is needed for the FFI tests");
    status.success()
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
        String::from_utf8(out.stdout).unwrap(),
        cli_replay("models/config.json", &trace)
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
    // The latency monitor measures wall time, which valgrind slows many-fold:
    // its alerts depend on the machine's load, not on the library.
    let timing = |s: &str| {
        s.lines()
            .filter(|l| !l.contains("monitor:model_latency"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        timing(&String::from_utf8(out.stdout).unwrap()),
        timing(&expected)
    );
}

#[test]
fn pushes_from_eight_threads_through_the_c_abi_are_all_accounted_for() {
    let cfg = format!(
        r#"{{"features":"{}","ingest":{{"channel_capacity":256}}}}"#,
        root().join("models/feature_spec.json").display()
    );
    let cfg = std::ffi::CString::new(cfg).unwrap();
    // SAFETY: valid C strings and a live handle until ei_runtime_free.
    unsafe {
        let rt = ffi::ei_runtime_new(cfg.as_ptr());
        assert!(
            !rt.is_null(),
            "{}",
            CStr::from_ptr(ffi::ei_last_error()).to_string_lossy()
        );
        let handle = rt as usize;
        const PER_THREAD: usize = 20_000;
        let results: Vec<(usize, usize)> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..8)
                .map(|t| {
                    s.spawn(move || {
                        let rt = handle as *const ffi::EiRuntime;
                        let (mut ok, mut full) = (0, 0);
                        for i in 0..PER_THREAD {
                            let line = format!(
                                "{{\"ts_ms\":{},\"type\":\"search\"}}\0",
                                1_000 + t * PER_THREAD + i
                            );
                            match ffi::ei_push_json(rt, line.as_ptr().cast::<c_char>()) {
                                0 => ok += 1,
                                ffi::EI_ERR_FULL => full += 1,
                                e => panic!("unexpected {e}"),
                            }
                        }
                        (ok, full)
                    })
                })
                .collect();
            // Meanwhile the host's poller drains the channel.
            let rt = handle as *const ffi::EiRuntime;
            let mut buf = vec![0 as c_char; 256];
            while workers.iter().any(|w| !w.is_finished()) {
                ffi::ei_poll_decision(rt, buf.as_mut_ptr(), buf.len());
            }
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let mut buf = vec![0 as c_char; 256];
        while ffi::ei_poll_decision(rt, buf.as_mut_ptr(), buf.len()) == 1 {}
        let mut stats = vec![0 as c_char; 65536];
        assert!(ffi::ei_stats_json(rt, stats.as_mut_ptr(), stats.len()) > 0);
        let s: serde_json::Value =
            serde_json::from_str(CStr::from_ptr(stats.as_ptr()).to_str().unwrap()).unwrap();
        let ok: usize = results.iter().map(|r| r.0).sum();
        let full: usize = results.iter().map(|r| r.1).sum();
        assert_eq!(ok + full, 8 * PER_THREAD);
        assert_eq!(s["events_pushed"].as_u64().unwrap() as usize, ok);
        assert_eq!(s["events_dropped_full"].as_u64().unwrap() as usize, full);
        // Every accepted event was processed, rejected as too old, or is
        // held (a jump waiting for the next event).
        let processed = s["events_processed"].as_u64().unwrap()
            + s["events_rejected"].as_u64().unwrap()
            + s["events_held"].as_u64().unwrap();
        assert_eq!(processed as usize, ok);
        ffi::ei_runtime_free(rt);
    }
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
    assert_stack_not_executable(std::path::Path::new(env!("CARGO_BIN_EXE_edgeintent")));
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

unsafe extern "C" fn collect(user: *mut std::ffi::c_void, json: *const c_char) {
    // SAFETY: `user` is the Mutex<Vec<String>> the test passed; `json` is a
    // valid C string for the call.
    let lines = unsafe { &*(user as *const std::sync::Mutex<Vec<String>>) };
    let line = unsafe { CStr::from_ptr(json) }
        .to_string_lossy()
        .into_owned();
    lines.lock().unwrap().push(line);
}

fn shipped_config_json() -> std::ffi::CString {
    config_json("models/config.json")
}

/// A config under the repository root as JSON, its model and spec paths
/// made absolute (they point into models/).
fn config_json(config: &str) -> std::ffi::CString {
    let mut v = json_file(root().join(config));
    v["model"]["path"] = root()
        .join("models/intent.onnx")
        .display()
        .to_string()
        .into();
    v["features"] = root()
        .join("models/feature_spec.json")
        .display()
        .to_string()
        .into();
    std::ffi::CString::new(v.to_string()).unwrap()
}

/// Worker mode delivers, through the callback, exactly the decisions
/// `edgeintent replay` prints, in order.
#[test]
fn worker_mode_delivers_the_decisions_the_cli_prints() {
    let trace = root().join("fixtures/example_trace.jsonl");
    let expected = cli_replay("models/config.json", &trace);
    let cfg = shipped_config_json();
    let lines = std::sync::Mutex::new(Vec::<String>::new());
    // SAFETY: valid C strings; `lines` outlives the worker (stopped below).
    unsafe {
        let rt = ffi::ei_runtime_new(cfg.as_ptr());
        assert!(!rt.is_null());
        let user = &lines as *const _ as *mut std::ffi::c_void;
        assert_eq!(ffi::ei_start_worker(rt, Some(collect), user), 0);
        let mut full = 0;
        for line in std::fs::read_to_string(&trace).unwrap().lines() {
            let c = std::ffi::CString::new(line).unwrap();
            // A host that must not lose events backs off while the worker catches up.
            loop {
                match ffi::ei_push_json(rt, c.as_ptr()) {
                    0 => break,
                    ffi::EI_ERR_FULL => {
                        full += 1;
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    e => {
                        ffi::ei_runtime_free(rt); // stops the worker before `lines` goes
                        panic!("push failed: {e}");
                    }
                }
            }
        }
        eprintln!("{full} pushes found the channel full and were retried");
        assert_eq!(ffi::ei_stop_worker(rt), 0);
        assert_eq!(ffi::ei_stop_worker(rt), 1);
        let mut buf = vec![0 as c_char; 4096];
        assert_eq!(ffi::ei_poll_decision(rt, buf.as_mut_ptr(), buf.len()), 0);
        ffi::ei_runtime_free(rt);
    }
    let got: String = lines
        .into_inner()
        .unwrap()
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(got, expected);
}

/// The host drives time with `ei_tick` when `ei_next_wakeup_ms` comes due;
/// bad arguments are typed errors that change nothing.
#[test]
fn ticks_wakeups_and_coverage_through_the_c_abi() {
    let cfg = std::ffi::CString::new(format!(
        r#"{{"features":"{}","policy":{{"tick_interval_s":30}},
            "geofence":{{"fences":[{{"id":"a","lat":0.01,"lon":0,"radius_m":200,"buffer_m":300}}]}}}}"#,
        root().join("models/feature_spec.json").display()
    ))
    .unwrap();
    // SAFETY: valid C strings and out-pointers; a live handle until freed.
    unsafe {
        assert_eq!(ffi::ei_abi_version(), ffi::EI_ABI_VERSION);
        let rt = ffi::ei_runtime_new(cfg.as_ptr());
        assert!(!rt.is_null());
        let mut wake = 0i64;
        assert_eq!(ffi::ei_next_wakeup_ms(rt, &mut wake), 0);
        assert_eq!(
            ffi::ei_next_wakeup_ms(rt, std::ptr::null_mut()),
            ffi::EI_ERR_NULL
        );
        for line in [
            c"{\"ts_ms\":1000,\"type\":\"app_foreground\"}",
            c"{\"ts_ms\":2000,\"type\":\"page_view\",\"page\":\"home\"}",
        ] {
            assert_eq!(ffi::ei_push_json(rt, line.as_ptr()), 0);
        }
        // The wake-up follows the events just pushed (tick processes them first).
        assert_eq!(ffi::ei_tick(rt, 2_000), 0);
        assert_eq!(ffi::ei_next_wakeup_ms(rt, &mut wake), 1);
        assert_eq!(wake, 32_000);
        let mut stats = vec![0 as c_char; 65536];
        let mut ticks = |rt| {
            assert!(ffi::ei_stats_json(rt, stats.as_mut_ptr(), stats.len()) > 0);
            let s: serde_json::Value =
                serde_json::from_str(CStr::from_ptr(stats.as_ptr()).to_str().unwrap()).unwrap();
            s["ticks"].as_u64().unwrap()
        };
        assert_eq!(ticks(rt), 0);
        assert_eq!(ffi::ei_tick(rt, wake), 0);
        assert_eq!(ticks(rt), 1);
        assert_eq!(ffi::ei_tick(rt, -1), ffi::EI_ERR_ARG);
        assert_eq!(ffi::ei_tick(rt, i64::MAX), ffi::EI_ERR_ARG);
        assert_eq!(ticks(rt), 1);
        assert_eq!(ffi::ei_set_coverage(rt, 0.0, 0.0, 5_000.0), 0);
        assert_eq!(ffi::ei_set_coverage(rt, 0.0, 0.0, -1.0), ffi::EI_ERR_ARG);
        assert!(CStr::from_ptr(ffi::ei_last_error())
            .to_str()
            .unwrap()
            .contains("radius"));
        assert_eq!(
            ffi::ei_set_coverage(std::ptr::null(), 0.0, 0.0, 1.0),
            ffi::EI_ERR_NULL
        );
        ffi::ei_runtime_free(rt);
        // Without a geofence there is no coverage to set.
        let plain = std::ffi::CString::new(format!(
            r#"{{"features":"{}"}}"#,
            root().join("models/feature_spec.json").display()
        ))
        .unwrap();
        let rt = ffi::ei_runtime_new(plain.as_ptr());
        assert_eq!(
            ffi::ei_set_coverage(rt, 0.0, 0.0, 5_000.0),
            ffi::EI_ERR_STATE
        );
        assert_eq!(
            ffi::ei_start_worker(rt, None, std::ptr::null_mut()),
            ffi::EI_ERR_NULL
        );
        ffi::ei_runtime_free(rt);
    }
}

unsafe extern "C" fn log_line(
    user: *mut std::ffi::c_void,
    level: std::ffi::c_int,
    msg: *const c_char,
) {
    // SAFETY: as in `collect`.
    let lines = unsafe { &*(user as *const std::sync::Mutex<Vec<String>>) };
    let msg = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
    lines.lock().unwrap().push(format!("{level} {msg}"));
}

/// The log callback hears the runtime's fallbacks: a model that does not
/// load with `required: false`, and rejected events.
#[test]
fn diagnostics_reach_the_log_callback() {
    static LINES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let cfg = std::ffi::CString::new(format!(
        r#"{{"features":"{}","model":{{"path":"{}","required":false}}}}"#,
        root().join("models/feature_spec.json").display(),
        root()
            .join("fixtures/hostile/one_label_tree.onnx")
            .display()
    ))
    .unwrap();
    // SAFETY: valid C strings; LINES is static.
    unsafe {
        let user = &LINES as *const _ as *mut std::ffi::c_void;
        assert_eq!(
            ffi::ei_set_log_callback(Some(log_line), user, 0),
            ffi::EI_ERR_ARG
        );
        assert_eq!(
            ffi::ei_set_log_callback(Some(log_line), user, ffi::EI_LOG_WARN),
            0
        );
        let rt = ffi::ei_runtime_new(cfg.as_ptr());
        assert!(!rt.is_null());
        for line in [
            c"{\"ts_ms\":100000,\"type\":\"search\"}",
            c"{\"ts_ms\":1,\"type\":\"search\"}",
        ] {
            assert_eq!(ffi::ei_push_json(rt, line.as_ptr()), 0);
        }
        let mut buf = vec![0 as c_char; 4096];
        while ffi::ei_poll_decision(rt, buf.as_mut_ptr(), buf.len()) == 1 {}
        ffi::ei_runtime_free(rt);
        assert_eq!(
            ffi::ei_set_log_callback(None, std::ptr::null_mut(), ffi::EI_LOG_DEBUG),
            0
        );
    }
    let lines = LINES.lock().unwrap();
    let joined = lines.join("\n");
    assert!(
        joined.contains("2 model") && joined.contains("deciding by rules"),
        "{joined}"
    );
    assert!(joined.contains("2 event rejected (1 so far)"), "{joined}");
}

/// Signed updates through the C ABI: applied (1) or kept for the user's arm
/// (0), refused with `EI_ERR_UPDATE` and a message, `EI_ERR_STATE` without
/// pinned keys; the version shows in the decisions that follow.
#[test]
fn updates_through_the_c_abi() {
    let config = config_json("fixtures/updates/config.json");
    let user = std::ffi::CString::new("user-7").unwrap();
    let pkg = std::fs::read(root().join("fixtures/updates/policy_b.eiu")).unwrap();
    let rollout = std::fs::read(root().join("fixtures/updates/rollout_policy_b.eiu")).unwrap();
    let last_error = || {
        // SAFETY: ei_last_error returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(ffi::ei_last_error()) }
            .to_string_lossy()
            .into_owned()
    };
    // SAFETY: valid strings and buffers; the handle is freed once.
    unsafe {
        let rt = ffi::ei_runtime_new_for_user(config.as_ptr(), user.as_ptr());
        assert!(!rt.is_null(), "{}", last_error());
        let mut bad = pkg.clone();
        let n = bad.len();
        bad[n - 5] ^= 1;
        assert_eq!(
            ffi::ei_update_config(rt, bad.as_ptr(), bad.len()),
            ffi::EI_ERR_UPDATE
        );
        assert!(last_error().contains("SHA-256"), "{}", last_error());
        assert_eq!(
            ffi::ei_update_config(rt, std::ptr::null(), 0),
            ffi::EI_ERR_NULL
        );
        assert_eq!(
            ffi::ei_update_model(rt, pkg.as_ptr(), pkg.len()),
            ffi::EI_ERR_UPDATE
        );
        assert!(last_error().contains("update_model"), "{}", last_error());
        let r = ffi::ei_update_config(rt, rollout.as_ptr(), rollout.len());
        assert!(r == 0 || r == 1, "{r}: {}", last_error());
        // The same policy for everyone, with a higher sequence: in force.
        assert_eq!(
            ffi::ei_update_config(rt, pkg.as_ptr(), pkg.len()),
            1,
            "{}",
            last_error()
        );
        let ev =
            std::ffi::CString::new(r#"{"ts_ms":1767600190745,"type":"app_foreground"}"#).unwrap();
        assert_eq!(ffi::ei_push_json(rt, ev.as_ptr()), 0);
        let mut buf = vec![0 as c_char; 4096];
        assert_eq!(ffi::ei_poll_decision(rt, buf.as_mut_ptr(), buf.len()), 1);
        let line = CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
        assert!(line.contains(r#""config":"policy-b""#), "{line}");
        assert!(line.contains(r#""context":{"v":1"#), "{line}");
        ffi::ei_runtime_free(rt);

        // The shipped config pins no keys.
        let shipped = shipped_config_json();
        let rt = ffi::ei_runtime_new(shipped.as_ptr());
        assert_eq!(
            ffi::ei_update_config(rt, pkg.as_ptr(), pkg.len()),
            ffi::EI_ERR_STATE
        );
        assert!(last_error().contains("not configured"), "{}", last_error());
        ffi::ei_runtime_free(rt);
    }
}

/// A host that pushes a thousand events before it polls still gets every
/// refresh's context: polling processes the channel in batches.
#[test]
fn every_refresh_keeps_its_context_when_the_host_polls_late() {
    let config = shipped_config_json();
    let text = std::fs::read_to_string(root().join("fixtures/example_trace.jsonl")).unwrap();
    // SAFETY: valid strings and buffers; the handle is freed once.
    unsafe {
        let rt = ffi::ei_runtime_new(config.as_ptr());
        assert!(!rt.is_null());
        for line in text.lines().take(1000) {
            let c = std::ffi::CString::new(line).unwrap();
            assert_eq!(ffi::ei_push_json(rt, c.as_ptr()), 0);
        }
        let mut buf = vec![0 as c_char; 4096];
        let mut refreshes = 0;
        while ffi::ei_poll_decision(rt, buf.as_mut_ptr(), buf.len()) == 1 {
            let line = CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
            if line.contains(r#""action":"refresh""#) {
                refreshes += 1;
                assert!(line.contains(r#""context":{"v":1"#), "{line}");
            }
        }
        assert!(
            refreshes > 64,
            "{refreshes} refreshes: more than the context log holds"
        );
        ffi::ei_runtime_free(rt);
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
        let (code, out) = run_c_host("tests/c/reentrant_log.c", &[mode]);
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
    let (code, out) = run_c_host("tests/c/worker_race.c", &[]);
    assert_eq!(code, Some(0), "{out}");
}

/// Issue 35: `ei_tick` far past the events' clock is refused and changes
/// nothing; events and decisions go on.
#[test]
fn a_far_future_tick_is_refused_and_the_runtime_goes_on() {
    let cfg = shipped_config_json();
    // SAFETY: valid C strings and buffers.
    unsafe {
        let rt = ffi::ei_runtime_new(cfg.as_ptr());
        assert!(!rt.is_null());
        assert_eq!(
            ffi::ei_push_json(
                rt,
                c"{\"ts_ms\":1767600000000,\"type\":\"app_foreground\"}".as_ptr()
            ),
            0
        );
        assert_eq!(ffi::ei_tick(rt, 7_226_582_400_000), ffi::EI_ERR_ARG);
        let err = CStr::from_ptr(ffi::ei_last_error())
            .to_string_lossy()
            .into_owned();
        assert!(err.contains("ahead of the newest accepted event"), "{err}");
        assert_eq!(
            ffi::ei_push_json(
                rt,
                c"{\"ts_ms\":1767600010000,\"type\":\"pull_to_refresh\",\"page\":\"home\"}"
                    .as_ptr()
            ),
            0
        );
        let mut buf = vec![0 as c_char; 4096];
        let mut reasons = Vec::new();
        while ffi::ei_poll_decision(rt, buf.as_mut_ptr(), buf.len()) == 1 {
            let v: serde_json::Value =
                serde_json::from_str(CStr::from_ptr(buf.as_ptr()).to_str().unwrap()).unwrap();
            reasons.push(v["reason"].as_str().unwrap().to_owned());
        }
        assert_eq!(reasons, ["staleness", "trigger:pull_to_refresh"]);
        ffi::ei_runtime_free(rt);
    }
}
