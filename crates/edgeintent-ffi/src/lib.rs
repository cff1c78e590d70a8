//! The C ABI (`include/edgeintent.h`) for mobile hosts (JNI, Swift).
//!
//! Every function checks its pointers, runs its body inside `catch_unwind`
//! (no panic crosses the boundary) and reports failures as negative codes
//! with a message in a thread-local buffer (`ei_last_error`). This is the one
//! module allowed `unsafe`: dereferencing the host's pointers.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr};

mod boundary;
mod codes;
mod handle;
#[cfg(feature = "java")]
mod jni;
mod locks;
mod logger;

use boundary::{arg, code, guard, set_error, write_out};
pub use codes::*;
use handle::handle;
pub use handle::EiRuntime;
use logger::C_LOGGER;

/// Creates a runtime from config JSON (the CLI's `--config` contents; relative
/// paths resolve against the working directory). NULL on error.
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ei_runtime_new(config_json: *const c_char) -> *mut EiRuntime {
    guard(std::ptr::null_mut(), || {
        // SAFETY: forwarded contract.
        match unsafe { arg(config_json, "config_json") }.and_then(|c| EiRuntime::create(c, None)) {
            Ok(h) => Box::into_raw(Box::new(h)),
            Err(_) => std::ptr::null_mut(),
        }
    })
}

/// Like `ei_runtime_new`, for one user: the user id picks the A/B bucket
/// (`policy.buckets`) and the arm of staged roll-outs. NULL on error.
///
/// # Safety
/// `config_json` and `user_id` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn ei_runtime_new_for_user(
    config_json: *const c_char,
    user_id: *const c_char,
) -> *mut EiRuntime {
    guard(std::ptr::null_mut(), || {
        // SAFETY: forwarded contract.
        let args = unsafe { (arg(config_json, "config_json"), arg(user_id, "user_id")) };
        match args {
            (Ok(c), Ok(u)) => match EiRuntime::create(c, Some(u)) {
                Ok(h) => Box::into_raw(Box::new(h)),
                Err(_) => std::ptr::null_mut(),
            },
            _ => std::ptr::null_mut(),
        }
    })
}

/// The bytes of a package, checked.
///
/// # Safety
/// `bytes` is NULL or valid for `len` bytes.
unsafe fn bytes_arg<'a>(bytes: *const u8, len: usize) -> Result<&'a [u8], c_int> {
    if bytes.is_null() {
        set_error("package bytes are NULL");
        return Err(EI_ERR_NULL);
    }
    // SAFETY: non-NULL and valid for `len` bytes per the contract above.
    Ok(unsafe { std::slice::from_raw_parts(bytes, len) })
}

fn update_call(
    rt: *const EiRuntime,
    bytes: *const u8,
    len: usize,
    kind: edgeintent::update::UpdateKind,
) -> c_int {
    guard(EI_ERR_INTERNAL, || {
        // SAFETY: the callers' contract, forwarded.
        match unsafe { (handle(rt), bytes_arg(bytes, len)) } {
            (Ok(h), Ok(b)) => h.update(kind, b).unwrap_or_else(|c| c),
            (Err(c), _) | (_, Err(c)) => c,
        }
    })
}

/// Applies a signed config update from the server between two events
/// (after the events already pushed). 1: in force; 0: accepted, but this
/// user's roll-out arm keeps the running version; `EI_ERR_UPDATE`: refused
/// (ei_last_error says why) and the running version stays; `EI_ERR_STATE`:
/// the config has no `updates` section.
///
/// # Safety
/// `rt` is NULL or a live handle; `bytes` is NULL or valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ei_update_config(
    rt: *const EiRuntime,
    bytes: *const u8,
    len: usize,
) -> c_int {
    update_call(rt, bytes, len, edgeintent::update::UpdateKind::Config)
}

/// Applies a signed model update, as `ei_update_config` does a config.
///
/// # Safety
/// `rt` is NULL or a live handle; `bytes` is NULL or valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ei_update_model(
    rt: *const EiRuntime,
    bytes: *const u8,
    len: usize,
) -> c_int {
    update_call(rt, bytes, len, edgeintent::update::UpdateKind::Model)
}

/// Pushes one event (a JSON object of the trace contract). Safe to call from
/// many threads at once; never blocks. 0 ok (an unknown `type` is counted and
/// skipped), <0 error.
///
/// # Safety
/// `rt` is NULL or a live handle; `event_json` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ei_push_json(rt: *const EiRuntime, event_json: *const c_char) -> c_int {
    guard(EI_ERR_INTERNAL, || {
        // SAFETY: forwarded contract.
        match unsafe { (handle(rt), arg(event_json, "event_json")) } {
            (Ok(h), Ok(json)) => code(h.push_json(json)),
            (Err(c), _) | (_, Err(c)) => c,
        }
    })
}

/// Processes pushed events and writes the oldest decision not yet taken as
/// one JSON line (NUL-terminated) into `buf`. 1 written, 0 none, <0 error;
/// when `buf` is too small, `-(needed bytes, NUL included)` and the decision
/// is kept for the next call.
///
/// # Safety
/// `rt` is NULL or a live handle; `buf` is NULL or valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ei_poll_decision(
    rt: *const EiRuntime,
    buf: *mut c_char,
    len: usize,
) -> c_int {
    guard(EI_ERR_INTERNAL, || {
        // SAFETY: forwarded contract.
        let h = match unsafe { handle(rt) } {
            Ok(h) => h,
            Err(c) => return c,
        };
        // SAFETY: forwarded contract.
        let written = h.poll_with(|line| match unsafe { write_out(&line, buf, len) } {
            Ok(_) => (1, None),
            Err(needed) => (needed, Some(line)),
        });
        match written {
            Ok(r) => r.unwrap_or(0),
            Err(c) => c,
        }
    })
}

/// A call with a path argument on a live handle.
///
/// # Safety
/// `rt` is NULL or a live handle; `path` is NULL or a NUL-terminated string.
unsafe fn with_path(
    rt: *const EiRuntime,
    path: *const c_char,
    f: impl FnOnce(&EiRuntime, &str) -> Result<(), c_int>,
) -> c_int {
    guard(EI_ERR_INTERNAL, || {
        // SAFETY: forwarded contract.
        match unsafe { (handle(rt), arg(path, "path")) } {
            (Ok(h), Ok(p)) => code(f(h, p)),
            (Err(c), _) | (_, Err(c)) => c,
        }
    })
}

/// Saves the runtime's state to `path` atomically (after processing pushed
/// events; in worker mode, the events the worker has processed). 0 ok, <0 error.
///
/// # Safety
/// `rt` is NULL or a live handle; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ei_snapshot_save(rt: *const EiRuntime, path: *const c_char) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { with_path(rt, path, EiRuntime::save) }
}

/// Restores state from a snapshot file. On any error (missing, truncated,
/// corrupt, another version or configuration) the runtime keeps its state.
/// 0 ok, <0 error.
///
/// # Safety
/// `rt` is NULL or a live handle; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ei_snapshot_load(rt: *const EiRuntime, path: *const c_char) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { with_path(rt, path, EiRuntime::load) }
}

/// Writes the runtime's counters as JSON into `buf`: the number of bytes
/// written (NUL excluded), or `-(needed bytes)` when `buf` is too small, or
/// another negative error.
///
/// # Safety
/// `rt` is NULL or a live handle; `buf` is NULL or valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ei_stats_json(
    rt: *const EiRuntime,
    buf: *mut c_char,
    len: usize,
) -> c_int {
    guard(EI_ERR_INTERNAL, || {
        // SAFETY: forwarded contract.
        let h = match unsafe { handle(rt) } {
            Ok(h) => h,
            Err(c) => return c,
        };
        // SAFETY: forwarded contract.
        match unsafe { write_out(&h.stats_json(), buf, len) } {
            Ok(n) => c_int::try_from(n).unwrap_or(c_int::MAX),
            Err(needed) => needed,
        }
    })
}

/// The last error on this thread ("" if none); valid until the next call on
/// this thread.
#[no_mangle]
pub extern "C" fn ei_last_error() -> *const c_char {
    boundary::last_error_ptr()
}

/// The library version, e.g. "0.1.0".
#[no_mangle]
pub extern "C" fn ei_version() -> *const c_char {
    const V: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    V.as_ptr()
}

/// Frees a runtime (NULL is ignored), stopping its worker first. The handle
/// must not be used afterwards, and no other thread may be using it. Called
/// from inside the decision callback it frees nothing and sets the error.
///
/// # Safety
/// `rt` is NULL or a live handle from `ei_runtime_new`, freed once.
#[no_mangle]
pub unsafe extern "C" fn ei_runtime_free(rt: *mut EiRuntime) {
    guard((), || {
        // SAFETY: forwarded contract.
        unsafe { handle::free(rt) }
    })
}

/// This library's ABI version (`EI_ABI_VERSION` when the host was compiled
/// against the same header).
#[no_mangle]
pub extern "C" fn ei_abi_version() -> c_int {
    EI_ABI_VERSION
}

/// Processes pushed events, then moves time on to `now_ms` (the events'
/// clock) and runs the periodic decisions due by then; poll afterwards.
/// Hosts call it when `ei_next_wakeup_ms` comes due. 0 ok, <0 error
/// (`EI_ERR_STATE` in worker mode, which ticks by itself).
///
/// # Safety
/// `rt` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ei_tick(rt: *const EiRuntime, now_ms: i64) -> c_int {
    guard(EI_ERR_INTERNAL, || {
        // SAFETY: forwarded contract.
        match unsafe { handle(rt) } {
            Ok(h) => code(h.tick(now_ms)),
            Err(c) => c,
        }
    })
}

/// When the runtime next wants `ei_tick` (ms, the events' clock): 1 and
/// `*out_ms` written, 0 when nothing is due (the homepage is not visible),
/// <0 error.
///
/// # Safety
/// `rt` is NULL or a live handle; `out_ms` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn ei_next_wakeup_ms(rt: *const EiRuntime, out_ms: *mut i64) -> c_int {
    guard(EI_ERR_INTERNAL, || {
        // SAFETY: forwarded contract.
        let h = match unsafe { handle(rt) } {
            Ok(h) => h,
            Err(c) => return c,
        };
        if out_ms.is_null() {
            set_error("out_ms is NULL");
            return EI_ERR_NULL;
        }
        match h.next_wakeup_ms() {
            None => 0,
            Some(t) => {
                // SAFETY: non-NULL and valid for a write per the contract.
                unsafe { out_ms.write(t) };
                1
            }
        }
    })
}

/// Installs the coverage circle the server sent after a `request_coverage`
/// decision. 0 ok; `EI_ERR_ARG` for an invalid circle and `EI_ERR_STATE`
/// without a geofence config, both keeping the previous circle.
///
/// # Safety
/// `rt` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ei_set_coverage(
    rt: *const EiRuntime,
    lat: f64,
    lon: f64,
    radius_m: f64,
) -> c_int {
    guard(EI_ERR_INTERNAL, || {
        // SAFETY: forwarded contract.
        match unsafe { handle(rt) } {
            Ok(h) => code(h.set_coverage(lat, lon, radius_m)),
            Err(c) => c,
        }
    })
}

/// Starts worker mode: a thread of the runtime's own processes pushed events
/// as they arrive, runs ticks as time passes (the events' clock carried on by
/// elapsed time), and calls `cb(user, decision_json)` for every decision, in
/// order, from that thread only, never holding a lock (the callback may call
/// any function here but `ei_start_worker`, `ei_stop_worker` and
/// `ei_runtime_free`). Decisions queued before the start go to the callback
/// first. While it runs, `ei_poll_decision` and `ei_tick` return
/// `EI_ERR_STATE`. A start while another thread stops the worker waits for
/// the stop to finish, then starts. 0 ok, <0 error.
///
/// # Safety
/// `rt` is NULL or a live handle; `cb` is NULL or a function safe to call
/// from another thread with `user` until `ei_stop_worker` returns.
#[no_mangle]
pub unsafe extern "C" fn ei_start_worker(
    rt: *const EiRuntime,
    cb: EiDecisionCb,
    user: *mut c_void,
) -> c_int {
    guard(EI_ERR_INTERNAL, || {
        // SAFETY: forwarded contract.
        let h = match unsafe { handle(rt) } {
            Ok(h) => h,
            Err(c) => return c,
        };
        let Some(cb) = cb else {
            set_error("cb is NULL");
            return EI_ERR_NULL;
        };
        code(h.start_worker(cb, UserPtr(user)))
    })
}

/// Stops worker mode after every event already pushed is processed and its
/// decisions delivered; afterwards decisions are polled again. 0 stopped,
/// 1 no worker was running, <0 error (`EI_ERR_STATE` from inside the callback).
///
/// # Safety
/// `rt` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ei_stop_worker(rt: *const EiRuntime) -> c_int {
    guard(EI_ERR_INTERNAL, || {
        // SAFETY: forwarded contract.
        let h = match unsafe { handle(rt) } {
            Ok(h) => h,
            Err(c) => return c,
        };
        match h.stop_worker() {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(c) => c,
        }
    })
}

/// Routes the library's diagnostics (model fallbacks, dropped decisions,
/// clock jumps, caught panics) to `cb(user, level, message)` for levels up to
/// `max_level` (`EI_LOG_ERROR` .. `EI_LOG_DEBUG`); NULL `cb` turns them off.
/// Process-wide: set it before `ei_runtime_new` to hear about the model
/// load. The callback runs on whichever thread the runtime is working on,
/// possibly several at once, never while the library holds a lock of its
/// own (a record raised inside a call is delivered as the call returns), so
/// it may call any function here. 0 ok; `EI_ERR_ARG` for a bad level;
/// `EI_ERR_STATE` when the process already has another `log` logger (a Rust
/// host's own).
///
/// # Safety
/// `cb` is NULL or a function safe to call from any thread with `user` until
/// it is replaced.
#[no_mangle]
pub unsafe extern "C" fn ei_set_log_callback(
    cb: EiLogCb,
    user: *mut c_void,
    max_level: c_int,
) -> c_int {
    guard(EI_ERR_INTERNAL, || {
        let filter = match max_level {
            EI_LOG_ERROR => log::LevelFilter::Error,
            EI_LOG_WARN => log::LevelFilter::Warn,
            EI_LOG_INFO => log::LevelFilter::Info,
            EI_LOG_DEBUG => log::LevelFilter::Debug,
            other => {
                set_error(format!(
                    "max_level {other} is not a level (EI_LOG_ERROR 1 .. EI_LOG_DEBUG 4)"
                ));
                return EI_ERR_ARG;
            }
        };
        if !C_LOGGER.install() {
            set_error("another logger is installed in this process (log::set_logger); edgeintent's diagnostics go there");
            return EI_ERR_STATE;
        }
        C_LOGGER.set_sink(cb.map(|cb| (cb, UserPtr(user))));
        log::set_max_level(if cb.is_some() {
            filter
        } else {
            log::LevelFilter::Off
        });
        0
    })
}

#[cfg(test)]
mod tests;
