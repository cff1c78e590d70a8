//! The JSON Lines reader of the trace contract: one line in, one validated
//! [`Event`] (or a counted unknown type, or an error naming the line) out.

use std::io::BufRead;

use super::types::{Event, EventError, EventKind, EventType};

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

/// The longest line [`TraceReader`] reads by default (1 MiB): an event is a
/// few hundred bytes, and a longer line is kept out of memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Reads a JSON Lines trace one event at a time, numbering lines from 1.
/// Blank lines are ignored, and so is a UTF-8 byte-order mark at the start
/// (some Windows editors write one). A line that is not UTF-8, or longer
/// than the limit, is an error naming it, after which reading goes on.
pub struct TraceReader<R> {
    input: R,
    line: usize,
    buf: Vec<u8>,
    max_line: usize,
}

impl<R: BufRead> TraceReader<R> {
    /// Wraps a buffered reader.
    pub fn new(input: R) -> Self {
        TraceReader {
            input,
            line: 0,
            buf: Vec::new(),
            max_line: MAX_LINE_BYTES,
        }
    }

    /// The same reader with another line-length limit (bytes).
    pub fn with_max_line(mut self, bytes: usize) -> Self {
        self.max_line = bytes.max(1);
        self
    }

    /// Reads one line (its newline excluded) into `buf`, keeping at most
    /// `max_line + 1` bytes of it; `Ok(false)` at the end of the input.
    fn read_bounded(&mut self) -> std::io::Result<bool> {
        self.buf.clear();
        let mut any = false;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(any);
            }
            any = true;
            let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (&chunk[..i], Some(i + 1)),
                None => (chunk, None),
            };
            let room = (self.max_line + 1).saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&part[..part.len().min(room)]);
            let used = done.unwrap_or(chunk.len());
            self.input.consume(used);
            if done.is_some() {
                return Ok(true);
            }
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
            match self.read_bounded() {
                Ok(false) => return None,
                Ok(true) => {}
                Err(e) => return Some(Err(TraceError::Io(e))),
            }
            self.line += 1;
            let line = self.line;
            let bad = |source| Some(Err(TraceError::Line { line, source }));
            if self.buf.len() > self.max_line {
                return bad(EventError::TooLong { max: self.max_line });
            }
            let text = match std::str::from_utf8(&self.buf) {
                Ok(t) => t,
                Err(e) => return bad(EventError::Utf8(e.to_string())),
            };
            let mut text = text.trim();
            if self.line == 1 {
                text = text.trim_start_matches('\u{feff}').trim_start();
            }
            if text.is_empty() {
                continue;
            }
            return Some(
                parse_line(text)
                    .map(|p| (line, p))
                    .map_err(|source| TraceError::Line { line, source }),
            );
        }
    }
}
