//! The C ABI called from Rust: worker mode, ticks and wake-ups, coverage,
//! the log callback, updates, contexts, pushes from many threads.

use std::ffi::{c_char, CStr};

use super::*;

#[test]
fn pushes_from_eight_threads_through_the_c_abi_are_all_accounted_for() {
    let cfg = format!(
        r#"{{"features":"{}","ingest":{{"channel_capacity":256}}}}"#,
        root().join("models/feature_spec.json").display()
    );
    let cfg = std::ffi::CString::new(cfg).unwrap();
    // SAFETY: valid C strings and a live handle until ei_runtime_free.
    unsafe {
        let rt = crate::ei_runtime_new(cfg.as_ptr());
        assert!(
            !rt.is_null(),
            "{}",
            CStr::from_ptr(crate::ei_last_error()).to_string_lossy()
        );
        let handle = rt as usize;
        const PER_THREAD: usize = 20_000;
        let results: Vec<(usize, usize)> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..8)
                .map(|t| {
                    s.spawn(move || {
                        let rt = handle as *const crate::EiRuntime;
                        let (mut ok, mut full) = (0, 0);
                        for i in 0..PER_THREAD {
                            let line = format!(
                                "{{\"ts_ms\":{},\"type\":\"search\"}}\0",
                                1_000 + t * PER_THREAD + i
                            );
                            match crate::ei_push_json(rt, line.as_ptr().cast::<c_char>()) {
                                0 => ok += 1,
                                crate::EI_ERR_FULL => full += 1,
                                e => panic!("unexpected {e}"),
                            }
                        }
                        (ok, full)
                    })
                })
                .collect();
            // Meanwhile the host's poller drains the channel.
            let rt = handle as *const crate::EiRuntime;
            let mut buf = vec![0 as c_char; 256];
            while workers.iter().any(|w| !w.is_finished()) {
                crate::ei_poll_decision(rt, buf.as_mut_ptr(), buf.len());
            }
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let mut buf = vec![0 as c_char; 256];
        while crate::ei_poll_decision(rt, buf.as_mut_ptr(), buf.len()) == 1 {}
        let mut stats = vec![0 as c_char; 65536];
        assert!(crate::ei_stats_json(rt, stats.as_mut_ptr(), stats.len()) > 0);
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
        crate::ei_runtime_free(rt);
    }
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
        let rt = crate::ei_runtime_new(cfg.as_ptr());
        assert!(!rt.is_null());
        let user = &lines as *const _ as *mut std::ffi::c_void;
        assert_eq!(crate::ei_start_worker(rt, Some(collect), user), 0);
        let mut full = 0;
        for line in std::fs::read_to_string(&trace).unwrap().lines() {
            let c = std::ffi::CString::new(line).unwrap();
            // A host that must not lose events backs off while the worker catches up.
            loop {
                match crate::ei_push_json(rt, c.as_ptr()) {
                    0 => break,
                    crate::EI_ERR_FULL => {
                        full += 1;
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    e => {
                        crate::ei_runtime_free(rt); // stops the worker before `lines` goes
                        panic!("push failed: {e}");
                    }
                }
            }
        }
        eprintln!("{full} pushes found the channel full and were retried");
        assert_eq!(crate::ei_stop_worker(rt), 0);
        assert_eq!(crate::ei_stop_worker(rt), 1);
        let mut buf = vec![0 as c_char; 4096];
        assert_eq!(crate::ei_poll_decision(rt, buf.as_mut_ptr(), buf.len()), 0);
        crate::ei_runtime_free(rt);
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
        assert_eq!(crate::ei_abi_version(), crate::EI_ABI_VERSION);
        let rt = crate::ei_runtime_new(cfg.as_ptr());
        assert!(!rt.is_null());
        let mut wake = 0i64;
        assert_eq!(crate::ei_next_wakeup_ms(rt, &mut wake), 0);
        assert_eq!(
            crate::ei_next_wakeup_ms(rt, std::ptr::null_mut()),
            crate::EI_ERR_NULL
        );
        for line in [
            c"{\"ts_ms\":1000,\"type\":\"app_foreground\"}",
            c"{\"ts_ms\":2000,\"type\":\"page_view\",\"page\":\"home\"}",
        ] {
            assert_eq!(crate::ei_push_json(rt, line.as_ptr()), 0);
        }
        // The wake-up follows the events just pushed (tick processes them first).
        assert_eq!(crate::ei_tick(rt, 2_000), 0);
        assert_eq!(crate::ei_next_wakeup_ms(rt, &mut wake), 1);
        assert_eq!(wake, 32_000);
        let mut stats = vec![0 as c_char; 65536];
        let mut ticks = |rt| {
            assert!(crate::ei_stats_json(rt, stats.as_mut_ptr(), stats.len()) > 0);
            let s: serde_json::Value =
                serde_json::from_str(CStr::from_ptr(stats.as_ptr()).to_str().unwrap()).unwrap();
            s["ticks"].as_u64().unwrap()
        };
        assert_eq!(ticks(rt), 0);
        assert_eq!(crate::ei_tick(rt, wake), 0);
        assert_eq!(ticks(rt), 1);
        assert_eq!(crate::ei_tick(rt, -1), crate::EI_ERR_ARG);
        assert_eq!(crate::ei_tick(rt, i64::MAX), crate::EI_ERR_ARG);
        assert_eq!(ticks(rt), 1);
        assert_eq!(crate::ei_set_coverage(rt, 0.0, 0.0, 5_000.0), 0);
        assert_eq!(
            crate::ei_set_coverage(rt, 0.0, 0.0, -1.0),
            crate::EI_ERR_ARG
        );
        assert!(CStr::from_ptr(crate::ei_last_error())
            .to_str()
            .unwrap()
            .contains("radius"));
        assert_eq!(
            crate::ei_set_coverage(std::ptr::null(), 0.0, 0.0, 1.0),
            crate::EI_ERR_NULL
        );
        crate::ei_runtime_free(rt);
        // Without a geofence there is no coverage to set.
        let plain = std::ffi::CString::new(format!(
            r#"{{"features":"{}"}}"#,
            root().join("models/feature_spec.json").display()
        ))
        .unwrap();
        let rt = crate::ei_runtime_new(plain.as_ptr());
        assert_eq!(
            crate::ei_set_coverage(rt, 0.0, 0.0, 5_000.0),
            crate::EI_ERR_STATE
        );
        assert_eq!(
            crate::ei_start_worker(rt, None, std::ptr::null_mut()),
            crate::EI_ERR_NULL
        );
        crate::ei_runtime_free(rt);
    }
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
            crate::ei_set_log_callback(Some(log_line), user, 0),
            crate::EI_ERR_ARG
        );
        assert_eq!(
            crate::ei_set_log_callback(Some(log_line), user, crate::EI_LOG_WARN),
            0
        );
        let rt = crate::ei_runtime_new(cfg.as_ptr());
        assert!(!rt.is_null());
        for line in [
            c"{\"ts_ms\":100000,\"type\":\"search\"}",
            c"{\"ts_ms\":1,\"type\":\"search\"}",
        ] {
            assert_eq!(crate::ei_push_json(rt, line.as_ptr()), 0);
        }
        let mut buf = vec![0 as c_char; 4096];
        while crate::ei_poll_decision(rt, buf.as_mut_ptr(), buf.len()) == 1 {}
        crate::ei_runtime_free(rt);
        assert_eq!(
            crate::ei_set_log_callback(None, std::ptr::null_mut(), crate::EI_LOG_DEBUG),
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
        unsafe { CStr::from_ptr(crate::ei_last_error()) }
            .to_string_lossy()
            .into_owned()
    };
    // SAFETY: valid strings and buffers; the handle is freed once.
    unsafe {
        let rt = crate::ei_runtime_new_for_user(config.as_ptr(), user.as_ptr());
        assert!(!rt.is_null(), "{}", last_error());
        let mut bad = pkg.clone();
        let n = bad.len();
        bad[n - 5] ^= 1;
        assert_eq!(
            crate::ei_update_config(rt, bad.as_ptr(), bad.len()),
            crate::EI_ERR_UPDATE
        );
        assert!(last_error().contains("SHA-256"), "{}", last_error());
        assert_eq!(
            crate::ei_update_config(rt, std::ptr::null(), 0),
            crate::EI_ERR_NULL
        );
        assert_eq!(
            crate::ei_update_model(rt, pkg.as_ptr(), pkg.len()),
            crate::EI_ERR_UPDATE
        );
        assert!(last_error().contains("update_model"), "{}", last_error());
        let r = crate::ei_update_config(rt, rollout.as_ptr(), rollout.len());
        assert!(r == 0 || r == 1, "{r}: {}", last_error());
        // The same policy for everyone, with a higher sequence: in force.
        assert_eq!(
            crate::ei_update_config(rt, pkg.as_ptr(), pkg.len()),
            1,
            "{}",
            last_error()
        );
        let ev =
            std::ffi::CString::new(r#"{"ts_ms":1767600190745,"type":"app_foreground"}"#).unwrap();
        assert_eq!(crate::ei_push_json(rt, ev.as_ptr()), 0);
        let mut buf = vec![0 as c_char; 4096];
        assert_eq!(crate::ei_poll_decision(rt, buf.as_mut_ptr(), buf.len()), 1);
        let line = CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
        assert!(line.contains(r#""config":"policy-b""#), "{line}");
        assert!(line.contains(r#""context":{"v":1"#), "{line}");
        crate::ei_runtime_free(rt);

        // The shipped config pins no keys.
        let shipped = shipped_config_json();
        let rt = crate::ei_runtime_new(shipped.as_ptr());
        assert_eq!(
            crate::ei_update_config(rt, pkg.as_ptr(), pkg.len()),
            crate::EI_ERR_STATE
        );
        assert!(last_error().contains("not configured"), "{}", last_error());
        crate::ei_runtime_free(rt);
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
        let rt = crate::ei_runtime_new(config.as_ptr());
        assert!(!rt.is_null());
        for line in text.lines().take(1000) {
            let c = std::ffi::CString::new(line).unwrap();
            assert_eq!(crate::ei_push_json(rt, c.as_ptr()), 0);
        }
        let mut buf = vec![0 as c_char; 4096];
        let mut refreshes = 0;
        while crate::ei_poll_decision(rt, buf.as_mut_ptr(), buf.len()) == 1 {
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
        crate::ei_runtime_free(rt);
    }
}

/// Issue 35: `ei_tick` far past the events' clock is refused and changes
/// nothing; events and decisions go on.
#[test]
fn a_far_future_tick_is_refused_and_the_runtime_goes_on() {
    let cfg = shipped_config_json();
    // SAFETY: valid C strings and buffers.
    unsafe {
        let rt = crate::ei_runtime_new(cfg.as_ptr());
        assert!(!rt.is_null());
        assert_eq!(
            crate::ei_push_json(
                rt,
                c"{\"ts_ms\":1767600000000,\"type\":\"app_foreground\"}".as_ptr()
            ),
            0
        );
        assert_eq!(crate::ei_tick(rt, 7_226_582_400_000), crate::EI_ERR_ARG);
        let err = CStr::from_ptr(crate::ei_last_error())
            .to_string_lossy()
            .into_owned();
        assert!(err.contains("ahead of the newest accepted event"), "{err}");
        assert_eq!(
            crate::ei_push_json(
                rt,
                c"{\"ts_ms\":1767600010000,\"type\":\"pull_to_refresh\",\"page\":\"home\"}"
                    .as_ptr()
            ),
            0
        );
        let mut buf = vec![0 as c_char; 4096];
        let mut reasons = Vec::new();
        while crate::ei_poll_decision(rt, buf.as_mut_ptr(), buf.len()) == 1 {
            let v: serde_json::Value =
                serde_json::from_str(CStr::from_ptr(buf.as_ptr()).to_str().unwrap()).unwrap();
            reasons.push(v["reason"].as_str().unwrap().to_owned());
        }
        assert_eq!(reasons, ["staleness", "trigger:pull_to_refresh"]);
        crate::ei_runtime_free(rt);
    }
}
