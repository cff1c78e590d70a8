//! Offline comparison of cross-slot de-duplication strategies on a trace.

use serde::Serialize;

use crate::error::Error;
use edgeintent::{DedupConfig, SlotArbiter, Strategy};
use edgeintent::{Event, EventKind};

/// One strategy's totals over a trace (see [`dedup_eval`]).
#[derive(Debug, Clone, Serialize)]
pub struct DedupReport {
    /// The strategy.
    pub strategy: Strategy,
    /// `recommendations` events (a snapshot is taken after each).
    pub snapshots: u64,
    /// Duplicate entity placements across live slots, summed over snapshots.
    pub duplicate_placements: u64,
    /// Duplicate placements of which the user had seen both copies (exposures and clicks).
    pub duplicate_exposures: u64,
    /// Value shown (each entity once, at its best placement), summed over snapshots.
    pub retained_value: f64,
    /// Items shown / item capacity, over all snapshots.
    pub fill_rate: f64,
}

/// Replays the `recommendations`, `exposure` and `click` events of a trace
/// through a [`SlotArbiter`] once per strategy and totals what the slots show
/// after each `recommendations` event.
/// A trace without `recommendations` events is an error: there is nothing to compare.
pub fn dedup_eval(config: &DedupConfig, events: &[Event]) -> Result<Vec<DedupReport>, Error> {
    let recommends = |e: &&Event| matches!(e.kind, EventKind::Recommendations { .. });
    if !events.iter().any(|e| recommends(&e)) {
        return Err(Error::NothingTo {
            input: "the trace".into(),
            missing: "`recommendations` events",
            task: "de-duplicate",
        });
    }
    Ok([
        Strategy::None,
        Strategy::FirstComeFirstServed,
        Strategy::ValueAware,
    ]
    .into_iter()
    .map(|strategy| {
        let mut arbiter = SlotArbiter::new(DedupConfig {
            strategy,
            ..config.clone()
        });
        let mut r = DedupReport {
            strategy,
            snapshots: 0,
            duplicate_placements: 0,
            duplicate_exposures: 0,
            retained_value: 0.0,
            fill_rate: 0.0,
        };
        let (mut shown, mut capacity) = (0u64, 0u64);
        for e in events {
            match &e.kind {
                EventKind::Recommendations { slot, items } => {
                    arbiter.recommendations(e.ts_ms, slot, items.clone());
                    let snap = arbiter.snapshot(e.ts_ms);
                    r.snapshots += 1;
                    r.duplicate_placements += snap.duplicates;
                    r.retained_value += snap.value;
                    shown += snap.shown;
                    capacity += snap.capacity;
                }
                EventKind::Exposure { slot, items } => {
                    arbiter.exposed(slot, items);
                    r.duplicate_exposures += arbiter.exposed_duplicates(e.ts_ms, slot);
                }
                EventKind::Click { slot, item } => {
                    arbiter.exposed(slot, std::slice::from_ref(item))
                }
                _ => {}
            }
        }
        r.fill_rate = if capacity == 0 {
            0.0
        } else {
            shown as f64 / capacity as f64
        };
        r
    })
    .collect())
}
