//! Ingestion: cloneable [`Producer`] handles that app threads push events into,
//! over one bounded channel. `push` never blocks: when the channel is full the
//! event is dropped and counted, because a stalled UI thread costs more than a
//! lost scroll event. Nothing here processes events.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::event::{parse_line, Event, EventError, Parsed};

/// Why a push did not enqueue the event. The event is handed back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The channel is full (the runtime is behind); the event was dropped and counted.
    #[error(
        "ingest channel is full; event dropped (raise ingest.channel_capacity or pump more often)"
    )]
    Full(Box<Event>),
    /// The runtime is gone.
    #[error("runtime is closed; event not accepted")]
    Closed(Box<Event>),
    /// The JSON given to [`Producer::push_json`] is not a valid event; counted.
    #[error("invalid event: {0}")]
    Invalid(EventError),
}

/// Counters shared by every producer and the runtime.
#[derive(Debug, Default)]
pub(crate) struct IngestCounters {
    pub(crate) pushed: AtomicU64,
    pub(crate) dropped_full: AtomicU64,
    pub(crate) invalid: AtomicU64,
    pub(crate) unknown: AtomicU64,
}

/// A handle app threads use to push events; cheap to clone, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Producer {
    tx: Sender<Event>,
    counters: Arc<IngestCounters>,
}

impl Producer {
    /// Parses one event of the trace contract (a JSON object) and pushes it.
    /// An unknown `type` is counted and skipped (`Ok`); invalid JSON or
    /// impossible values are counted and returned as [`PushError::Invalid`].
    pub fn push_json(&self, json: &str) -> Result<(), PushError> {
        match self.parse_json(json)? {
            Some(e) => self.push(e),
            None => Ok(()),
        }
    }

    /// The parsing half of [`Producer::push_json`], counted the same way: the
    /// event to push, `None` for an unknown `type`, or the error.
    pub fn parse_json(&self, json: &str) -> Result<Option<Event>, PushError> {
        let parsed = if json.len() > crate::event::MAX_LINE_BYTES {
            Err(crate::event::EventError::TooLong {
                max: crate::event::MAX_LINE_BYTES,
            })
        } else {
            parse_line(json)
        };
        match parsed {
            Ok(Parsed::Event(e)) => Ok(Some(e)),
            Ok(Parsed::Unknown { .. }) => {
                self.counters.unknown.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Err(e) => {
                self.counters.invalid.fetch_add(1, Ordering::Relaxed);
                Err(PushError::Invalid(e))
            }
        }
    }

    /// Enqueues an event without blocking. On a full channel the event is dropped,
    /// counted in `Stats::events_dropped_full`, and returned inside the error.
    pub fn push(&self, event: Event) -> Result<(), PushError> {
        match self.tx.try_send(event) {
            Ok(()) => {
                self.counters.pushed.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(TrySendError::Full(e)) => {
                self.counters.dropped_full.fetch_add(1, Ordering::Relaxed);
                Err(PushError::Full(Box::new(e)))
            }
            Err(TrySendError::Disconnected(e)) => Err(PushError::Closed(Box::new(e))),
        }
    }
}

/// The receiving end owned by the runtime.
#[derive(Debug)]
pub(crate) struct Ingest {
    tx: Sender<Event>,
    rx: Receiver<Event>,
    counters: Arc<IngestCounters>,
}

impl Ingest {
    pub(crate) fn new(capacity: usize) -> Ingest {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        Ingest {
            tx,
            rx,
            counters: Arc::default(),
        }
    }

    pub(crate) fn producer(&self) -> Producer {
        Producer {
            tx: self.tx.clone(),
            counters: self.counters.clone(),
        }
    }

    pub(crate) fn receiver(&self) -> &Receiver<Event> {
        &self.rx
    }

    pub(crate) fn try_recv(&self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    pub(crate) fn pushed(&self) -> u64 {
        self.counters.pushed.load(Ordering::Relaxed)
    }

    pub(crate) fn invalid(&self) -> u64 {
        self.counters.invalid.load(Ordering::Relaxed)
    }

    pub(crate) fn unknown(&self) -> u64 {
        self.counters.unknown.load(Ordering::Relaxed)
    }

    pub(crate) fn dropped_full(&self) -> u64 {
        self.counters.dropped_full.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    fn ev(ts_ms: i64) -> Event {
        Event {
            ts_ms,
            kind: EventKind::AppForeground,
        }
    }

    #[test]
    fn full_channel_drops_and_counts_without_blocking() {
        let ingest = Ingest::new(2);
        let p = ingest.producer();
        assert!(p.push(ev(1)).is_ok());
        assert!(p.clone().push(ev(2)).is_ok());
        match p.push(ev(3)) {
            Err(PushError::Full(e)) => assert_eq!(e.ts_ms, 3),
            other => panic!("expected Full, got {other:?}"),
        }
        assert_eq!((ingest.pushed(), ingest.dropped_full()), (2, 1));
        assert_eq!(ingest.try_recv().map(|e| e.ts_ms), Some(1));
    }

    #[test]
    fn producers_on_many_threads_account_for_every_event() {
        let ingest = Ingest::new(64);
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let p = ingest.producer();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        let _ = p.push(ev(t * 1000 + i));
                    }
                })
            })
            .collect();
        let mut received = 0u64;
        for h in handles {
            while !h.is_finished() {
                while ingest.try_recv().is_some() {
                    received += 1;
                }
            }
            let _ = h.join();
        }
        while ingest.try_recv().is_some() {
            received += 1;
        }
        assert_eq!(received, ingest.pushed());
        assert_eq!(ingest.pushed() + ingest.dropped_full(), 4000);
    }
}
