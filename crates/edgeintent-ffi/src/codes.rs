//! The ABI's numbers and callback types: error codes, log levels, the ABI
//! version, the host's opaque pointer.

use std::ffi::{c_char, c_int, c_void};

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
/// The call does not fit the runtime's state (worker mode, no geofence, a
/// call from inside the decision callback that would wait for itself).
pub const EI_ERR_STATE: c_int = -8;
/// An argument is out of range (a timestamp, a coverage circle, a log level).
pub const EI_ERR_ARG: c_int = -9;
/// An update package was refused (bad signature or hash, truncated, stale,
/// another arm's app version, a model or config that does not load); the
/// running version stays in force.
pub const EI_ERR_UPDATE: c_int = -10;

/// The version of this ABI; a host compares it with `EI_ABI_VERSION` from
/// the header it was compiled against. Raised on any incompatible change.
pub const EI_ABI_VERSION: c_int = 3;

/// Log levels of `ei_set_log_callback`, most severe first.
pub const EI_LOG_ERROR: c_int = 1;
/// A problem the runtime worked around (a model fallback, dropped decisions).
pub const EI_LOG_WARN: c_int = 2;
/// Something worth knowing (a clock jump).
pub const EI_LOG_INFO: c_int = 3;
/// Per-event detail (a refused slot list).
pub const EI_LOG_DEBUG: c_int = 4;

/// Receives one decision (a JSON line, valid only during the call) on the
/// worker thread; `user` is the pointer given to `ei_start_worker`.
pub type EiDecisionCb =
    Option<unsafe extern "C" fn(user: *mut c_void, decision_json: *const c_char)>;

/// Receives one diagnostic: a level (`EI_LOG_*`) and a message valid only
/// during the call.
pub type EiLogCb =
    Option<unsafe extern "C" fn(user: *mut c_void, level: c_int, message: *const c_char)>;

/// A decision callback that is there (not NULL).
pub(crate) type DecisionFn = unsafe extern "C" fn(user: *mut c_void, decision_json: *const c_char);
/// A log callback that is there (not NULL).
pub(crate) type LogFn =
    unsafe extern "C" fn(user: *mut c_void, level: c_int, message: *const c_char);

/// The host's opaque pointer, handed back to its callbacks.
#[derive(Clone, Copy)]
pub(crate) struct UserPtr(pub(crate) *mut c_void);
// SAFETY: the pointer is never dereferenced here, only passed back to the
// host's callback, whose contract (the header) makes thread safety the host's.
unsafe impl Send for UserPtr {}
// SAFETY: as above.
unsafe impl Sync for UserPtr {}
