//! The runtime on its own thread: the only place that reads the clock to
//! drive time.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::state::Runtime;
use crate::error::{Error, Misuse};
use crate::event::Event;
use crate::ingest::Producer;

/// How long a worker with nothing due sleeps before it looks again.
const IDLE_WAIT: Duration = Duration::from_secs(3600);

/// The event clock between events: the newest time the runtime has seen plus
/// the time elapsed since. Events may be stamped by any millisecond clock
/// (Unix time, time since boot) as long as the host keeps to one, and the
/// worker's ticks stay on that clock.
#[derive(Debug, Default)]
pub struct WorkerClock {
    seen: Option<(i64, Instant)>,
}

impl WorkerClock {
    /// Notes the runtime's newest time after it processed something.
    pub fn observe(&mut self, rt: &Runtime) {
        if let Some(t) = rt.clock.newest_ms() {
            if self.seen.is_none_or(|(s, _)| s != t) {
                self.seen = Some((t, Instant::now()));
            }
        }
    }

    /// Now on the event clock (`None` before the first event).
    pub fn now_ms(&self) -> Option<i64> {
        self.seen.map(|(t, at)| {
            t.saturating_add(i64::try_from(at.elapsed().as_millis()).unwrap_or(i64::MAX))
        })
    }

    /// How long to wait for the next tick.
    pub fn wait(&self, rt: &Runtime) -> Duration {
        match (rt.next_wakeup_ms(), self.now_ms()) {
            (Some(due), Some(now)) => {
                Duration::from_millis(u64::try_from(due.saturating_sub(now)).unwrap_or(0))
                    .min(IDLE_WAIT)
            }
            _ => IDLE_WAIT,
        }
    }

    /// Runs the ticks due by now.
    pub fn tick(&mut self, rt: &mut Runtime) {
        if let Some(now) = self.now_ms() {
            // The worker's own clock never jumps: nothing to refuse.
            let _ = rt.tick(now);
            self.observe(rt);
        }
    }
}

impl Runtime {
    /// Moves the runtime onto its own thread, which processes events as they are
    /// pushed and runs ticks as time passes (see [`Runtime::next_wakeup_ms`]).
    /// Requires a decision callback, which that thread calls.
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

    /// The receiving end of the channel producers push into, for a host that
    /// runs its own event loop (the C ABI's worker mode) instead of
    /// [`Runtime::pump`] or [`Runtime::spawn_worker`].
    pub fn events(&self) -> crossbeam_channel::Receiver<Event> {
        self.ingest.receiver().clone()
    }
}

fn worker_loop(mut rt: Runtime, stop: crossbeam_channel::Receiver<()>) -> Runtime {
    let events = rt.events();
    let mut clock = WorkerClock::default();
    loop {
        crossbeam_channel::select! {
            recv(events) -> msg => match msg {
                Ok(e) => {
                    let _ = rt.process(e);
                    clock.observe(&rt);
                }
                Err(_) => break,
            },
            recv(stop) -> _ => break,
            default(clock.wait(&rt)) => clock.tick(&mut rt),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_clock_follows_the_events_clock() {
        let cfg = crate::Config::from_json(
            r#"{"features":{"version":"t","features":[{"name":"v","kind":"home_visible"}]}}"#,
            std::path::Path::new("."),
            "test",
        )
        .unwrap();
        let mut rt = Runtime::builder().config(cfg).build().unwrap();
        let mut clock = WorkerClock::default();
        assert_eq!(clock.now_ms(), None);
        assert_eq!(clock.wait(&rt), IDLE_WAIT);
        // Events stamped by time since boot, not Unix time.
        let kind = crate::EventKind::PageView {
            page: "home".into(),
        };
        rt.process(Event { ts_ms: 5_000, kind }).unwrap();
        clock.observe(&rt);
        let now = clock.now_ms().unwrap();
        assert!((5_000..5_000 + 60_000).contains(&now), "{now}");
        // The next tick is one interval after the home view, on that clock.
        let wait = clock.wait(&rt);
        assert!(
            wait <= Duration::from_secs(30) && wait > Duration::from_secs(20),
            "{wait:?}"
        );
    }
}
