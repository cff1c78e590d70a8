//! Snapshot timestamps from the fuzzer. A runtime runs a few events, is
//! snapshotted, and every timestamp it was fed is found in the payload (as
//! bincode's varint encoding) and replaced by a fuzzer-chosen i64, extremes
//! included; the payload is resealed with a valid header. Restoring either
//! refuses the state or accepts one on which events, ticks and a new
//! snapshot run without a panic or a hang.
#![no_main]

use edgeintent::{snapshot, Config, Event, EventKind, Runtime};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"{
  "features": {"version": "fuzz", "sequence_length": 4, "features": [
    {"name": "s", "kind": "window_count", "event": "scroll", "window_s": 60, "buckets": 6},
    {"name": "d", "kind": "decayed_rate", "event": "scroll", "half_life_s": 30},
    {"name": "r", "kind": "since_refresh"}]},
  "policy": {"budget_per_hour": 4, "tick_interval_s": 30},
  "triggers": [{"event": "pull_to_refresh", "action": "refresh", "debounce_s": 2},
               {"event": "notification", "action": "mark_stale", "coalesce_s": 600}],
  "dedup": {"slots": {"feed": 1.0}},
  "geofence": {"fences": [{"id": "a", "lat": 0.01, "lon": 0.0, "radius_m": 200, "buffer_m": 300}]}
}"#;

/// The times the runtime is fed before the snapshot: distinct, so each
/// one's encoding marks a field that holds it (or a time derived from it).
const TIMES: [i64; 5] = [1_700_000_000_000, 1_700_000_031_000, 1_700_000_062_000, 1_700_000_093_000, 1_700_000_124_000];

const SPECIAL: [i64; 8] = [i64::MIN, i64::MAX, 0, -1, i64::MAX - 29_999, i64::MIN + 1, 7_258_118_400_000, -7_258_118_400_000];

fn varint(v: i64) -> Vec<u8> {
    bincode::encode_to_vec(v, bincode::config::standard()).unwrap_or_default()
}

fn ev(ts_ms: i64, kind: EventKind) -> Event {
    Event { ts_ms, kind }
}

fn feed(rt: &mut Runtime, ts: i64) {
    let _ = rt.process(ev(ts, EventKind::PageView { page: "home".into() }));
    let _ = rt.process(ev(ts, EventKind::Scroll { page: "home".into(), dy_px: 700.0 }));
    let _ = rt.process(ev(ts, EventKind::Notification { topic: "t".into(), importance: Some(0.9) }));
    let _ = rt.process(ev(ts, EventKind::PullToRefresh { page: "home".into() }));
    let _ = rt.process(ev(ts, EventKind::Exposure { slot: "feed".into(), items: vec!["x".into()] }));
    let _ = rt.process(ev(ts, EventKind::Location { lat: 0.0099, lon: 0.0, accuracy_m: 10.0, speed_mps: None }));
    while rt.poll().is_some() {}
}

/// Every occurrence of `from` in `payload` replaced by `to`.
fn replace_all(payload: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    let mut i = 0;
    while i < payload.len() {
        if payload[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(payload[i]);
            i += 1;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let cfg = || Config::from_json(CONFIG, std::path::Path::new("."), "fuzz").expect("config");
    let mut rt = Runtime::builder().config(cfg()).build().expect("runtime");
    for ts in TIMES {
        feed(&mut rt, ts);
    }
    let _ = rt.tick(TIMES[4] + 30_000);
    let Ok(base) = rt.snapshot() else { return };
    let Ok(mut payload) = snapshot::open(&base, u64_at(&base, 12)).map(<[u8]>::to_vec) else {
        return;
    };
    // Each chunk: a byte picks which fed time (and times 30 s after it: the
    // next tick) to replace, then a special value or eight bytes of i64.
    let mut rest = data;
    while rest.len() >= 2 {
        let which = TIMES[rest[0] as usize % TIMES.len()];
        let pick = rest[1] as usize;
        rest = &rest[2..];
        let to = if pick < SPECIAL.len() {
            SPECIAL[pick]
        } else if rest.len() >= 8 {
            let v = i64::from_le_bytes(rest[..8].try_into().unwrap_or_default());
            rest = &rest[8..];
            v
        } else {
            break;
        };
        for from in [which, which + 30_000] {
            payload = replace_all(&payload, &varint(from), &varint(to));
        }
    }
    let sealed = snapshot::reseal(&base, &payload);
    let mut fresh = Runtime::builder().config(cfg()).build().expect("runtime");
    if fresh.restore(&sealed).is_ok() {
        for ts in [TIMES[4] + 60_000, i64::MAX / 2, i64::MAX] {
            feed(&mut fresh, ts);
            if let Some(t) = fresh.next_wakeup_ms() {
                let _ = fresh.tick(t);
            }
        }
        let _ = fresh.tick(i64::MAX);
        let _ = fresh.snapshot();
    }
});

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}
