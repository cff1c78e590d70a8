//! The timeline page under hostile strings: the input is split into strings
//! that become the trace's name, pages, slots, item ids and custom event
//! names. Whatever they hold, the page's data block is exactly the
//! timeline's JSON and holds no `<`, `>` or `&` (no `</script>`, no `<!--`),
//! and the title and heading hold the name HTML-escaped.
#![no_main]

use edgeintent_offline::{replay_timeline, timeline_html, ReadOptions};
use edgeintent::{Config, FeatureSpec, Runtime, TraceReader};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

const OPEN: &str = "<script id=\"data\" type=\"application/json\">";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\u{1}');
    let name = parts.next().unwrap_or("").to_owned();
    let strings: Vec<String> = parts.take(16).map(str::to_owned).collect();
    let mut lines = vec![
        json!({"ts_ms": 1_000, "type": "app_foreground"}),
        json!({"ts_ms": 1_100, "type": "page_view", "page": "home"}),
    ];
    for (i, s) in strings.iter().enumerate() {
        let t = 2_000 + 1_000 * i as i64;
        lines.push(json!({"ts_ms": t, "type": "page_view", "page": s}));
        lines.push(json!({"ts_ms": t + 1, "type": "recommendations", "slot": s, "items": [{"id": s, "entity": s}]}));
        lines.push(json!({"ts_ms": t + 2, "type": "exposure", "slot": s, "items": [s]}));
        lines.push(json!({"ts_ms": t + 3, "type": "custom", "name": s}));
    }
    let trace: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let spec = FeatureSpec::from_json(include_str!("../../models/feature_spec.json")).expect("spec");
    let Ok((_, tl)) = replay_timeline(
        Config::rules_only(spec),
        Runtime::builder(),
        &name,
        TraceReader::new(trace.as_bytes()),
        ReadOptions::default(),
        |_, _| Ok(()),
    ) else {
        return;
    };
    let page = timeline_html(&tl);
    let start = page.find(OPEN).expect("the data block") + OPEN.len();
    let end = start + page[start..].find("</script>").expect("the data block ends");
    let block = &page[start..end];
    assert!(!block.contains(['<', '>', '&']), "markup in the data block");
    let parsed: serde_json::Value = serde_json::from_str(block).expect("the data block is JSON");
    // Through text both ways: f32 values print as their shortest form.
    let expected: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&tl).expect("timeline JSON")).expect("JSON");
    assert_eq!(parsed, expected);
    let title = &page[page.find("<title>").expect("title") + 7..page.find("</title>").expect("title")];
    assert!(!title.contains('<'), "markup in the title");
});
