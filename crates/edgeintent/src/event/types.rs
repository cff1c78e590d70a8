//! The event types of the trace contract and their validation.

use serde::{Deserialize, Serialize};

/// One observed client event: when it happened and what it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Milliseconds since the Unix epoch, on the device clock.
    pub ts_ms: i64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The payload of an [`Event`], one variant per `type` of the trace contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The app came to the foreground (a session starts).
    AppForeground,
    /// The app went to the background.
    AppBackground,
    /// A page was shown; `"home"` is the homepage.
    PageView {
        /// Page name.
        page: String,
    },
    /// The user scrolled a page by `dy_px` pixels.
    Scroll {
        /// Page name.
        page: String,
        /// Vertical scroll distance in pixels (signed).
        dy_px: f64,
    },
    /// Items became visible in a slot.
    Exposure {
        /// Slot name (`"feed"`, `"search"`, ...).
        slot: String,
        /// Item ids shown.
        items: Vec<String>,
    },
    /// The user clicked an item.
    Click {
        /// Slot name.
        slot: String,
        /// Item id.
        item: String,
    },
    /// The user pulled to refresh.
    PullToRefresh {
        /// Page name.
        page: String,
    },
    /// Explicit feedback on an item.
    Feedback {
        /// Item id.
        item: String,
        /// What the user said.
        kind: FeedbackKind,
    },
    /// The user searched.
    Search {
        /// Length of the query in characters, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query_len: Option<u32>,
    },
    /// A location fix.
    Location {
        /// Latitude in degrees (WGS84).
        lat: f64,
        /// Longitude in degrees (WGS84).
        lon: f64,
        /// Horizontal accuracy radius in metres.
        accuracy_m: f64,
        /// Ground speed in metres per second, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        speed_mps: Option<f64>,
    },
    /// An asynchronous "content changed" hint from the server.
    Notification {
        /// What changed.
        topic: String,
        /// How much it matters, by the server's judgement (0 routine and up,
        /// e.g. to 1 for a major change); triggers can condition on it
        /// (`when.min`, `when.max`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        importance: Option<f64>,
    },
    /// Recommendations delivered by the cloud for one slot.
    Recommendations {
        /// Slot name.
        slot: String,
        /// Candidates in server order.
        items: Vec<RecItem>,
    },
    /// An application-defined event.
    Custom {
        /// Event name.
        name: String,
        /// Optional numeric value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<f64>,
    },
}

/// What a `feedback` event says about an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    /// The user does not want this kind of content.
    Dislike,
    /// The user likes it.
    Like,
    /// The user reported it.
    Report,
}

/// One recommended item inside a `recommendations` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecItem {
    /// Item id.
    pub id: String,
    /// Entity the item is about (for de-duplication across slots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// Server score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// The type of an event, without its payload: what feature specs and sequence
/// inputs refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// `app_foreground`
    AppForeground,
    /// `app_background`
    AppBackground,
    /// `page_view`
    PageView,
    /// `scroll`
    Scroll,
    /// `exposure`
    Exposure,
    /// `click`
    Click,
    /// `pull_to_refresh`
    PullToRefresh,
    /// `feedback`
    Feedback,
    /// `search`
    Search,
    /// `location`
    Location,
    /// `notification`
    Notification,
    /// `recommendations`
    Recommendations,
    /// `custom`
    Custom,
}

impl EventType {
    /// Every event type, in the order of their sequence ids (1-based).
    pub const ALL: [EventType; 13] = [
        EventType::AppForeground,
        EventType::AppBackground,
        EventType::PageView,
        EventType::Scroll,
        EventType::Exposure,
        EventType::Click,
        EventType::PullToRefresh,
        EventType::Feedback,
        EventType::Search,
        EventType::Location,
        EventType::Notification,
        EventType::Recommendations,
        EventType::Custom,
    ];

    /// The `type` string of the trace contract.
    pub fn name(self) -> &'static str {
        match self {
            EventType::AppForeground => "app_foreground",
            EventType::AppBackground => "app_background",
            EventType::PageView => "page_view",
            EventType::Scroll => "scroll",
            EventType::Exposure => "exposure",
            EventType::Click => "click",
            EventType::PullToRefresh => "pull_to_refresh",
            EventType::Feedback => "feedback",
            EventType::Search => "search",
            EventType::Location => "location",
            EventType::Notification => "notification",
            EventType::Recommendations => "recommendations",
            EventType::Custom => "custom",
        }
    }

    /// Parses a `type` string; `None` for types this version does not know.
    pub fn from_name(name: &str) -> Option<EventType> {
        EventType::ALL.iter().copied().find(|t| t.name() == name)
    }

    /// The known type a mistyped name most likely meant (`page_veiw` →
    /// `page_view`): the closest by edit distance, if within a third of its length.
    ///
    /// ```
    /// use edgeintent::EventType;
    /// assert_eq!(EventType::closest("page_veiw"), Some(EventType::PageView));
    /// assert_eq!(EventType::closest("checkout_started"), None);
    /// ```
    pub fn closest(name: &str) -> Option<EventType> {
        let lower = name.to_ascii_lowercase();
        EventType::ALL
            .iter()
            .filter(|t| t.name() != name)
            .map(|t| (strsim::damerau_levenshtein(&lower, t.name()), *t))
            .filter(|(d, t)| *d * 3 <= t.name().len().max(3))
            .min_by_key(|(d, _)| *d)
            .map(|(_, t)| t)
    }

    /// Whether events of this type are something the user did (a page view,
    /// a scroll, a click, a pull-to-refresh, feedback, a search, an app's
    /// custom event), as opposed to the app's lifecycle, what it rendered,
    /// a sensor or the server.
    pub fn is_user_action(self) -> bool {
        matches!(
            self,
            EventType::PageView
                | EventType::Scroll
                | EventType::Click
                | EventType::PullToRefresh
                | EventType::Feedback
                | EventType::Search
                | EventType::Custom
        )
    }

    /// Dense index in `0..13`, used for per-type tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Id used in sequence inputs: `index + 1`, so that 0 can mean padding.
    pub fn sequence_id(self) -> u32 {
        self as u32 + 1
    }
}

impl EventKind {
    /// The payload-free type of this event.
    pub fn event_type(&self) -> EventType {
        match self {
            EventKind::AppForeground => EventType::AppForeground,
            EventKind::AppBackground => EventType::AppBackground,
            EventKind::PageView { .. } => EventType::PageView,
            EventKind::Scroll { .. } => EventType::Scroll,
            EventKind::Exposure { .. } => EventType::Exposure,
            EventKind::Click { .. } => EventType::Click,
            EventKind::PullToRefresh { .. } => EventType::PullToRefresh,
            EventKind::Feedback { .. } => EventType::Feedback,
            EventKind::Search { .. } => EventType::Search,
            EventKind::Location { .. } => EventType::Location,
            EventKind::Notification { .. } => EventType::Notification,
            EventKind::Recommendations { .. } => EventType::Recommendations,
            EventKind::Custom { .. } => EventType::Custom,
        }
    }

    /// The page this event is about, for the types that name one.
    pub fn page(&self) -> Option<&str> {
        match self {
            EventKind::PageView { page }
            | EventKind::Scroll { page, .. }
            | EventKind::PullToRefresh { page } => Some(page),
            _ => None,
        }
    }
}

/// What is wrong with one event.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The text is not JSON, or not a JSON object.
    #[error("not a JSON object: {0}")]
    Json(String),
    /// The line is not UTF-8 text.
    #[error("not UTF-8 text: {0}")]
    Utf8(String),
    /// The line is longer than the reader accepts.
    #[error(
        "longer than {max} bytes (the trace reader's limit); skipped without being read whole"
    )]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// A required field is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field has the wrong JSON type or shape.
    #[error("bad field: {0}")]
    BadField(String),
    /// A field holds a value that cannot happen.
    #[error("field `{field}` is {value}: {why}")]
    Impossible {
        /// The field name.
        field: &'static str,
        /// The offending value as text.
        value: String,
        /// What the value must be.
        why: &'static str,
    },
    /// The event is older than the newest accepted one by more than the allowed skew.
    #[error(
        "timestamp {ts_ms} is {behind_ms} ms older than the newest accepted event \
         (allowed skew {max_skew_ms} ms); fix the device clock or raise ingest.max_clock_skew_ms"
    )]
    ClockSkew {
        /// The event's timestamp.
        ts_ms: i64,
        /// How far behind the newest accepted timestamp it is.
        behind_ms: i64,
        /// The configured tolerance.
        max_skew_ms: i64,
    },
    /// A tick further ahead of the newest accepted event than a clock jump
    /// may be: nothing runs (events ahead that far are held until the next
    /// one confirms them).
    #[error(
        "tick at {ts_ms} is {ahead_ms} ms ahead of the newest accepted event \
         (allowed jump {max_jump_ms} ms); tick on the events' clock, or raise ingest.max_forward_jump_ms"
    )]
    ClockJump {
        /// The tick's time.
        ts_ms: i64,
        /// How far ahead of the newest accepted timestamp it is.
        ahead_ms: i64,
        /// The configured bound.
        max_jump_ms: i64,
    },
}

/// The least certain fix a location event may report (100 km).
pub const MAX_ACCURACY_M: f64 = 100_000.0;
/// The fastest a location event may report (1000 m/s).
pub const MAX_SPEED_MPS: f64 = 1_000.0;

impl Event {
    /// Checks values that JSON can carry but that cannot happen (NaN, a latitude
    /// beyond ±90°, a negative accuracy, ...). Events built in Rust are checked
    /// by the runtime too, so a host cannot feed it NaN.
    pub fn validate(&self) -> Result<(), EventError> {
        if !crate::limits::ts_in_range(self.ts_ms) {
            return Err(impossible(
                "ts_ms",
                self.ts_ms as f64,
                "must be Unix milliseconds from 0 to 7258118400000 (year 2200)",
            ));
        }
        match &self.kind {
            EventKind::Scroll { dy_px, .. } => finite("dy_px", *dy_px),
            EventKind::Location {
                lat,
                lon,
                accuracy_m,
                speed_mps,
            } => {
                finite("lat", *lat)?;
                finite("lon", *lon)?;
                finite("accuracy_m", *accuracy_m)?;
                if !(-90.0..=90.0).contains(lat) {
                    return Err(impossible("lat", *lat, "must be within [-90, 90] degrees"));
                }
                if !(-180.0..=180.0).contains(lon) {
                    return Err(impossible(
                        "lon",
                        *lon,
                        "must be within [-180, 180] degrees",
                    ));
                }
                if !(0.0..=MAX_ACCURACY_M).contains(accuracy_m) {
                    return Err(impossible(
                        "accuracy_m",
                        *accuracy_m,
                        "must be 0 to 100000 metres (a fix less certain than 100 km places nothing)",
                    ));
                }
                if let Some(v) = speed_mps {
                    finite("speed_mps", *v)?;
                    if !(0.0..=MAX_SPEED_MPS).contains(v) {
                        return Err(impossible(
                            "speed_mps",
                            *v,
                            "must be 0 to 1000 m/s (faster than any airliner)",
                        ));
                    }
                }
                Ok(())
            }
            EventKind::Recommendations { items, .. } => {
                for item in items {
                    if let Some(s) = item.score {
                        finite("score", s)?;
                    }
                }
                Ok(())
            }
            EventKind::Custom { value: Some(v), .. } => finite("value", *v),
            EventKind::Notification {
                importance: Some(v),
                ..
            } => {
                finite("importance", *v)?;
                if *v < 0.0 {
                    return Err(impossible("importance", *v, "must be >= 0"));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Serialises the event as one line of the trace contract.
    pub fn to_json(&self) -> String {
        // Serialising a plain data struct to a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn finite(field: &'static str, v: f64) -> Result<(), EventError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(impossible(field, v, "must be a finite number"))
    }
}

fn impossible(field: &'static str, v: f64, why: &'static str) -> EventError {
    EventError::Impossible {
        field,
        value: v.to_string(),
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{parse_line, Parsed, TraceError, TraceReader};

    fn ev(line: &str) -> Event {
        match parse_line(line).unwrap() {
            Parsed::Event(e) => e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[test]
    fn every_contract_type_round_trips_through_json() {
        let lines = [
            r#"{"ts_ms":1,"type":"app_foreground"}"#,
            r#"{"ts_ms":2,"type":"app_background"}"#,
            r#"{"ts_ms":3,"type":"page_view","page":"home"}"#,
            r#"{"ts_ms":4,"type":"scroll","page":"home","dy_px":-120.5}"#,
            r#"{"ts_ms":5,"type":"exposure","slot":"feed","items":["a","b"]}"#,
            r#"{"ts_ms":6,"type":"click","slot":"feed","item":"a"}"#,
            r#"{"ts_ms":7,"type":"pull_to_refresh","page":"home"}"#,
            r#"{"ts_ms":8,"type":"feedback","item":"a","kind":"dislike"}"#,
            r#"{"ts_ms":9,"type":"search","query_len":4}"#,
            r#"{"ts_ms":10,"type":"search"}"#,
            r#"{"ts_ms":11,"type":"location","lat":31.2,"lon":121.5,"accuracy_m":12.0,"speed_mps":1.5}"#,
            r#"{"ts_ms":12,"type":"notification","topic":"feed"}"#,
            r#"{"ts_ms":12,"type":"notification","topic":"feed","importance":0.9}"#,
            r#"{"ts_ms":13,"type":"recommendations","slot":"feed","items":[{"id":"x","entity":"e1","score":0.5},{"id":"y"}]}"#,
            r#"{"ts_ms":14,"type":"custom","name":"cart","value":2.0}"#,
        ];
        for line in lines {
            let e = ev(line);
            let again = ev(&e.to_json());
            assert_eq!(e, again, "{line}");
        }
        assert_eq!(EventType::ALL.len(), 13);
    }

    #[test]
    fn a_notification_importance_must_be_a_non_negative_number() {
        for bad in [-0.5, f64::NAN] {
            let e = Event {
                ts_ms: 1,
                kind: EventKind::Notification {
                    topic: "feed".into(),
                    importance: Some(bad),
                },
            };
            assert!(e.validate().unwrap_err().to_string().contains("importance"));
        }
    }

    #[test]
    fn unknown_types_are_reported_not_rejected() {
        let p = parse_line(r#"{"ts_ms":5,"type":"hologram","x":1}"#).unwrap();
        assert_eq!(
            p,
            Parsed::Unknown {
                ts_ms: 5,
                type_name: "hologram".into()
            }
        );
    }

    #[test]
    fn a_mistyped_type_suggests_the_one_it_most_likely_meant() {
        let cases = [
            ("page_veiw", Some(EventType::PageView)),
            ("pageview", Some(EventType::PageView)),
            ("Click", Some(EventType::Click)),
            ("pull_to_refesh", Some(EventType::PullToRefresh)),
            ("notifications", Some(EventType::Notification)),
            ("hologram", None),
            ("checkout_started", None),
            ("page_view", None), // known: nothing to suggest
        ];
        for (name, want) in cases {
            assert_eq!(EventType::closest(name), want, "{name}");
        }
    }

    #[test]
    fn a_byte_order_mark_before_the_first_line_is_skipped() {
        let text = "\u{feff}{\"ts_ms\":1,\"type\":\"app_foreground\"}\n{\"ts_ms\":2,\"type\":\"app_background\"}\n";
        let lines: Vec<_> = TraceReader::new(text.as_bytes())
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(lines, [1, 2]);
        // Anywhere else it is not whitespace: an error naming the line.
        let text = "{\"ts_ms\":1,\"type\":\"app_foreground\"}\n\u{feff}{\"ts_ms\":2,\"type\":\"app_background\"}\n";
        let second = TraceReader::new(text.as_bytes()).nth(1).unwrap();
        assert!(matches!(second, Err(TraceError::Line { line: 2, .. })));
    }

    #[test]
    fn impossible_values_are_errors_naming_the_field() {
        let cases = [
            (
                r#"{"ts_ms":1,"type":"location","lat":91,"lon":0,"accuracy_m":5}"#,
                "lat",
            ),
            (
                r#"{"ts_ms":1,"type":"location","lat":0,"lon":200,"accuracy_m":5}"#,
                "lon",
            ),
            (
                r#"{"ts_ms":1,"type":"location","lat":0,"lon":0,"accuracy_m":-1}"#,
                "accuracy_m",
            ),
            (r#"{"ts_ms":-5,"type":"app_foreground"}"#, "ts_ms"),
        ];
        for (line, field) in cases {
            let err = parse_line(line).unwrap_err();
            assert!(err.to_string().contains(field), "{line}: {err}");
        }
        let nan = Event {
            ts_ms: 1,
            kind: EventKind::Scroll {
                page: "home".into(),
                dy_px: f64::NAN,
            },
        };
        assert!(matches!(
            nan.validate(),
            Err(EventError::Impossible { field: "dy_px", .. })
        ));
    }

    #[test]
    fn missing_ts_or_type_and_bad_json_are_errors() {
        assert_eq!(
            parse_line(r#"{"type":"app_foreground"}"#),
            Err(EventError::MissingField("ts_ms"))
        );
        assert_eq!(
            parse_line(r#"{"ts_ms":1}"#),
            Err(EventError::MissingField("type"))
        );
        assert!(matches!(parse_line("{not json"), Err(EventError::Json(_))));
        assert!(matches!(parse_line("[1,2]"), Err(EventError::Json(_))));
        assert!(matches!(
            parse_line(r#"{"ts_ms":"soon","type":"app_foreground"}"#),
            Err(EventError::BadField(_))
        ));
        let err = parse_line(r#"{"ts_ms":1,"type":"page_view"}"#).unwrap_err();
        assert!(err.to_string().contains("page"), "{err}");
    }

    #[test]
    fn reader_names_the_line_of_a_bad_event_and_skips_blank_lines() {
        let text = "{\"ts_ms\":1,\"type\":\"app_foreground\"}\n\n{oops\n";
        let mut r = TraceReader::new(text.as_bytes());
        assert!(matches!(r.next(), Some(Ok((1, Parsed::Event(_))))));
        match r.next() {
            Some(Err(TraceError::Line { line, .. })) => assert_eq!(line, 3),
            other => panic!("expected a line error, got {other:?}"),
        }
        assert!(r.next().is_none());
        let msg = TraceError::Line {
            line: 3,
            source: EventError::Json("x".into()),
        }
        .to_string();
        assert!(msg.starts_with("line 3:"), "{msg}");
    }
}
