//! The JSON Lines reader of the trace contract: one line in, one validated
//! [`Event`] (or a counted unknown type, or an error naming the line) out.

use std::io::BufRead;

use super::{Event, EventError, EventKind, EventType};

/// One parsed line of a trace.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A known, valid event.
    Event(Event),
    /// A well-formed line whose `type` this version does not know (skipped).
    Unknown {
        /// The line's timestamp.
        ts_ms: i64,
        /// The unknown type name.
        type_name: String,
    },
}

/// Parses one JSON line of the trace contract and validates it.
pub fn parse_line(line: &str) -> Result<Parsed, EventError> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| EventError::Json(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| EventError::Json("expected an object".into()))?;
    let ts = obj.get("ts_ms").ok_or(EventError::MissingField("ts_ms"))?;
    let ts_ms = ts
        .as_i64()
        .ok_or_else(|| EventError::BadField(format!("`ts_ms` must be an integer, got {ts}")))?;
    let ty = obj.get("type").ok_or(EventError::MissingField("type"))?;
    let type_name = ty
        .as_str()
        .ok_or_else(|| EventError::BadField(format!("`type` must be a string, got {ty}")))?
        .to_owned();
    if EventType::from_name(&type_name).is_none() {
        return Ok(Parsed::Unknown { ts_ms, type_name });
    }
    let kind: EventKind = serde_json::from_value(value)
        .map_err(|e| EventError::BadField(format!("{type_name}: {e}")))?;
    let event = Event { ts_ms, kind };
    event.validate()?;
    Ok(Parsed::Event(event))
}

/// A bad line in a trace: where it is and what is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// Reading the trace failed.
    #[error("reading trace: {0}")]
    Io(#[from] std::io::Error),
    /// One line is not a valid event.
    #[error("line {line}: {source}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        source: EventError,
    },
}

/// Reads a JSON Lines trace one event at a time, numbering lines from 1.
/// Blank lines are ignored, and so is a UTF-8 byte-order mark at the start
/// (some Windows editors write one).
pub struct TraceReader<R> {
    input: R,
    line: usize,
    buf: String,
}

impl<R: BufRead> TraceReader<R> {
    /// Wraps a buffered reader.
    pub fn new(input: R) -> Self {
        TraceReader {
            input,
            line: 0,
            buf: String::new(),
        }
    }

    /// The number of the last line read (1-based; 0 before the first).
    pub fn line(&self) -> usize {
        self.line
    }
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<(usize, Parsed), TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            match self.input.read_line(&mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(TraceError::Io(e))),
            }
            self.line += 1;
            let mut text = self.buf.trim();
            if self.line == 1 {
                text = text.trim_start_matches('\u{feff}').trim_start();
            }
            if text.is_empty() {
                continue;
            }
            return Some(parse_line(text).map(|p| (self.line, p)).map_err(|source| {
                TraceError::Line {
                    line: self.line,
                    source,
                }
            }));
        }
    }
}
