//! The runtime behind a C handle: the operations the C functions (and the
//! Java binding) call, worker mode's thread and its start/stop state.

use std::ffi::{c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use edgeintent::{Config, Event, Producer, PushError, Runtime, WorkerClock};

use crate::boundary::{panic_message, set_error, to_cstring};
use crate::codes::*;
use crate::locks::{HostGuard, HostMutex};
use crate::logger::Held;

thread_local! {
    /// Set on a worker-mode thread, whose callback must not wait for itself.
    pub(crate) static ON_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
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
pub(crate) const POLL_BATCH: usize = 32;

pub(crate) struct Inner {
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

pub(crate) struct FfiWorker {
    stop: crossbeam_channel::Sender<()>,
    handle: JoinHandle<()>,
}

impl Inner {
    /// Processes one event taken from the channel, after passing the gate
    /// its producer held while sending it.
    pub(crate) fn process(&mut self, e: Event) {
        drop(self.gate.lock());
        // A panic inside one event (a bug) costs that event, not the worker
        // or every later poll: the event is consumed and the next one runs.
        let rt = &mut self.rt;
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| rt.process(e))) {
            log::error!(target: "edgeintent", "internal error while processing an event (please report): {}", panic_message(&*p));
        }
    }

    /// Processes every event waiting in the channel (the C ABI's `pump`).
    pub(crate) fn pump(&mut self) {
        while let Ok(e) = self.events.try_recv() {
            self.process(e);
        }
    }

    /// Processes waiting events until [`POLL_BATCH`] decisions wait to be
    /// taken: `ei_poll_decision` takes them in batches, so a host that pushed
    /// a thousand events between two polls still gets every refresh's context
    /// (the runtime keeps the last 64); the rest wait in the channel.
    pub(crate) fn pump_for_poll(&mut self) {
        while self.rt.queued_decisions() < POLL_BATCH {
            match self.events.try_recv() {
                Ok(e) => self.process(e),
                Err(_) => break,
            }
        }
    }
}

impl EiRuntime {
    pub(crate) fn lock(&self) -> HostGuard<'_, Inner> {
        self.inner.lock()
    }

    /// The worker's slot: starting and stopping hold it from start to end,
    /// so they happen one after the other (a start during a stop waits for
    /// the stop, then starts). The worker thread and its callback never take
    /// it (both calls refuse to run there).
    pub(crate) fn worker(&self) -> (Held, MutexGuard<'_, Option<FfiWorker>>) {
        let held = Held::new();
        (held, self.worker.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Starts worker mode (see `ei_start_worker`). Refused on the worker
    /// thread (from inside the callback) and while a worker runs.
    pub(crate) fn start_worker(&self, cb: DecisionFn, user: UserPtr) -> Result<(), c_int> {
        if ON_WORKER.get() {
            set_error("the worker is already running (this is its decision callback)");
            return Err(EI_ERR_STATE);
        }
        let (_held, mut slot) = self.worker();
        if slot.is_some() {
            set_error("the worker is already running");
            return Err(EI_ERR_STATE);
        }
        self.lock().worker_mode = true;
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
        let inner = Arc::clone(&self.inner);
        match std::thread::Builder::new()
            .name("edgeintent".into())
            .spawn(move || worker_loop(inner, stop_rx, cb, user))
        {
            Ok(handle) => {
                *slot = Some(FfiWorker {
                    stop: stop_tx,
                    handle,
                });
                Ok(())
            }
            Err(e) => {
                self.lock().worker_mode = false;
                set_error(format!("cannot start the worker thread: {e}"));
                Err(EI_ERR_INTERNAL)
            }
        }
    }

    /// Stops the worker after it has processed every event already pushed and
    /// delivered their decisions. Refused on the worker thread itself (from
    /// inside the callback), which would wait for itself.
    pub(crate) fn stop_worker(&self) -> Result<bool, c_int> {
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
    pub(crate) fn create(config_json: &str, user_id: Option<&str>) -> Result<EiRuntime, c_int> {
        let built = Config::from_json(config_json, Path::new("."), "<ei_runtime_new>")
            .map_err(edgeintent::Error::from)
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

    pub(crate) fn push_json(&self, json: &str) -> Result<(), c_int> {
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
    pub(crate) fn poll_with<R>(
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

    pub(crate) fn tick(&self, now_ms: i64) -> Result<(), c_int> {
        if !edgeintent::limits::ts_in_range(now_ms) {
            set_error(format!(
                "now_ms {now_ms} is outside 0..={} (Unix ms up to 2200)",
                edgeintent::limits::MAX_TS_MS
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

    pub(crate) fn next_wakeup_ms(&self) -> Option<i64> {
        self.lock().rt.next_wakeup_ms()
    }

    /// Applies an update after the events pushed before it (in worker mode,
    /// between two of the worker's events). 1 in force, 0 kept for another arm.
    pub(crate) fn update(
        &self,
        kind: edgeintent::update::UpdateKind,
        bytes: &[u8],
    ) -> Result<c_int, c_int> {
        use edgeintent::update::{UpdateError, UpdateKind};
        let mut inner = self.lock();
        if !inner.worker_mode {
            inner.pump();
        }
        let result = match kind {
            UpdateKind::Config => inner.rt.update_config(bytes),
            UpdateKind::Model => inner.rt.update_model(bytes),
        };
        match result {
            Ok(edgeintent::UpdateOutcome::NotInArm { .. }) => Ok(0),
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

    pub(crate) fn set_coverage(&self, lat: f64, lon: f64, radius_m: f64) -> Result<(), c_int> {
        self.lock()
            .rt
            .set_coverage(lat, lon, radius_m)
            .map_err(|e| {
                set_error(e.to_string());
                match e {
                    edgeintent::Error::Misuse(_) => EI_ERR_STATE,
                    _ => EI_ERR_ARG,
                }
            })
    }

    /// Saves after processing pushed events (in worker mode, what the worker
    /// has processed: only it processes events, so their decisions reach its
    /// callback).
    pub(crate) fn save(&self, path: &str) -> Result<(), c_int> {
        let mut inner = self.lock();
        if !inner.worker_mode {
            inner.pump();
        }
        inner.rt.save_snapshot(path).map_err(snapshot_error)
    }

    pub(crate) fn load(&self, path: &str) -> Result<(), c_int> {
        self.lock().rt.load_snapshot(path).map_err(snapshot_error)
    }

    pub(crate) fn stats_json(&self) -> CString {
        let stats = self.lock().rt.stats();
        to_cstring(serde_json::to_string(&stats).unwrap_or_default())
    }
}

pub(crate) fn snapshot_error(e: edgeintent::snapshot::SnapshotError) -> c_int {
    set_error(e.to_string());
    EI_ERR_SNAPSHOT
}

/// Moves every decision waiting (one kept for a small buffer first) into `out`.
pub(crate) fn take_decisions(inner: &mut Inner, out: &mut Vec<CString>) {
    out.extend(inner.pending.take());
    while let Some(d) = inner.rt.poll() {
        out.push(to_cstring(inner.rt.decision_json(&d)));
    }
}

/// The worker mode's thread: processes events as they come and ticks as time
/// passes under the lock, then calls the host's callback outside it (so the
/// callback may call back into the runtime).
pub(crate) fn worker_loop(
    inner: Arc<HostMutex<Inner>>,
    stop: crossbeam_channel::Receiver<()>,
    cb: DecisionFn,
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

/// Frees a handle (NULL is ignored), stopping its worker first; from inside
/// the decision callback it frees nothing (the error says why).
///
/// # Safety
/// `rt` is NULL or a live handle from `ei_runtime_new`, freed once, that no
/// other thread is using.
pub(crate) unsafe fn free(rt: *mut EiRuntime) {
    if rt.is_null() {
        return;
    }
    // SAFETY: a live handle per the contract.
    if unsafe { &*rt }.stop_worker() == Err(EI_ERR_STATE) {
        return;
    }
    // SAFETY: created by Box::into_raw in ei_runtime_new, freed once.
    drop(unsafe { Box::from_raw(rt) });
}

/// The runtime behind a handle.
///
/// # Safety
/// `rt` is NULL or a live handle from `ei_runtime_new`.
pub(crate) unsafe fn handle<'a>(rt: *const EiRuntime) -> Result<&'a EiRuntime, c_int> {
    if rt.is_null() {
        set_error("runtime handle is NULL");
        return Err(EI_ERR_NULL);
    }
    // SAFETY: a live handle per the contract above; shared access only.
    Ok(unsafe { &*rt })
}
