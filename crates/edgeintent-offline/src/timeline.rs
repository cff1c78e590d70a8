//! The decision timeline of a replay, for people: one self-contained HTML
//! page (the charting library and the data inside it, no network), and the
//! same timeline in the Trace Event format, which Perfetto's UI opens.

use std::collections::BTreeMap;
use std::io::BufRead;

use serde::Serialize;

use super::replay::{drive, take_decisions, Accepted, ReadOptions, ReplaySummary};
use crate::error::Error;
use edgeintent::Config;
use edgeintent::FenceZone;
use edgeintent::TraceReader;
use edgeintent::{Action, Decision};
use edgeintent::{DecisionPoint, Runtime, RuntimeBuilder};

/// uPlot (MIT, `assets/timeline/uPlot.LICENSE`), bundled from npm by
/// `timeline/build.sh`.
const UPLOT_JS: &str = include_str!("../assets/timeline/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../assets/timeline/uPlot.min.css");
const PAGE_JS: &str = include_str!("../assets/timeline/timeline.js");
const PAGE_CSS: &str = include_str!("../assets/timeline/timeline.css");
const TEMPLATE: &str = include_str!("../assets/timeline/timeline.html");

/// Events kept on the page before it thins them (decisions are never thinned).
pub const MAX_EVENTS: usize = 60_000;
/// Decision points (score samples) kept before thinning.
pub const MAX_POINTS: usize = 20_000;

/// One decision point: the score the model gives there and the features.
#[derive(Debug, Clone, Serialize)]
pub struct PointRec {
    /// Time (ms).
    pub t: i64,
    /// `foreground`, `home_view` or `tick`.
    pub kind: &'static str,
    /// The model's score, when a window model is configured.
    pub score: Option<f32>,
    /// The feature vector (raw, as the runtime computed it).
    pub f: Vec<f32>,
}

/// One decision as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionRec {
    /// Time (ms).
    pub t: i64,
    /// Action name.
    pub action: &'static str,
    /// Reason (with the fence id for geofence decisions).
    pub reason: String,
    /// Score behind a model decision.
    pub score: Option<f32>,
    /// The decision's JSON line, exactly as `replay` prints it.
    pub json: String,
}

/// What a replay did over time.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timeline {
    /// Trace file name, for the title.
    pub trace: String,
    /// Feature names, in vector order.
    pub feature_names: Vec<String>,
    /// The policy's threshold (this user's bucket) and hysteresis.
    pub threshold: f32,
    /// Hysteresis band below the threshold (0 when off).
    pub hysteresis: f32,
    /// Cooldown after a refresh (s).
    pub cooldown_s: f64,
    /// Event type names, indexed by `events`.
    pub event_types: Vec<&'static str>,
    /// `[t, type index]` per event.
    pub events: Vec<(i64, u16)>,
    /// Decision points with scores and features.
    pub points: Vec<PointRec>,
    /// Every decision, in order.
    pub decisions: Vec<DecisionRec>,
    /// `[t, lat, lon, accuracy_m]` per fix delivered.
    pub fixes: Vec<(i64, f64, f64, f64)>,
    /// Zone changes: `(t, fence id, zone)`.
    pub zones: Vec<(i64, String, &'static str)>,
    /// Decision points the cooldown or the budget held back: `(t, "cooldown" | "budget")`.
    pub suppressed: Vec<(i64, &'static str)>,
    /// What was thinned to keep the page fast, if anything.
    pub thinned: Option<String>,
}

fn zone_name(z: FenceZone) -> &'static str {
    match z {
        FenceZone::Outside => "outside",
        FenceZone::Buffer => "buffer",
        FenceZone::Inside => "inside",
    }
}

/// Replays a trace like [`super::replay()`] (the same decisions, handed to
/// `on_decision`), recording the timeline. `builder` carries the replay's
/// options (no model, user id); the config's model also scores every
/// decision point for the score lane.
pub fn replay_timeline<R: BufRead>(
    config: Config,
    builder: RuntimeBuilder,
    trace_name: &str,
    reader: TraceReader<R>,
    opts: ReadOptions,
    mut on_decision: impl FnMut(&Decision, &str) -> std::io::Result<()>,
) -> Result<(ReplaySummary, Timeline), Error> {
    let spec = config.features().clone();
    // With an observer the runtime scores every decision point, so the
    // timeline shows the score where the policy did not need it too.
    let (tx, rx) = crossbeam_channel::unbounded::<PointRec>();
    let mut rt = builder
        .config(config.clone())
        .on_decision_point(move |p| {
            let kind = match p.point {
                DecisionPoint::Foreground => "foreground",
                DecisionPoint::HomeView => "home_view",
                DecisionPoint::Tick => "tick",
            };
            let _ = tx.send(PointRec {
                t: p.ts_ms,
                kind,
                score: p.score,
                f: p.features.to_vec(),
            });
        })
        .build()?;
    let stats = rt.stats();
    let mut tl = Timeline {
        trace: trace_name.to_owned(),
        feature_names: spec.names().map(str::to_owned).collect(),
        threshold: stats.threshold,
        hysteresis: config.policy().hysteresis.unwrap_or(0.0),
        cooldown_s: config.policy().cooldown_s,
        ..Timeline::default()
    };
    let mut type_index: BTreeMap<&'static str, u16> = BTreeMap::new();
    let mut zones: BTreeMap<String, &'static str> = BTreeMap::new();
    let (mut by_cooldown, mut by_budget) = (0u64, 0u64);
    // `None`: the last call, after the last event.
    let mut record =
        |rt: &mut Runtime, a: Option<&Accepted>, tl: &mut Timeline| -> Result<(), Error> {
            let ts = a.map_or(tl.events.last().map_or(0, |e| e.0), |a| a.ts_ms);
            if let Some(a) = a {
                let n = type_index.len() as u16;
                let ty = *type_index.entry(a.ty.name()).or_insert_with(|| {
                    tl.event_types.push(a.ty.name());
                    n
                });
                tl.events.push((ts, ty));
            }
            if let Some((lat, lon, acc)) = a.and_then(|a| a.fix) {
                tl.fixes.push((ts, lat, lon, acc));
                let now: BTreeMap<String, FenceZone> =
                    rt.fences_not_outside().into_iter().collect();
                for (id, z) in &now {
                    let name = zone_name(*z);
                    if zones.get(id) != Some(&name) {
                        tl.zones.push((ts, id.clone(), name));
                        zones.insert(id.clone(), name);
                    }
                }
                let left: Vec<String> = zones
                    .keys()
                    .filter(|id| !now.contains_key(*id))
                    .cloned()
                    .collect();
                for id in left {
                    tl.zones.push((ts, id.clone(), "outside"));
                    zones.remove(&id);
                }
            }
            tl.points.extend(rx.try_iter());
            let (cooldown, budget) = rt.suppressed();
            if cooldown > by_cooldown {
                tl.suppressed.push((ts, "cooldown"));
            }
            if budget > by_budget {
                tl.suppressed.push((ts, "budget"));
            }
            (by_cooldown, by_budget) = (cooldown, budget);
            take_decisions(rt, |d, json| {
                on_decision(d, json)?;
                let reason = serde_json::from_str::<serde_json::Value>(json)
                    .ok()
                    .and_then(|v| v["reason"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| d.reason.as_str().to_owned());
                tl.decisions.push(DecisionRec {
                    t: d.ts_ms,
                    action: d.action.name(),
                    reason,
                    score: d.score,
                    json: json.to_owned(),
                });
                Ok(())
            })?;
            Ok(())
        };
    let read = drive(&mut rt, reader, opts, None, |rt, a| {
        record(rt, Some(a), &mut tl)
    })?;
    record(&mut rt, None, &mut tl)?;
    thin(&mut tl);
    Ok((
        ReplaySummary {
            read,
            runtime: rt.stats(),
            updates: Vec::new(),
        },
        tl,
    ))
}

/// Keeps every k-th event and decision point beyond the page's limits, and
/// says so.
fn thin(tl: &mut Timeline) {
    let mut notes = Vec::new();
    let (events, points) = (tl.events.len(), tl.points.len());
    if events > MAX_EVENTS {
        let k = events.div_ceil(MAX_EVENTS);
        tl.events = tl.events.iter().step_by(k).copied().collect();
        notes.push(format!("events: every {k}th of {events} shown"));
    }
    if points > MAX_POINTS {
        let k = points.div_ceil(MAX_POINTS);
        tl.points = tl.points.iter().step_by(k).cloned().collect();
        notes.push(format!("decision points: every {k}th of {points} shown"));
    }
    tl.thinned = (!notes.is_empty()).then(|| notes.join("; "));
}

/// The timeline as one self-contained HTML page. Every string from the
/// trace (its name, slots, items, pages) is escaped for where it lands: HTML
/// text in the title and heading, JSON inside the data block.
pub fn timeline_html(tl: &Timeline) -> String {
    let data = script_json(&serde_json::to_string(tl).unwrap_or_else(|_| "{}".into()));
    let title = html_escape(&format!("edgeintent timeline: {}", tl.trace));
    fill(
        TEMPLATE,
        &[
            ("{{TITLE}}", &title),
            ("/*{{UPLOT_CSS}}*/", UPLOT_CSS),
            ("/*{{PAGE_CSS}}*/", PAGE_CSS),
            ("/*{{UPLOT_JS}}*/", UPLOT_JS),
            ("/*{{PAGE_JS}}*/", PAGE_JS),
            ("{{DATA}}", &data),
        ],
    )
}

/// `template` with each placeholder replaced by its value in one pass: a
/// value is never searched for placeholders (a trace named `{{DATA}}` stays
/// its name).
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    loop {
        let next = values
            .iter()
            .filter_map(|(k, v)| rest.find(k).map(|at| (at, *k, *v)))
            .min_by_key(|(at, _, _)| *at);
        let Some((at, key, value)) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        out.push_str(value);
        rest = &rest[at + key.len()..];
    }
}

/// JSON made safe inside a `<script>` element: `<`, `>` and `&` as `\u`
/// escapes (no `</script>`, no `<!--` to switch the HTML tokenizer's state),
/// and U+2028/U+2029 escaped for older JavaScript parsers. JSON has these
/// characters only inside strings, where the escapes mean the same.
fn script_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// One page of `evaluate --timeline`'s index.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// The page's file name, as [`page_file_name`] made it.
    pub file: String,
    /// The trace it shows (any text).
    pub trace: String,
    /// Events read.
    pub events: u64,
    /// Decisions made.
    pub decisions: u64,
}

/// A page's file name for the `i`th trace: its stem with anything but ASCII
/// letters, digits, `.`, `_` and `-` replaced, so the name is safe in a URL,
/// an HTML attribute and a file system.
pub fn page_file_name(i: usize, stem: &str) -> String {
    let safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{i:03}-{safe}.html")
}

/// The index page of a folder of timelines, every trace name escaped.
pub fn timeline_index_html(pages: &[IndexEntry]) -> String {
    let links: String = pages
        .iter()
        .map(|p| {
            format!(
                "<li><a href=\"{}\">{}</a>: {} events, {} decisions</li>\n",
                html_escape(&p.file),
                html_escape(&p.trace),
                p.events,
                p.decisions
            )
        })
        .collect();
    format!(
        "<!doctype html><meta charset=\"utf-8\"><title>edgeintent timelines</title>\
         <body style=\"font: 14px system-ui, sans-serif; margin: 16px\">\
         <h1 style=\"font-size: 18px\">edgeintent timelines</h1><ul>\n{links}</ul></body>\n"
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The timeline in the Trace Event format (`{"traceEvents": [...]}`, times
/// in µs): an instant per decision (track "decisions", args: the decision),
/// a counter per decision point for the score, async slices for each
/// cooldown after a refresh and each fence visit (buffer or inside), and
/// instants for the events (one track per type).
pub fn trace_events_json(tl: &Timeline) -> String {
    use serde_json::{json, Value};
    let us = |t: i64| t.saturating_mul(1000);
    let mut ev: Vec<Value> = vec![
        json!({"name": "process_name", "ph": "M", "pid": 1, "args": {"name": "edgeintent"}}),
        json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": "decisions"}}),
        json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": 2, "args": {"name": "events"}}),
    ];
    for d in &tl.decisions {
        let args: Value = serde_json::from_str(&d.json).unwrap_or(Value::Null);
        ev.push(
            json!({"name": d.reason, "cat": d.action, "ph": "i", "s": "t",
                       "ts": us(d.t), "pid": 1, "tid": 1, "args": args}),
        );
    }
    for p in &tl.points {
        if let Some(s) = p.score {
            ev.push(json!({"name": "score", "ph": "C", "ts": us(p.t), "pid": 1,
                           "args": {"score": s}}));
        }
    }
    let mut id = 0u64;
    for d in tl
        .decisions
        .iter()
        .filter(|d| d.action == Action::Refresh.name() && tl.cooldown_s > 0.0)
    {
        id += 1;
        let end = d.t.saturating_add((tl.cooldown_s * 1000.0) as i64);
        ev.push(json!({"name": "cooldown", "cat": "policy", "ph": "b", "id": id, "ts": us(d.t), "pid": 1}));
        ev.push(json!({"name": "cooldown", "cat": "policy", "ph": "e", "id": id, "ts": us(end), "pid": 1}));
    }
    let mut open: BTreeMap<&str, (u64, i64, &str)> = BTreeMap::new();
    let last = tl.events.last().map_or(0, |e| e.0);
    let close =
        |ev: &mut Vec<Value>, fence: &str, (vid, start, zone): (u64, i64, &str), end: i64| {
            let name = format!("fence {fence}: {zone}");
            ev.push(
            json!({"name": name, "cat": "fence", "ph": "b", "id": vid, "ts": us(start), "pid": 1}),
        );
            ev.push(
            json!({"name": name, "cat": "fence", "ph": "e", "id": vid, "ts": us(end), "pid": 1}),
        );
        };
    for (t, fence, zone) in &tl.zones {
        if let Some(prev) = open.remove(fence.as_str()) {
            close(&mut ev, fence, prev, *t);
        }
        if *zone != "outside" {
            id += 1;
            open.insert(fence, (id, *t, zone));
        }
    }
    for (fence, prev) in std::mem::take(&mut open) {
        close(&mut ev, fence, prev, last.max(prev.1));
    }
    for (t, ty) in &tl.events {
        let name = tl.event_types.get(usize::from(*ty)).copied().unwrap_or("?");
        ev.push(json!({"name": name, "cat": "event", "ph": "i", "s": "t", "ts": us(*t), "pid": 1, "tid": 2}));
    }
    json!({"traceEvents": ev, "displayTimeUnit": "ms"}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_once_and_values_are_never_searched() {
        let out = fill(
            "<t>{{A}}</t>{{B}}{{A}}",
            &[("{{A}}", "{{B}}"), ("{{B}}", "x{{A}}")],
        );
        assert_eq!(out, "<t>{{B}}</t>x{{A}}{{B}}");
    }

    #[test]
    fn script_json_has_no_markup_characters_and_means_the_same() {
        let v = serde_json::json!({"s": "<!--<script></script>&\u{2028}\u{2029}>"});
        let safe = script_json(&v.to_string());
        assert!(
            !safe.contains(['<', '>', '&', '\u{2028}', '\u{2029}']),
            "{safe}"
        );
        assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), v);
    }

    #[test]
    fn page_names_and_the_index_escape_every_trace_name() {
        let file = page_file_name(3, "q\"><img src=x>");
        assert_eq!(file, "003-q___img_src_x_.html");
        let index = timeline_index_html(&[IndexEntry {
            file,
            trace: "a<b>\"&'".into(),
            events: 1,
            decisions: 2,
        }]);
        assert!(index.contains(">a&lt;b&gt;&quot;&amp;&#39;</a>"), "{index}");
    }
}
