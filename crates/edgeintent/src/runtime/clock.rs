//! The events' own clock: which event times the runtime trusts. An event far
//! ahead of the clock is held until the next event says whether time really
//! jumped (a long absence) or the stamp was an outlier; events behind the
//! clock beyond the skew are refused, and a run of them that agree with
//! each other re-anchors the clock to the last of them, which is processed
//! (the device clock was corrected, or an outlier had been trusted). An
//! outlier never becomes the newest time, so a snapshot never keeps one.
//! Every event is processed, refused, or held (at most one). Allocates
//! nothing.

use crate::event::{Event, EventError};

/// Consistent events behind the clock that re-anchor it.
pub(crate) const REANCHOR_RUN: usize = 3;

/// What to do with an event the clock was shown.
#[derive(Debug)]
pub(crate) enum Admit {
    /// Process it now.
    Now(Event),
    /// Held as a possible jump; nothing to process yet.
    Held,
    /// The held jump was real: process it, then this one.
    Confirmed(Event, Event),
    /// Behind the clock beyond the skew: refused.
    Behind(EventError),
    /// It completed a run of events behind the clock that agree with each
    /// other: the clock re-anchored to it; process it. `reset`: the clock
    /// moved back by more than the jump bound, so state stamped under the
    /// old clock is suspect.
    Reanchored {
        /// The event.
        event: Event,
        /// Whether the clock moved back past the jump bound.
        reset: bool,
    },
}

/// Counters of the clock's judgements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ClockCounters {
    /// Events held as possible forward jumps.
    pub(crate) held: u64,
    /// Held events the next event showed to be outliers (dropped).
    pub(crate) outliers: u64,
    /// Times the clock re-anchored to a run of events behind it.
    pub(crate) reanchors: u64,
}

/// The clock (see the module doc).
#[derive(Debug, Clone)]
pub(crate) struct EventClock {
    newest_ms: Option<i64>,
    max_skew_ms: i64,
    max_jump_ms: i64,
    held: Option<Event>,
    /// Times of the refused events in a row behind the clock that agree.
    run: [i64; REANCHOR_RUN],
    run_len: usize,
    counters: ClockCounters,
}

impl EventClock {
    pub(crate) fn new(max_skew_ms: i64, max_jump_ms: i64) -> EventClock {
        EventClock {
            newest_ms: None,
            max_skew_ms,
            max_jump_ms,
            held: None,
            run: [0; REANCHOR_RUN],
            run_len: 0,
            counters: ClockCounters::default(),
        }
    }

    /// The newest trusted time.
    pub(crate) fn newest_ms(&self) -> Option<i64> {
        self.newest_ms
    }

    pub(crate) fn counters(&self) -> ClockCounters {
        self.counters
    }

    /// Whether an event is held, waiting for the next to confirm its jump.
    pub(crate) fn holds(&self) -> bool {
        self.held.is_some()
    }

    /// Installs a restored newest time; anything held or kept is dropped.
    pub(crate) fn restore(&mut self, newest_ms: Option<i64>) {
        self.newest_ms = newest_ms;
        self.held = None;
        self.run_len = 0;
    }

    /// New bounds (a live config update), keeping the time.
    pub(crate) fn set_bounds(&mut self, max_skew_ms: i64, max_jump_ms: i64) {
        self.max_skew_ms = max_skew_ms;
        self.max_jump_ms = max_jump_ms;
    }

    /// Moves the clock to an event about to be processed; its time within
    /// the skew never goes backwards. Returns the event's time on the clock.
    pub(crate) fn advance(&mut self, ts_ms: i64) -> i64 {
        let now = self.newest_ms.map_or(ts_ms, |n| n.max(ts_ms));
        self.newest_ms = Some(now);
        now
    }

    /// Judges an event with valid values (see [`Admit`]).
    pub(crate) fn admit(&mut self, e: Event) -> Admit {
        let Some(newest) = self.newest_ms else {
            return Admit::Now(e);
        };
        if let Some(held) = self.held.take() {
            if e.ts_ms >= held.ts_ms.saturating_sub(self.max_skew_ms) {
                // Time really moved on: the jump stands.
                self.run_len = 0;
                return Admit::Confirmed(held, e);
            }
            // Back near the old clock: the held stamp was an outlier.
            self.counters.outliers += 1;
            log::warn!(target: "edgeintent", "an event stamped {} ms past the clock was an outlier (the next event is back at the clock) and is dropped", held.ts_ms.saturating_sub(newest));
        }
        let behind = newest.saturating_sub(e.ts_ms);
        if behind > self.max_skew_ms {
            return self.behind(e, behind);
        }
        self.run_len = 0;
        if e.ts_ms.saturating_sub(newest) > self.max_jump_ms {
            self.counters.held += 1;
            self.held = Some(e);
            return Admit::Held;
        }
        Admit::Now(e)
    }

    fn behind(&mut self, e: Event, behind_ms: i64) -> Admit {
        // A run agrees with itself: each event within the skew behind, and
        // the jump bound ahead of, the run's latest time.
        let last = self.run[..self.run_len].iter().copied().max();
        let fits = last.is_none_or(|last| {
            e.ts_ms >= last.saturating_sub(self.max_skew_ms)
                && e.ts_ms.saturating_sub(last) <= self.max_jump_ms
        });
        if !fits {
            self.run_len = 0;
        }
        self.run[self.run_len] = e.ts_ms;
        self.run_len += 1;
        if self.run_len < REANCHOR_RUN {
            return Admit::Behind(EventError::ClockSkew {
                ts_ms: e.ts_ms,
                behind_ms,
                max_skew_ms: self.max_skew_ms,
            });
        }
        self.run_len = 0;
        log::warn!(target: "edgeintent", "the clock re-anchored {behind_ms} ms back: {REANCHOR_RUN} events in a row agreed on an earlier time");
        self.newest_ms = Some(e.ts_ms);
        self.counters.reanchors += 1;
        Admit::Reanchored {
            reset: behind_ms > self.max_jump_ms,
            event: e,
        }
    }

    /// Whether a tick at `now_ms` is believable: not before the clock (it
    /// would do nothing) and not past the jump bound (a held jump it
    /// confirms excepted). `Ok(None)`: nothing to do; `Ok(Some(held))`: the
    /// held event is confirmed by the tick and is processed first.
    pub(crate) fn tick(&mut self, now_ms: i64) -> Result<Option<Event>, EventError> {
        let Some(newest) = self.newest_ms else {
            return Ok(None);
        };
        if let Some(held) = &self.held {
            if now_ms >= held.ts_ms.saturating_sub(self.max_skew_ms) {
                return Ok(self.held.take());
            }
        }
        let ahead = now_ms.saturating_sub(newest);
        if ahead > self.max_jump_ms {
            return Err(EventError::ClockJump {
                ts_ms: now_ms,
                ahead_ms: ahead,
                max_jump_ms: self.max_jump_ms,
            });
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    fn ev(ts_ms: i64) -> Event {
        Event {
            ts_ms,
            kind: EventKind::Search { query_len: None },
        }
    }

    fn now(a: Admit) -> i64 {
        match a {
            Admit::Now(e) => e.ts_ms,
            other => panic!("{other:?}"),
        }
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn a_far_future_outlier_is_held_then_dropped_and_never_becomes_the_newest() {
        let mut c = EventClock::new(5_000, DAY);
        let t = now(c.admit(ev(1_000)));
        c.advance(t);
        assert!(matches!(c.admit(ev(100 * 365 * DAY)), Admit::Held));
        assert_eq!(c.newest_ms(), Some(1_000));
        let t = now(c.admit(ev(2_000)));
        c.advance(t);
        assert_eq!(c.newest_ms(), Some(2_000));
        assert_eq!(c.counters().outliers, 1);
    }

    #[test]
    fn a_real_jump_is_confirmed_by_the_next_event_or_a_tick() {
        let mut c = EventClock::new(5_000, DAY);
        c.advance(1_000);
        assert!(matches!(c.admit(ev(3 * DAY)), Admit::Held));
        match c.admit(ev(3 * DAY + 500)) {
            Admit::Confirmed(a, b) => assert_eq!((a.ts_ms, b.ts_ms), (3 * DAY, 3 * DAY + 500)),
            other => panic!("{other:?}"),
        }
        c.advance(3 * DAY + 500);
        assert!(matches!(c.admit(ev(9 * DAY)), Admit::Held));
        assert_eq!(
            c.tick(9 * DAY + 10).unwrap().map(|e| e.ts_ms),
            Some(9 * DAY)
        );
    }

    #[test]
    fn a_tick_far_past_the_clock_is_refused() {
        let mut c = EventClock::new(5_000, DAY);
        c.advance(1_000);
        assert!(matches!(c.tick(2 * DAY), Err(EventError::ClockJump { .. })));
        assert_eq!(c.tick(1_000 + DAY).unwrap(), None);
    }

    #[test]
    fn a_run_of_agreeing_events_behind_the_clock_re_anchors_it() {
        let mut c = EventClock::new(5_000, DAY);
        c.advance(100 * DAY); // an outlier trusted earlier (a restored snapshot)
        for t in [1_000, 2_000] {
            assert!(matches!(c.admit(ev(t)), Admit::Behind(_)));
        }
        match c.admit(ev(3_000)) {
            Admit::Reanchored { event, reset } => assert_eq!((event.ts_ms, reset), (3_000, true)),
            other => panic!("{other:?}"),
        }
        assert_eq!(c.newest_ms(), Some(3_000));
        // Stragglers that disagree with each other never re-anchor.
        let mut c = EventClock::new(5_000, DAY);
        c.advance(50 * DAY);
        for t in [1_000, 10 * DAY, 1_000, 10 * DAY] {
            assert!(matches!(c.admit(ev(t)), Admit::Behind(_)), "{t}");
        }
    }
}
