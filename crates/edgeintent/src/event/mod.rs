//! Typed behaviour events (the trace contract, `docs/contracts/trace.md`),
//! their validation (`types`), and the one JSON Lines reader that turns a
//! trace into events (`reader`). Strings exist only at this edge; the rest of
//! the crate sees [`Event`] and [`EventType`]. Nothing here reads the clock or
//! keeps state between events.

mod reader;
mod types;

pub use reader::{parse_line, Parsed, TraceError, TraceReader, MAX_LINE_BYTES};
pub use types::{Event, EventError, EventKind, EventType, FeedbackKind, RecItem};
