//! The C ABI (`include/edgeintent.h`) for mobile hosts (JNI, Swift).
//!
//! Every function checks its pointers, runs its body inside `catch_unwind`
//! (no panic crosses the boundary) and reports failures as negative codes
//! with a message in a thread-local buffer (`ei_last_error`). This is the one
//! module allowed `unsafe`: dereferencing the host's pointers.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Mutex;

use crate::config::Config;
use crate::ingest::{Producer, PushError};
use crate::runtime::Runtime;

/// A NULL pointer was passed.
pub const EI_ERR_NULL: c_int = -1;
/// A string was not valid UTF-8.
pub const EI_ERR_UTF8: c_int = -2;
/// The event JSON is invalid (counted in `events_invalid`).
pub const EI_ERR_EVENT: c_int = -3;
/// The ingest channel is full: the event was dropped (counted).
pub const EI_ERR_FULL: c_int = -4;
/// A snapshot could not be written or read.
pub const EI_ERR_SNAPSHOT: c_int = -5;
/// An internal error (a caught panic); the runtime may still be used.
pub const EI_ERR_INTERNAL: c_int = -6;
/// The runtime cannot accept events any more.
pub const EI_ERR_CLOSED: c_int = -7;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(msg: impl Into<Vec<u8>>) {
    let mut bytes = msg.into();
    bytes.retain(|&b| b != 0);
    let c = CString::new(bytes).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

fn clear_error() {
    LAST_ERROR.with(|e| *e.borrow_mut() = CString::default());
}

/// Runs `f`, turning a panic into `on_panic` and a message.
fn guard<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    clear_error();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_error(format!("internal error (please report): {what}"));
            on_panic
        }
    }
}

/// The opaque runtime handle of the C ABI.
pub struct EiRuntime {
    producer: Producer,
    inner: Mutex<Inner>,
}

struct Inner {
    rt: Runtime,
    /// A decision that did not fit the caller's buffer, kept for the next call.
    pending: Option<CString>,
}

impl EiRuntime {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while locked is already reported; the state is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reads a C string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for the call.
unsafe fn arg<'a>(p: *const c_char, name: &str) -> Result<&'a str, c_int> {
    if p.is_null() {
        set_error(format!("{name} is NULL"));
        return Err(EI_ERR_NULL);
    }
    // SAFETY: non-NULL and NUL-terminated per the contract above.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|e| {
        set_error(format!("{name} is not valid UTF-8: {e}"));
        EI_ERR_UTF8
    })
}

/// The runtime behind a handle.
///
/// # Safety
/// `rt` is NULL or a live handle from `ei_runtime_new`.
unsafe fn handle<'a>(rt: *const EiRuntime) -> Result<&'a EiRuntime, c_int> {
    if rt.is_null() {
        set_error("runtime handle is NULL");
        return Err(EI_ERR_NULL);
    }
    // SAFETY: a live handle per the contract above; shared access only.
    Ok(unsafe { &*rt })
}

/// Error codes are -1 to -15; size answers `-(needed)` are at most -16
/// (`EI_TOO_SMALL` in the header).
const MIN_SIZE_ANSWER: usize = 16;

/// Copies `text` and a NUL into `buf`; `-(needed)` when it does not fit.
///
/// # Safety
/// `buf` is NULL or valid for `len` writable bytes.
unsafe fn write_out(text: &CStr, buf: *mut c_char, len: usize) -> Result<usize, c_int> {
    let bytes = text.to_bytes_with_nul();
    if buf.is_null() || bytes.len() > len {
        let needed = bytes.len().max(MIN_SIZE_ANSWER);
        return Err(-c_int::try_from(needed).unwrap_or(c_int::MAX));
    }
    // SAFETY: `buf` holds at least `len >= bytes.len()` bytes; the regions
    // cannot overlap (ours is a Rust allocation).
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr().cast::<c_char>(), buf, bytes.len()) };
    Ok(bytes.len() - 1)
}

fn to_cstring(s: String) -> CString {
    CString::new(s).unwrap_or_default()
}

/// Creates a runtime from config JSON (the CLI's `--config` contents; relative
/// paths resolve against the working directory). NULL on error.
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ei_runtime_new(config_json: *const c_char) -> *mut EiRuntime {
    guard(std::ptr::null_mut(), || {
        // SAFETY: forwarded contract.
        let text = match unsafe { arg(config_json, "config_json") } {
            Ok(t) => t,
            Err(_) => return std::ptr::null_mut(),
        };
        let built = Config::from_json(text, Path::new("."), "<ei_runtime_new>")
            .map_err(crate::Error::from)
            .and_then(|c| Runtime::builder().config(c).build());
        match built {
            Ok(rt) => Box::into_raw(Box::new(EiRuntime {
                producer: rt.producer(),
                inner: Mutex::new(Inner { rt, pending: None }),
            })),
            Err(e) => {
                set_error(e.to_string());
                std::ptr::null_mut()
            }
        }
    })
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
        let (h, json) = match unsafe { (handle(rt), arg(event_json, "event_json")) } {
            (Ok(h), Ok(j)) => (h, j),
            (Err(c), _) | (_, Err(c)) => return c,
        };
        match h.producer.push_json(json) {
            Ok(()) => 0,
            Err(PushError::Invalid(e)) => {
                set_error(e.to_string());
                EI_ERR_EVENT
            }
            Err(PushError::Full(_)) => {
                set_error(
                    "ingest channel is full; event dropped (poll more often or raise ingest.channel_capacity)",
                );
                EI_ERR_FULL
            }
            Err(e) => {
                set_error(e.to_string());
                EI_ERR_CLOSED
            }
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
        let mut inner = h.lock();
        let line = match inner.pending.take() {
            Some(l) => l,
            None => {
                inner.rt.pump();
                match inner.rt.poll() {
                    None => return 0,
                    Some(d) => to_cstring(inner.rt.decision_json(&d)),
                }
            }
        };
        // SAFETY: forwarded contract.
        match unsafe { write_out(&line, buf, len) } {
            Ok(_) => 1,
            Err(needed) => {
                inner.pending = Some(line);
                needed
            }
        }
    })
}

/// A snapshot call: checks the handle and path, then runs `f` on the runtime.
///
/// # Safety
/// `rt` is NULL or a live handle; `path` is NULL or a NUL-terminated string.
unsafe fn with_snapshot(
    rt: *const EiRuntime,
    path: *const c_char,
    f: impl FnOnce(&mut Runtime, &str) -> Result<(), crate::snapshot::SnapshotError>,
) -> c_int {
    guard(EI_ERR_INTERNAL, || {
        // SAFETY: forwarded contract.
        let (h, path) = match unsafe { (handle(rt), arg(path, "path")) } {
            (Ok(h), Ok(p)) => (h, p),
            (Err(c), _) | (_, Err(c)) => return c,
        };
        match f(&mut h.lock().rt, path) {
            Ok(()) => 0,
            Err(e) => {
                set_error(e.to_string());
                EI_ERR_SNAPSHOT
            }
        }
    })
}

/// Saves the runtime's state to `path` atomically (after processing pushed
/// events). 0 ok, <0 error.
///
/// # Safety
/// `rt` is NULL or a live handle; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ei_snapshot_save(rt: *const EiRuntime, path: *const c_char) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        with_snapshot(rt, path, |rt, path| {
            rt.pump();
            rt.save_snapshot(path)
        })
    }
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
    unsafe { with_snapshot(rt, path, |rt, path| rt.load_snapshot(path)) }
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
        let stats = h.lock().rt.stats();
        let json = to_cstring(serde_json::to_string(&stats).unwrap_or_default());
        // SAFETY: forwarded contract.
        match unsafe { write_out(&json, buf, len) } {
            Ok(n) => c_int::try_from(n).unwrap_or(c_int::MAX),
            Err(needed) => needed,
        }
    })
}

/// The last error on this thread ("" if none); valid until the next call on
/// this thread.
#[no_mangle]
pub extern "C" fn ei_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
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

/// Frees a runtime (NULL is ignored). The handle must not be used afterwards,
/// and no other thread may be using it.
///
/// # Safety
/// `rt` is NULL or a live handle from `ei_runtime_new`, freed once.
#[no_mangle]
pub unsafe extern "C" fn ei_runtime_free(rt: *mut EiRuntime) {
    guard((), || {
        if !rt.is_null() {
            // SAFETY: created by Box::into_raw in ei_runtime_new, freed once.
            drop(unsafe { Box::from_raw(rt) });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        // SAFETY: ei_last_error returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(ei_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    const CONFIG: &CStr = c"{\"features\":{\"version\":\"t\",\"features\":[{\"name\":\"v\",\"kind\":\"home_visible\"}]}}";

    #[test]
    fn null_and_bad_input_are_errors_not_crashes() {
        // SAFETY: every pointer is NULL, a live handle, or a valid C string.
        unsafe {
            assert!(ei_runtime_new(std::ptr::null()).is_null());
            assert!(last_error().contains("NULL"));
            assert!(ei_runtime_new(c"{not json".as_ptr()).is_null());
            assert!(last_error().contains("config"), "{}", last_error());
            assert_eq!(ei_push_json(std::ptr::null(), c"{}".as_ptr()), EI_ERR_NULL);
            let rt = ei_runtime_new(CONFIG.as_ptr());
            assert!(!rt.is_null(), "{}", last_error());
            assert_eq!(ei_push_json(rt, std::ptr::null()), EI_ERR_NULL);
            let bad_utf8 = [0xffu8, 0xfe, 0];
            assert_eq!(ei_push_json(rt, bad_utf8.as_ptr().cast()), EI_ERR_UTF8);
            assert_eq!(
                ei_push_json(
                    rt,
                    c"{\"ts_ms\":1,\"type\":\"location\",\"lat\":91,\"lon\":0,\"accuracy_m\":1}"
                        .as_ptr()
                ),
                EI_ERR_EVENT
            );
            assert!(last_error().contains("lat"), "{}", last_error());
            assert_eq!(
                ei_push_json(rt, c"{\"ts_ms\":1,\"type\":\"teleport\"}".as_ptr()),
                0
            );
            assert_eq!(
                ei_push_json(rt, c"{\"ts_ms\":2,\"type\":\"app_foreground\"}".as_ptr()),
                0
            );
            // Too small: the needed size, and the decision is kept.
            let mut small = [0 as c_char; 8];
            let needed = ei_poll_decision(rt, small.as_mut_ptr(), small.len());
            assert!(needed < -8, "{needed}");
            let mut buf = vec![0 as c_char; (-needed) as usize];
            assert_eq!(ei_poll_decision(rt, buf.as_mut_ptr(), buf.len()), 1);
            let line = CStr::from_ptr(buf.as_ptr()).to_str().unwrap();
            assert_eq!(
                line,
                r#"{"ts_ms":2,"action":"refresh","reason":"staleness"}"#
            );
            assert_eq!(ei_poll_decision(rt, buf.as_mut_ptr(), buf.len()), 0);
            let mut stats = vec![0 as c_char; 8192];
            let n = ei_stats_json(rt, stats.as_mut_ptr(), stats.len());
            assert!(n > 0);
            let s: serde_json::Value =
                serde_json::from_str(CStr::from_ptr(stats.as_ptr()).to_str().unwrap()).unwrap();
            assert_eq!(
                (s["events_invalid"].as_u64(), s["events_unknown"].as_u64()),
                (Some(1), Some(1))
            );
            assert_eq!(
                ei_snapshot_load(rt, c"/nonexistent/x.snap".as_ptr()),
                EI_ERR_SNAPSHOT
            );
            ei_runtime_free(rt);
            ei_runtime_free(std::ptr::null_mut());
            assert_eq!(
                CStr::from_ptr(ei_version()).to_str().unwrap(),
                env!("CARGO_PKG_VERSION")
            );
        }
    }
}
