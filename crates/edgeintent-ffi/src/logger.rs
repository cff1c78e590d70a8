//! The host's log callback: `log` records of this library forwarded to it,
//! never while the library holds a lock of its own (records raised under
//! one wait until the last is released).

use std::cell::RefCell;
use std::ffi::{c_int, CStr, CString};
use std::sync::{OnceLock, RwLock};

use crate::boundary::to_cstring;
use crate::codes::{LogFn, UserPtr, EI_LOG_DEBUG, EI_LOG_ERROR, EI_LOG_INFO, EI_LOG_WARN};

thread_local! {
    /// How many of the library's locks this thread holds: log records raised
    /// meanwhile wait in `HELD_LOGS` until the last one is released, so the
    /// host's log callback never runs under a lock of ours and may call back.
    static LOCKS_HELD: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    static HELD_LOGS: RefCell<Vec<(c_int, CString)>> = const { RefCell::new(Vec::new()) };
}

/// Held while this thread holds one of the library's locks; dropped after
/// the lock is released, when it delivers the log records raised meanwhile.
pub(crate) struct Held(());

impl Held {
    pub(crate) fn new() -> Held {
        LOCKS_HELD.set(LOCKS_HELD.get() + 1);
        Held(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let left = LOCKS_HELD.get().saturating_sub(1);
        LOCKS_HELD.set(left);
        if left == 0 {
            let records = HELD_LOGS.with(|q| std::mem::take(&mut *q.borrow_mut()));
            for (level, msg) in records {
                C_LOGGER.deliver(level, &msg);
            }
        }
    }
}

/// Forwards `log` records from this crate to the host's callback.
pub(crate) struct CLogger {
    sink: RwLock<Option<(LogFn, UserPtr)>>,
    installed: OnceLock<bool>,
}

pub(crate) static C_LOGGER: CLogger = CLogger {
    sink: RwLock::new(None),
    installed: OnceLock::new(),
};

impl CLogger {
    /// Hands one record to the host's callback (called with none of the
    /// library's locks held).
    pub(crate) fn deliver(&self, level: c_int, msg: &CStr) {
        let sink = *self.sink.read().unwrap_or_else(|e| e.into_inner());
        if let Some((cb, user)) = sink {
            // SAFETY: the host's callback, called as the header documents.
            unsafe { cb(user.0, level, msg.as_ptr()) };
        }
    }

    /// Routes records to `sink` (none: nowhere).
    pub(crate) fn set_sink(&self, sink: Option<(LogFn, UserPtr)>) {
        *self.sink.write().unwrap_or_else(|e| e.into_inner()) = sink;
    }

    /// Makes this the process's logger once; false if another one is.
    pub(crate) fn install(&'static self) -> bool {
        *self.installed.get_or_init(|| log::set_logger(self).is_ok())
    }
}

impl log::Log for CLogger {
    fn enabled(&self, meta: &log::Metadata<'_>) -> bool {
        meta.target().starts_with("edgeintent")
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if self
            .sink
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
        {
            return;
        }
        let level = match record.level() {
            log::Level::Error => EI_LOG_ERROR,
            log::Level::Warn => EI_LOG_WARN,
            log::Level::Info => EI_LOG_INFO,
            log::Level::Debug | log::Level::Trace => EI_LOG_DEBUG,
        };
        let msg = to_cstring(record.args().to_string().replace('\0', " "));
        if LOCKS_HELD.get() > 0 {
            HELD_LOGS.with(|q| q.borrow_mut().push((level, msg)));
        } else {
            self.deliver(level, &msg);
        }
    }

    fn flush(&self) {}
}
