//! The decision timeline (issue 24): `replay --timeline` writes one
//! self-contained page and prints the same decisions as a plain replay;
//! `--trace-events` writes valid Trace Event JSON with the documented events.
//! The page itself is checked in Chromium by timeline/check.sh.

use crate::common::*;

use std::collections::BTreeMap;

#[test]
fn the_timeline_page_is_self_contained_and_the_trace_events_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("t.html");
    let events = dir.path().join("t.json");
    let trace = root().join("fixtures/example_trace.jsonl");
    let out = edgeintent(&[
        "replay",
        "--config",
        "models/config.json",
        "--timeline",
        html.to_str().unwrap(),
        "--trace-events",
        events.to_str().unwrap(),
        trace.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let decisions = text(&out.stdout);
    assert_eq!(decisions, cli_replay("models/config.json", &trace));
    let n_decisions = decisions.lines().count();

    let page = std::fs::read_to_string(&html).unwrap();
    // Nothing is fetched: no external script, style, image or font.
    for pattern in ["<script src", "<link", "@import", "url(http", "src=\"http"] {
        assert!(!page.contains(pattern), "the page references `{pattern}`");
    }
    assert!(page.contains("uPlot"), "uPlot is bundled into the page");
    assert!(page.contains("\"decisions\":["));

    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&events).unwrap())
        .expect("the Trace Event file is JSON");
    let ev = v["traceEvents"].as_array().expect("a traceEvents array");
    let count = |f: &dyn Fn(&serde_json::Value) -> bool| ev.iter().filter(|e| f(e)).count();
    // An instant per decision on the decisions track, with the decision as args.
    assert_eq!(count(&|e| e["ph"] == "i" && e["tid"] == 1), n_decisions);
    let first = decisions.lines().next().unwrap();
    let first: serde_json::Value = serde_json::from_str(first).unwrap();
    let inst = ev.iter().find(|e| e["ph"] == "i" && e["tid"] == 1).unwrap();
    assert_eq!(inst["args"], first);
    assert_eq!(
        inst["ts"].as_i64(),
        first["ts_ms"].as_i64().map(|t| t * 1000)
    );
    // The score as a counter, the events as instants on their own track.
    assert!(count(&|e| e["ph"] == "C" && e["name"] == "score") > 100);
    assert_eq!(count(&|e| e["ph"] == "i" && e["tid"] == 2), 3871);
    // Async slices open and close in pairs, one cooldown per refresh.
    let mut open: BTreeMap<(String, u64), i64> = BTreeMap::new();
    for e in ev.iter().filter(|e| e["ph"] == "b" || e["ph"] == "e") {
        let key = (
            e["cat"].as_str().unwrap().to_owned(),
            e["id"].as_u64().unwrap(),
        );
        let ts = e["ts"].as_i64().unwrap();
        if e["ph"] == "b" {
            assert!(open.insert(key, ts).is_none(), "slice opened twice");
        } else {
            let start = open.remove(&key).expect("slice closed before it opened");
            assert!(ts >= start);
        }
    }
    assert!(open.is_empty(), "unclosed slices: {open:?}");
    let refreshes = decisions
        .lines()
        .filter(|l| l.contains("\"action\":\"refresh\""))
        .count();
    assert_eq!(
        count(&|e| e["ph"] == "b" && e["cat"] == "policy"),
        refreshes
    );
}

#[test]
fn the_timeline_shows_fence_visits_of_the_geo_trace() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("g.json");
    let out = edgeintent(&[
        "replay",
        "--config",
        "fixtures/geo/config.json",
        "--trace-events",
        events.to_str().unwrap(),
        "fixtures/geo/trace.jsonl",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = json_file(&events);
    let names: Vec<&str> = v["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["cat"] == "fence" && e["ph"] == "b")
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(names.iter().any(|n| n.ends_with(": inside")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(": buffer")), "{names:?}");
}

#[test]
fn evaluate_writes_a_timeline_per_trace_and_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let out = edgeintent(&[
        "evaluate",
        "--config",
        "models/config.json",
        "--truth",
        "fixtures/example_truth.jsonl",
        "--timeline",
        dir.path().to_str().unwrap(),
        "fixtures/example_trace.jsonl",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let index = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(index.contains("000-example_trace.html"), "{index}");
    assert!(index.contains("271 decisions"), "{index}");
    let page = std::fs::read_to_string(dir.path().join("000-example_trace.html")).unwrap();
    assert!(page.contains("\"decisions\":["));
}
