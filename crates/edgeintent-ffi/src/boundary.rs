//! What every `extern "C"` body does at the boundary: the thread's last
//! error, panics caught and reported, C strings and buffers checked.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::codes::{EI_ERR_NULL, EI_ERR_UTF8};

thread_local! {
    pub(crate) static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_error(msg: impl Into<Vec<u8>>) {
    let mut bytes = msg.into();
    bytes.retain(|&b| b != 0);
    let c = CString::new(bytes).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// The thread's last error message, valid until its next call.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

pub(crate) fn clear_error() {
    LAST_ERROR.with(|e| *e.borrow_mut() = CString::default());
}

/// The message a caught panic carried.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `f`, turning a panic into `on_panic` and a message.
pub(crate) fn guard<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    clear_error();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => {
            let what = panic_message(&*p);
            log::error!(target: "edgeintent", "internal error (please report): {what}");
            set_error(format!("internal error (please report): {what}"));
            on_panic
        }
    }
}

/// Reads a C string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for the call.
pub(crate) unsafe fn arg<'a>(p: *const c_char, name: &str) -> Result<&'a str, c_int> {
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

/// Error codes are -1 to -15; size answers `-(needed)` are at most -16
/// (`EI_TOO_SMALL` in the header).
pub(crate) const MIN_SIZE_ANSWER: usize = 16;

/// Copies `text` and a NUL into `buf`; `-(needed)` when it does not fit.
///
/// # Safety
/// `buf` is NULL or valid for `len` writable bytes.
pub(crate) unsafe fn write_out(text: &CStr, buf: *mut c_char, len: usize) -> Result<usize, c_int> {
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

pub(crate) fn to_cstring(s: String) -> CString {
    CString::new(s).unwrap_or_default()
}

/// 0 for `Ok`, the code for `Err`.
pub(crate) fn code(r: Result<(), c_int>) -> c_int {
    r.err().unwrap_or(0)
}
