//! The runtime on its own thread: the only place that reads the wall clock.

use std::thread::JoinHandle;

use super::Runtime;
use crate::error::{Error, Misuse};
use crate::ingest::Producer;

impl Runtime {
    /// Moves the runtime onto its own thread, which processes events as they are
    /// pushed and runs ticks on the wall clock. Requires a decision callback.
    pub fn spawn_worker(self) -> Result<Worker, Error> {
        if self.on_decision.is_none() {
            return Err(Misuse::WorkerWithoutCallback.into());
        }
        let producer = self.producer();
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
        let handle = std::thread::Builder::new()
            .name("edgeintent".into())
            .spawn(move || worker_loop(self, stop_rx))
            .map_err(Error::WorkerThread)?;
        Ok(Worker {
            producer,
            stop: stop_tx,
            handle,
        })
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn worker_loop(mut rt: Runtime, stop: crossbeam_channel::Receiver<()>) -> Runtime {
    let events = rt.ingest.receiver().clone();
    loop {
        // The worker is the host's driver, so it is the one place that reads the clock.
        let wait = rt
            .next_wakeup_ms()
            .map_or(std::time::Duration::from_secs(3600), |t| {
                std::time::Duration::from_millis(u64::try_from(t - wall_ms()).unwrap_or(0))
            });
        crossbeam_channel::select! {
            recv(events) -> msg => match msg {
                Ok(e) => { let _ = rt.process(e); }
                Err(_) => break,
            },
            recv(stop) -> _ => break,
            default(wait) => rt.tick(wall_ms()),
        }
    }
    rt.pump();
    rt
}

/// A runtime running on its own thread (see [`Runtime::spawn_worker`]).
#[derive(Debug)]
pub struct Worker {
    producer: Producer,
    stop: crossbeam_channel::Sender<()>,
    handle: JoinHandle<Runtime>,
}

impl Worker {
    /// A new handle for pushing events.
    pub fn producer(&self) -> Producer {
        self.producer.clone()
    }

    /// Stops the thread after it has processed every event already pushed, and
    /// returns the runtime (for its stats).
    pub fn stop(self) -> Result<Runtime, Error> {
        let _ = self.stop.send(());
        self.handle
            .join()
            .map_err(|_| Misuse::WorkerPanicked.into())
    }
}
