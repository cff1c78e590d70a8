//! The C ABI (`include/edgeintent.h`) for mobile hosts (JNI, Swift).
//!
//! Every function checks its pointers, runs its body inside `catch_unwind`
//! (no panic crosses the boundary) and reports failures as negative codes
//! with a message in a thread-local buffer (`ei_last_error`). This is the one
//! module allowed `unsafe`: dereferencing the host's pointers.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::thread::JoinHandle;

use crate::config::Config;
use crate::event::Event;
use crate::ingest::{Producer, PushError};
use crate::runtime::{Runtime, WorkerClock};

#[cfg(feature = "java")]
mod jni;

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

/// Log levels of [`ei_set_log_callback`], most severe first.
pub const EI_LOG_ERROR: c_int = 1;
/// A problem the runtime worked around (a model fallback, dropped decisions).
pub const EI_LOG_WARN: c_int = 2;
/// Something worth knowing (a clock jump).
pub const EI_LOG_INFO: c_int = 3;
/// Per-event detail (a refused slot list).
pub const EI_LOG_DEBUG: c_int = 4;

/// Receives one decision (a JSON line, valid only during the call) on the
/// worker thread; `user` is the pointer given to [`ei_start_worker`].
pub type EiDecisionCb = unsafe extern "C" fn(user: *mut c_void, decision_json: *const c_char);

/// Receives one diagnostic: a level (`EI_LOG_*`) and a message valid only
/// during the call.
pub type EiLogCb = unsafe extern "C" fn(user: *mut c_void, level: c_int, message: *const c_char);

/// The host's opaque pointer, handed back to its callbacks.
#[derive(Clone, Copy)]
struct UserPtr(*mut c_void);
// SAFETY: the pointer is never dereferenced here, only passed back to the
// host's callback, whose contract (the header) makes thread safety the host's.
unsafe impl Send for UserPtr {}
// SAFETY: as above.
unsafe impl Sync for UserPtr {}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    /// How many of the library's locks this thread holds: log records raised
    /// meanwhile wait in `HELD_LOGS` until the last one is released, so the
    /// host's log callback never runs under a lock of ours and may call back.
    static LOCKS_HELD: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    static HELD_LOGS: RefCell<Vec<(c_int, CString)>> = const { RefCell::new(Vec::new()) };
    /// Set on a worker-mode thread, whose callback must not wait for itself.
    static ON_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
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
            let what = crate::panics::message(&*p);
            log::error!(target: "edgeintent", "internal error (please report): {what}");
            set_error(format!("internal error (please report): {what}"));
            on_panic
        }
    }
}

/// Held while this thread holds one of the library's locks; dropped after
/// the lock is released, when it delivers the log records raised meanwhile.
struct Held(());

impl Held {
    fn new() -> Held {
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

/// A mutex on the platform's pthread mutex. Every hand-off of the host's
/// data between threads goes through one, so that a C host's race detector
/// (helgrind, DRD), which models pthreads but not the futex under std's
/// `Mutex`, sees the ordering that makes it safe.
struct HostMutex<T> {
    raw: Box<UnsafeCell<libc::pthread_mutex_t>>,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is reached only through a guard, which holds the mutex.
unsafe impl<T: Send> Send for HostMutex<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for HostMutex<T> {}

impl<T> HostMutex<T> {
    fn new(value: T) -> Self {
        // Boxed: a pthread mutex must not move once initialised.
        let raw = Box::new(UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER));
        // SAFETY: a fresh mutex with default attributes. Initialised by call,
        // not only statically, so that DRD knows it even if never locked.
        unsafe { libc::pthread_mutex_init(raw.get(), std::ptr::null()) };
        HostMutex {
            raw,
            value: UnsafeCell::new(value),
        }
    }

    fn lock(&self) -> HostGuard<'_, T> {
        let held = Held::new();
        // SAFETY: an initialised mutex that lives as long as `self`; a
        // default (non-recursive) mutex fails only on misuse we never do.
        unsafe { libc::pthread_mutex_lock(self.raw.get()) };
        HostGuard {
            m: self,
            _held: held,
        }
    }
}

impl<T> Drop for HostMutex<T> {
    fn drop(&mut self) {
        // SAFETY: no guard outlives the mutex (they borrow it).
        unsafe { libc::pthread_mutex_destroy(self.raw.get()) };
    }
}

struct HostGuard<'a, T> {
    m: &'a HostMutex<T>,
    /// Dropped after `drop` has unlocked: log records go out unlocked.
    _held: Held,
}

impl<T> std::ops::Deref for HostGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex.
        unsafe { &*self.m.value.get() }
    }
}

impl<T> std::ops::DerefMut for HostGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the mutex, and `&mut self` is unique.
        unsafe { &mut *self.m.value.get() }
    }
}

impl<T> Drop for HostGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: locked by this guard (also when unwinding from a panic,
        // which `guard` reports; the state stays usable).
        unsafe { libc::pthread_mutex_unlock(self.m.raw.get()) };
    }
}

/// The opaque runtime handle of the C ABI.
pub struct EiRuntime {
    producer: Producer,
    /// Shared with the worker thread in worker mode.
    inner: Arc<HostMutex<Inner>>,
    /// The same gate as `Inner::gate`, reachable without the runtime's lock.
    gate: Arc<HostMutex<()>>,
    worker: Mutex<Option<FfiWorker>>,
}

/// Decisions `ei_poll_decision` lets wait before it processes more events.
const POLL_BATCH: usize = 32;

struct Inner {
    rt: Runtime,
    /// The channel's receiving end, read here rather than by `Runtime::pump`
    /// so that each event is handed over through `gate`.
    events: crossbeam_channel::Receiver<Event>,
    /// Producers send while holding it and the receiver takes it after each
    /// event: the ordering a race detector can see (see [`HostMutex`]).
    gate: Arc<HostMutex<()>>,
    /// A decision that did not fit the caller's buffer, kept for the next call.
    pending: Option<CString>,
    /// Decisions go to the worker's callback, not to `ei_poll_decision`.
    worker_mode: bool,
}

struct FfiWorker {
    stop: crossbeam_channel::Sender<()>,
    handle: JoinHandle<()>,
}

impl Inner {
    /// Processes one event taken from the channel, after passing the gate
    /// its producer held while sending it.
    fn process(&mut self, e: Event) {
        drop(self.gate.lock());
        // A panic inside one event (a bug) costs that event, not the worker
        // or every later poll: the event is consumed and the next one runs.
        let rt = &mut self.rt;
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| rt.process(e))) {
            log::error!(target: "edgeintent", "internal error while processing an event (please report): {}", crate::panics::message(&*p));
        }
    }

    /// Processes every event waiting in the channel (the C ABI's `pump`).
    fn pump(&mut self) {
        while let Ok(e) = self.events.try_recv() {
            self.process(e);
        }
    }

    /// Processes waiting events until [`POLL_BATCH`] decisions wait to be
    /// taken: `ei_poll_decision` takes them in batches, so a host that pushed
    /// a thousand events between two polls still gets every refresh's context
    /// (the runtime keeps the last 64); the rest wait in the channel.
    fn pump_for_poll(&mut self) {
        while self.rt.queued_decisions() < POLL_BATCH {
            match self.events.try_recv() {
                Ok(e) => self.process(e),
                Err(_) => break,
            }
        }
    }
}

impl EiRuntime {
    fn lock(&self) -> HostGuard<'_, Inner> {
        self.inner.lock()
    }

    /// The worker's slot: starting and stopping hold it from start to end,
    /// so they happen one after the other (a start during a stop waits for
    /// the stop, then starts). The worker thread and its callback never take
    /// it (both calls refuse to run there).
    fn worker(&self) -> (Held, MutexGuard<'_, Option<FfiWorker>>) {
        let held = Held::new();
        (held, self.worker.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Stops the worker after it has processed every event already pushed and
    /// delivered their decisions. Refused on the worker thread itself (from
    /// inside the callback), which would wait for itself.
    fn stop_worker(&self) -> Result<bool, c_int> {
        if ON_WORKER.get() {
            set_error("the worker cannot be stopped (or the runtime freed) from inside its decision callback");
            return Err(EI_ERR_STATE);
        }
        let (_held, mut slot) = self.worker();
        let Some(w) = slot.take() else {
            return Ok(false);
        };
        let _ = w.stop.send(());
        let joined = w.handle.join();
        // Still under the slot's lock: no new worker can have started.
        self.lock().worker_mode = false;
        if joined.is_err() {
            set_error("the worker thread panicked; its last decisions may be lost");
            return Err(EI_ERR_INTERNAL);
        }
        Ok(true)
    }
}

/// The operations behind the C functions (and the Java binding), on a live
/// handle: errors are codes with the message already set (`ei_last_error`).
impl EiRuntime {
    fn create(config_json: &str, user_id: Option<&str>) -> Result<EiRuntime, c_int> {
        let built = Config::from_json(config_json, Path::new("."), "<ei_runtime_new>")
            .map_err(crate::Error::from)
            .and_then(|c| {
                let b = Runtime::builder().config(c);
                match user_id {
                    Some(id) => b.user_id(id),
                    None => b,
                }
                .build()
            });
        let rt = built.map_err(|e| {
            set_error(e.to_string());
            EI_ERR_ARG
        })?;
        let gate = Arc::new(HostMutex::new(()));
        Ok(EiRuntime {
            producer: rt.producer(),
            inner: Arc::new(HostMutex::new(Inner {
                events: rt.events(),
                gate: Arc::clone(&gate),
                rt,
                pending: None,
                worker_mode: false,
            })),
            gate,
            worker: Mutex::new(None),
        })
    }

    fn push_json(&self, json: &str) -> Result<(), c_int> {
        let pushed = self.producer.parse_json(json).and_then(|e| match e {
            Some(e) => {
                let _sent = self.gate.lock();
                self.producer.push(e)
            }
            None => Ok(()),
        });
        pushed.map_err(|e| match e {
            PushError::Invalid(e) => {
                set_error(e.to_string());
                EI_ERR_EVENT
            }
            PushError::Full(_) => {
                set_error(
                    "ingest channel is full; event dropped (poll more often or raise ingest.channel_capacity)",
                );
                EI_ERR_FULL
            }
            e => {
                set_error(e.to_string());
                EI_ERR_CLOSED
            }
        })
    }

    /// The oldest decision not yet taken (after processing pushed events),
    /// handed to `take`, which keeps it pending by returning it.
    fn poll_with<R>(
        &self,
        take: impl FnOnce(CString) -> (R, Option<CString>),
    ) -> Result<Option<R>, c_int> {
        let mut inner = self.lock();
        if inner.worker_mode {
            set_error("the runtime is in worker mode: decisions go to its callback (ei_stop_worker first)");
            return Err(EI_ERR_STATE);
        }
        let line = match inner.pending.take() {
            Some(l) => l,
            None => {
                inner.pump_for_poll();
                match inner.rt.poll() {
                    None => return Ok(None),
                    Some(d) => to_cstring(inner.rt.decision_json(&d)),
                }
            }
        };
        let (r, keep) = take(line);
        inner.pending = keep;
        Ok(Some(r))
    }

    fn tick(&self, now_ms: i64) -> Result<(), c_int> {
        if !crate::limits::ts_in_range(now_ms) {
            set_error(format!(
                "now_ms {now_ms} is outside 0..={} (Unix ms up to 2200)",
                crate::limits::MAX_TS_MS
            ));
            return Err(EI_ERR_ARG);
        }
        let mut inner = self.lock();
        if inner.worker_mode {
            set_error("the runtime is in worker mode, which ticks by itself");
            return Err(EI_ERR_STATE);
        }
        inner.pump();
        inner.rt.tick(now_ms).map_err(|e| {
            set_error(e.to_string());
            EI_ERR_ARG
        })
    }

    fn next_wakeup_ms(&self) -> Option<i64> {
        self.lock().rt.next_wakeup_ms()
    }

    /// Applies an update after the events pushed before it (in worker mode,
    /// between two of the worker's events). 1 in force, 0 kept for another arm.
    fn update(&self, kind: crate::update::UpdateKind, bytes: &[u8]) -> Result<c_int, c_int> {
        use crate::update::{UpdateError, UpdateKind};
        let mut inner = self.lock();
        if !inner.worker_mode {
            inner.pump();
        }
        let result = match kind {
            UpdateKind::Config => inner.rt.update_config(bytes),
            UpdateKind::Model => inner.rt.update_model(bytes),
        };
        match result {
            Ok(crate::UpdateOutcome::NotInArm { .. }) => Ok(0),
            Ok(_) => Ok(1),
            Err(e) => {
                set_error(e.to_string());
                Err(match e {
                    UpdateError::NotConfigured => EI_ERR_STATE,
                    _ => EI_ERR_UPDATE,
                })
            }
        }
    }

    fn set_coverage(&self, lat: f64, lon: f64, radius_m: f64) -> Result<(), c_int> {
        self.lock()
            .rt
            .set_coverage(lat, lon, radius_m)
            .map_err(|e| {
                set_error(e.to_string());
                match e {
                    crate::Error::Misuse(_) => EI_ERR_STATE,
                    _ => EI_ERR_ARG,
                }
            })
    }

    /// Saves after processing pushed events (in worker mode, what the worker
    /// has processed: only it processes events, so their decisions reach its
    /// callback).
    fn save(&self, path: &str) -> Result<(), c_int> {
        let mut inner = self.lock();
        if !inner.worker_mode {
            inner.pump();
        }
        inner.rt.save_snapshot(path).map_err(snapshot_error)
    }

    fn load(&self, path: &str) -> Result<(), c_int> {
        self.lock().rt.load_snapshot(path).map_err(snapshot_error)
    }

    fn stats_json(&self) -> CString {
        let stats = self.lock().rt.stats();
        to_cstring(serde_json::to_string(&stats).unwrap_or_default())
    }
}

fn snapshot_error(e: crate::snapshot::SnapshotError) -> c_int {
    set_error(e.to_string());
    EI_ERR_SNAPSHOT
}

/// 0 for `Ok`, the code for `Err`.
fn code(r: Result<(), c_int>) -> c_int {
    r.err().unwrap_or(0)
}

/// Moves every decision waiting (one kept for a small buffer first) into `out`.
fn take_decisions(inner: &mut Inner, out: &mut Vec<CString>) {
    out.extend(inner.pending.take());
    while let Some(d) = inner.rt.poll() {
        out.push(to_cstring(inner.rt.decision_json(&d)));
    }
}

/// The worker mode's thread: processes events as they come and ticks as time
/// passes under the lock, then calls the host's callback outside it (so the
/// callback may call back into the runtime).
fn worker_loop(
    inner: Arc<HostMutex<Inner>>,
    stop: crossbeam_channel::Receiver<()>,
    cb: EiDecisionCb,
    user: UserPtr,
) {
    ON_WORKER.set(true);
    let mut clock = WorkerClock::default();
    let mut out = Vec::new();
    let deliver = |out: &mut Vec<CString>| {
        for line in out.drain(..) {
            // SAFETY: the host's callback, called as the header documents.
            unsafe { cb(user.0, line.as_ptr()) };
        }
    };
    let (events, mut wait) = {
        let mut g = inner.lock();
        clock.observe(&g.rt);
        take_decisions(&mut g, &mut out);
        (g.events.clone(), clock.wait(&g.rt))
    };
    deliver(&mut out);
    loop {
        let done = crossbeam_channel::select! {
            recv(events) -> msg => match msg {
                Ok(e) => {
                    let mut g = inner.lock();
                    g.process(e);
                    clock.observe(&g.rt);
                    take_decisions(&mut g, &mut out);
                    wait = clock.wait(&g.rt);
                    false
                }
                Err(_) => true,
            },
            recv(stop) -> _ => true,
            default(wait) => {
                let mut g = inner.lock();
                clock.tick(&mut g.rt);
                take_decisions(&mut g, &mut out);
                wait = clock.wait(&g.rt);
                false
            }
        };
        deliver(&mut out);
        if done {
            break;
        }
    }
    // What is still in the channel, in batches, so that every refresh keeps its context.
    let mut g = inner.lock();
    loop {
        g.pump_for_poll();
        take_decisions(&mut g, &mut out);
        if g.events.is_empty() {
            break;
        }
    }
    drop(g);
    deliver(&mut out);
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
    kind: crate::update::UpdateKind,
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
    update_call(rt, bytes, len, crate::update::UpdateKind::Config)
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
    update_call(rt, bytes, len, crate::update::UpdateKind::Model)
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

/// Frees a runtime (NULL is ignored), stopping its worker first. The handle
/// must not be used afterwards, and no other thread may be using it. Called
/// from inside the decision callback it frees nothing and sets the error.
///
/// # Safety
/// `rt` is NULL or a live handle from `ei_runtime_new`, freed once.
#[no_mangle]
pub unsafe extern "C" fn ei_runtime_free(rt: *mut EiRuntime) {
    guard((), || {
        if rt.is_null() {
            return;
        }
        // SAFETY: a live handle per the contract.
        if unsafe { &*rt }.stop_worker() == Err(EI_ERR_STATE) {
            return;
        }
        // SAFETY: created by Box::into_raw in ei_runtime_new, freed once.
        drop(unsafe { Box::from_raw(rt) });
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
    cb: Option<EiDecisionCb>,
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
        if ON_WORKER.get() {
            set_error("the worker is already running (this is its decision callback)");
            return EI_ERR_STATE;
        }
        let (_held, mut slot) = h.worker();
        if slot.is_some() {
            set_error("the worker is already running");
            return EI_ERR_STATE;
        }
        h.lock().worker_mode = true;
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
        let inner = Arc::clone(&h.inner);
        let user = UserPtr(user);
        match std::thread::Builder::new()
            .name("edgeintent".into())
            .spawn(move || worker_loop(inner, stop_rx, cb, user))
        {
            Ok(handle) => {
                *slot = Some(FfiWorker {
                    stop: stop_tx,
                    handle,
                });
                0
            }
            Err(e) => {
                h.lock().worker_mode = false;
                set_error(format!("cannot start the worker thread: {e}"));
                EI_ERR_INTERNAL
            }
        }
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
    cb: Option<EiLogCb>,
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
        *C_LOGGER.sink.write().unwrap_or_else(|e| e.into_inner()) =
            cb.map(|cb| (cb, UserPtr(user)));
        log::set_max_level(if cb.is_some() {
            filter
        } else {
            log::LevelFilter::Off
        });
        0
    })
}

/// Forwards `log` records from this crate to the host's callback.
struct CLogger {
    sink: RwLock<Option<(EiLogCb, UserPtr)>>,
    installed: OnceLock<bool>,
}

static C_LOGGER: CLogger = CLogger {
    sink: RwLock::new(None),
    installed: OnceLock::new(),
};

impl CLogger {
    /// Hands one record to the host's callback (called with none of the
    /// library's locks held).
    fn deliver(&self, level: c_int, msg: &CStr) {
        let sink = *self.sink.read().unwrap_or_else(|e| e.into_inner());
        if let Some((cb, user)) = sink {
            // SAFETY: the host's callback, called as the header documents.
            unsafe { cb(user.0, level, msg.as_ptr()) };
        }
    }

    /// Makes this the process's logger once; false if another one is.
    fn install(&'static self) -> bool {
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
