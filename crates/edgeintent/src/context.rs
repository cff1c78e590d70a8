//! The context a `refresh` decision carries for the cloud ranker: what the
//! device just saw the user do. Recorded per event into fixed inline buffers
//! (no allocation), copied into a preallocated log when a refresh is decided,
//! and written as bounded JSON (at most [`MAX_CONTEXT_BYTES`]) only when the
//! host asks for the decision's JSON.

use serde::{Deserialize, Serialize};

use crate::decision::Reason;
use crate::event::{EventKind, FeedbackKind};

/// Version of the context schema (the `v` field).
pub const CONTEXT_VERSION: u32 = 1;

/// The most bytes a context's JSON takes.
pub const MAX_CONTEXT_BYTES: usize = 512;

/// Ids and names longer than this are cut (at a character boundary).
pub const CONTEXT_ID_BYTES: usize = 40;

/// The most entries any context list holds.
pub const MAX_CONTEXT_ITEMS: usize = 4;

/// Refresh contexts kept for decisions not yet written.
const LOG_CAPACITY: usize = 64;

/// Which parts of the context a refresh carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextPart {
    /// `score`: the model's score, when it was consulted.
    Score,
    /// `session_s` and `home_views`: session age and home views this session.
    Session,
    /// `since_refresh_s`: seconds since the previous page refresh.
    Refresh,
    /// `page`: the last page viewed.
    Page,
    /// `searches`: searches this session.
    Searches,
    /// `clicks`: recent clicks, newest first (`slot`, `item`, `age_s`).
    Clicks,
    /// `dislikes`: recently disliked or reported items, newest first.
    Dislikes,
    /// `exposed`: the last exposure's slot and items.
    Exposures,
}

impl ContextPart {
    /// Every part, in the order they are written.
    pub const ALL: [ContextPart; 8] = [
        ContextPart::Score,
        ContextPart::Session,
        ContextPart::Refresh,
        ContextPart::Page,
        ContextPart::Searches,
        ContextPart::Clicks,
        ContextPart::Dislikes,
        ContextPart::Exposures,
    ];
}

/// The `context` section of the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextConfig {
    /// Whether refresh decisions carry a context (default false: the decision
    /// lines stay as they were).
    #[serde(default)]
    pub enabled: bool,
    /// The parts sent (default: all).
    #[serde(default = "all_parts")]
    pub parts: Vec<ContextPart>,
    /// Entries per list, 1 to [`MAX_CONTEXT_ITEMS`] (default 3).
    #[serde(default = "default_items")]
    pub max_items: usize,
    /// Clicks and dislikes older than this are not sent (default 1800 s).
    #[serde(default = "default_age")]
    pub max_age_s: f64,
}

fn all_parts() -> Vec<ContextPart> {
    ContextPart::ALL.to_vec()
}
fn default_items() -> usize {
    3
}
fn default_age() -> f64 {
    1800.0
}

impl Default for ContextConfig {
    fn default() -> Self {
        ContextConfig {
            enabled: false,
            parts: all_parts(),
            max_items: default_items(),
            max_age_s: default_age(),
        }
    }
}

impl ContextConfig {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(1..=MAX_CONTEXT_ITEMS).contains(&self.max_items) {
            return Err((
                "context.max_items",
                format!("must be in 1..={MAX_CONTEXT_ITEMS}"),
            ));
        }
        if !(self.max_age_s.is_finite()
            && self.max_age_s > 0.0
            && self.max_age_s <= crate::limits::MAX_DURATION_S)
        {
            return Err((
                "context.max_age_s",
                format!("must be in (0, {}]", crate::limits::MAX_DURATION_S),
            ));
        }
        Ok(())
    }

    fn has(&self, p: ContextPart) -> bool {
        self.parts.contains(&p)
    }
}

/// A short string held inline: no allocation to set or copy. Saved in
/// snapshots as a plain string.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
struct InlineStr {
    len: u8,
    bytes: [u8; CONTEXT_ID_BYTES],
}

impl Default for InlineStr {
    fn default() -> Self {
        InlineStr {
            len: 0,
            bytes: [0; CONTEXT_ID_BYTES],
        }
    }
}

impl From<String> for InlineStr {
    fn from(s: String) -> Self {
        let mut out = InlineStr::default();
        out.set(&s);
        out
    }
}

impl From<InlineStr> for String {
    fn from(s: InlineStr) -> Self {
        s.as_str().to_owned()
    }
}

impl InlineStr {
    fn set(&mut self, s: &str) {
        let mut n = s.len().min(CONTEXT_ID_BYTES);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
        self.len = n as u8;
    }

    fn as_str(&self) -> &str {
        // Only ever set from a &str cut at a char boundary.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

#[derive(Clone, Copy, Default, Serialize, Deserialize)]
struct Entry {
    ts_ms: i64,
    slot: InlineStr,
    item: InlineStr,
}

/// The newest [`MAX_CONTEXT_ITEMS`] entries.
#[derive(Clone, Copy, Default, Serialize, Deserialize)]
struct Recent {
    items: [Entry; MAX_CONTEXT_ITEMS],
    next: usize,
    len: usize,
}

impl Recent {
    fn push(&mut self, ts_ms: i64, slot: &str, item: &str) {
        let e = &mut self.items[self.next];
        e.ts_ms = ts_ms;
        e.slot.set(slot);
        e.item.set(item);
        self.next = (self.next + 1) % MAX_CONTEXT_ITEMS;
        self.len = (self.len + 1).min(MAX_CONTEXT_ITEMS);
    }

    fn newest_first(&self) -> impl Iterator<Item = &Entry> {
        (1..=self.len)
            .map(move |k| &self.items[(self.next + MAX_CONTEXT_ITEMS - k) % MAX_CONTEXT_ITEMS])
    }
}

/// What the user just did, kept per event (and in snapshots, so a
/// restart sends the same context).
#[derive(Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct Activity {
    session_start_ms: Option<i64>,
    home_views: u32,
    searches: u32,
    last_refresh_ms: Option<i64>,
    page: InlineStr,
    clicks: Recent,
    dislikes: Recent,
    exposed_slot: InlineStr,
    exposed: [InlineStr; MAX_CONTEXT_ITEMS],
    exposed_len: usize,
}

impl Activity {
    /// Folds one event in (copies at most a few short strings).
    pub(crate) fn on_event(&mut self, now_ms: i64, kind: &EventKind) {
        match kind {
            EventKind::AppForeground => {
                self.session_start_ms = Some(now_ms);
                self.home_views = 0;
                self.searches = 0;
            }
            EventKind::PageView { page } => {
                self.page.set(page);
                if page == "home" {
                    self.home_views = self.home_views.saturating_add(1);
                }
            }
            EventKind::Search { .. } => self.searches = self.searches.saturating_add(1),
            EventKind::Click { slot, item } => self.clicks.push(now_ms, slot, item),
            EventKind::Feedback { item, kind } if *kind != FeedbackKind::Like => {
                self.dislikes.push(now_ms, "", item)
            }
            EventKind::Exposure { slot, items } => {
                self.exposed_slot.set(slot);
                // The last items of the exposure: the ones the user reached.
                let tail = &items[items.len().saturating_sub(MAX_CONTEXT_ITEMS)..];
                for (dst, src) in self.exposed.iter_mut().zip(tail) {
                    dst.set(src);
                }
                self.exposed_len = tail.len();
            }
            _ => {}
        }
    }

    /// Whether a saved activity is possible: ring positions in range and
    /// times a runtime could have recorded.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        let ring_ok = |r: &Recent| r.next < MAX_CONTEXT_ITEMS && r.len <= MAX_CONTEXT_ITEMS;
        if !ring_ok(&self.clicks)
            || !ring_ok(&self.dislikes)
            || self.exposed_len > MAX_CONTEXT_ITEMS
        {
            return Err("context ring positions");
        }
        let times = [self.session_start_ms, self.last_refresh_ms]
            .into_iter()
            .flatten()
            .chain(
                self.clicks
                    .items
                    .iter()
                    .chain(&self.dislikes.items)
                    .map(|e| e.ts_ms),
            );
        if times
            .into_iter()
            .any(|t| t != 0 && !crate::limits::ts_in_range(t))
        {
            return Err("context times");
        }
        Ok(())
    }

    /// A page refresh happened at `now_ms` (after its context was taken).
    pub(crate) fn note_refresh(&mut self, now_ms: i64) {
        self.last_refresh_ms = Some(now_ms);
    }
}

/// One refresh's context, as taken when it was decided.
#[derive(Clone, Copy)]
pub(crate) struct ContextRecord {
    ts_ms: i64,
    reason: Reason,
    score: Option<f32>,
    activity: Activity,
}

/// Contexts of recent refresh decisions, preallocated, by sequence number.
pub(crate) struct ContextLog {
    records: Box<[ContextRecord]>,
    next_seq: u32,
}

impl ContextLog {
    pub(crate) fn new() -> ContextLog {
        let empty = ContextRecord {
            ts_ms: 0,
            reason: Reason::Model,
            score: None,
            activity: Activity::default(),
        };
        ContextLog {
            records: vec![empty; LOG_CAPACITY].into_boxed_slice(),
            next_seq: 0,
        }
    }

    /// Records the context of a refresh decided now; returns its number.
    pub(crate) fn record(
        &mut self,
        ts_ms: i64,
        reason: Reason,
        score: Option<f32>,
        activity: &Activity,
    ) -> u32 {
        let seq = self.next_seq;
        let r = &mut self.records[seq as usize % LOG_CAPACITY];
        r.ts_ms = ts_ms;
        r.reason = reason;
        r.score = score;
        r.activity = *activity;
        self.next_seq = seq.wrapping_add(1);
        seq
    }

    /// The context numbered `seq`, unless it has been overwritten.
    pub(crate) fn get(&self, seq: u32) -> Option<&ContextRecord> {
        let age = self.next_seq.wrapping_sub(seq);
        (age >= 1 && age as usize <= LOG_CAPACITY)
            .then(|| &self.records[seq as usize % LOG_CAPACITY])
    }
}

/// Appends `"key":value` to `out` if the object still fits in `MAX_CONTEXT_BYTES`
/// (one byte kept for the closing brace).
fn put(out: &mut String, start: usize, fragment: &str) -> bool {
    if out.len() - start + 1 + fragment.len() < MAX_CONTEXT_BYTES {
        out.push(',');
        out.push_str(fragment);
        true
    } else {
        false
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl ContextRecord {
    /// Appends the context object to `out`: the configured parts in a fixed
    /// order, each list cut to what still fits, so the object never exceeds
    /// [`MAX_CONTEXT_BYTES`].
    pub(crate) fn write_json(&self, cfg: &ContextConfig, out: &mut String) {
        let start = out.len();
        let a = &self.activity;
        out.push_str(&format!(
            "{{\"v\":{CONTEXT_VERSION},\"by\":{}",
            quoted(self.reason.as_str())
        ));
        let secs = |from: i64| ((self.ts_ms - from).max(0) as f64 / 1000.0).round() as i64;
        if cfg.has(ContextPart::Score) {
            if let Some(s) = self.score.filter(|s| s.is_finite()) {
                put(
                    out,
                    start,
                    &format!("\"score\":{}", (s * 1e4).round() / 1e4),
                );
            }
        }
        if cfg.has(ContextPart::Session) {
            if let Some(s) = a.session_start_ms {
                put(out, start, &format!("\"session_s\":{}", secs(s)));
            }
            put(out, start, &format!("\"home_views\":{}", a.home_views));
        }
        if cfg.has(ContextPart::Refresh) {
            if let Some(r) = a.last_refresh_ms {
                put(out, start, &format!("\"since_refresh_s\":{}", secs(r)));
            }
        }
        if cfg.has(ContextPart::Page) && a.page.len > 0 {
            put(out, start, &format!("\"page\":{}", quoted(a.page.as_str())));
        }
        if cfg.has(ContextPart::Searches) {
            put(out, start, &format!("\"searches\":{}", a.searches));
        }
        let max_age_ms = (cfg.max_age_s * 1000.0) as i64;
        let now = self.ts_ms;
        fn recent(r: &Recent, now: i64, max_age_ms: i64, n: usize) -> impl Iterator<Item = &Entry> {
            r.newest_first()
                .filter(move |e| now - e.ts_ms <= max_age_ms)
                .take(n)
        }
        let list = |out: &mut String, key: &str, items: Vec<String>| {
            if items.is_empty() {
                return;
            }
            // As many entries as fit, newest first.
            for n in (1..=items.len()).rev() {
                if put(out, start, &format!("\"{key}\":[{}]", items[..n].join(","))) {
                    return;
                }
            }
        };
        if cfg.has(ContextPart::Clicks) {
            let items = recent(&a.clicks, now, max_age_ms, cfg.max_items)
                .map(|e| {
                    format!(
                        "{{\"slot\":{},\"item\":{},\"age_s\":{}}}",
                        quoted(e.slot.as_str()),
                        quoted(e.item.as_str()),
                        secs(e.ts_ms)
                    )
                })
                .collect();
            list(out, "clicks", items);
        }
        if cfg.has(ContextPart::Dislikes) {
            let items = recent(&a.dislikes, now, max_age_ms, cfg.max_items)
                .map(|e| {
                    format!(
                        "{{\"item\":{},\"age_s\":{}}}",
                        quoted(e.item.as_str()),
                        secs(e.ts_ms)
                    )
                })
                .collect();
            list(out, "dislikes", items);
        }
        if cfg.has(ContextPart::Exposures) && a.exposed_len > 0 {
            let n = a.exposed_len.min(cfg.max_items);
            let items: Vec<String> = a.exposed[a.exposed_len - n..a.exposed_len]
                .iter()
                .rev()
                .map(|s| quoted(s.as_str()))
                .collect();
            let slot = quoted(a.exposed_slot.as_str());
            for k in (1..=n).rev() {
                let frag = format!(
                    "\"exposed\":{{\"slot\":{slot},\"items\":[{}]}}",
                    items[..k].join(",")
                );
                if put(out, start, &frag) {
                    break;
                }
            }
        }
        out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json_of(rec: &ContextRecord, cfg: &ContextConfig) -> String {
        let mut s = String::new();
        rec.write_json(cfg, &mut s);
        s
    }

    #[test]
    fn a_context_says_what_the_user_just_did() {
        let mut a = Activity::default();
        a.on_event(0, &EventKind::AppForeground);
        a.on_event(
            1_000,
            &EventKind::PageView {
                page: "home".into(),
            },
        );
        a.on_event(
            2_000,
            &EventKind::Click {
                slot: "feed".into(),
                item: "i1".into(),
            },
        );
        a.on_event(
            3_000,
            &EventKind::Exposure {
                slot: "feed".into(),
                items: vec!["a".into(), "b".into()],
            },
        );
        a.on_event(3_500, &EventKind::Search { query_len: None });
        let mut log = ContextLog::new();
        let seq = log.record(10_000, Reason::Model, Some(0.8123456), &a);
        let json = json_of(log.get(seq).unwrap(), &ContextConfig::default());
        assert_eq!(
            json,
            r#"{"v":1,"by":"model","score":0.8123,"session_s":10,"home_views":1,"page":"home","searches":1,"clicks":[{"slot":"feed","item":"i1","age_s":8}],"exposed":{"slot":"feed","items":["b","a"]}}"#
        );
        let only = ContextConfig {
            parts: vec![ContextPart::Score],
            ..ContextConfig::default()
        };
        assert_eq!(
            json_of(log.get(seq).unwrap(), &only),
            r#"{"v":1,"by":"model","score":0.8123}"#
        );
    }

    #[test]
    fn the_log_forgets_overwritten_contexts() {
        let mut log = ContextLog::new();
        let a = Activity::default();
        let first = log.record(0, Reason::Model, None, &a);
        assert!(log.get(first).is_some());
        assert!(log.get(first + 1).is_none(), "not yet recorded");
        for _ in 0..LOG_CAPACITY {
            log.record(0, Reason::Model, None, &a);
        }
        assert!(log.get(first).is_none());
    }

    proptest! {
        #[test]
        fn every_context_fits_the_bound_and_parses(
            ids in proptest::collection::vec("\\PC{0,60}|[\\x00-\\x1f\"\\\\]{0,60}", 1..40),
            score in proptest::option::of(0.0f32..1.0),
        ) {
            let mut a = Activity::default();
            a.on_event(0, &EventKind::AppForeground);
            for (i, id) in ids.iter().enumerate() {
                let t = i as i64 * 100;
                a.on_event(t, &EventKind::PageView { page: id.clone() });
                a.on_event(t, &EventKind::Click { slot: id.clone(), item: id.clone() });
                a.on_event(t, &EventKind::Feedback { item: id.clone(), kind: FeedbackKind::Dislike });
                a.on_event(t, &EventKind::Exposure { slot: id.clone(), items: ids.clone() });
            }
            let mut log = ContextLog::new();
            let seq = log.record(5_000, Reason::Trigger(crate::event::EventType::PullToRefresh), score, &a);
            let cfg = ContextConfig { max_items: MAX_CONTEXT_ITEMS, ..ContextConfig::default() };
            let json = json_of(log.get(seq).unwrap(), &cfg);
            prop_assert!(json.len() <= MAX_CONTEXT_BYTES, "{} bytes: {json}", json.len());
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(v["v"].as_u64(), Some(u64::from(CONTEXT_VERSION)));
        }
    }
}
