//! Config values from the fuzzer: every numeric setting of a full config
//! (policy, triggers, features, dedup, geofence, sampling, ingest, context,
//! monitor) can take any value, extremes and non-finite ones included. A config is accepted or
//! refused with an error; an accepted one runs events at far-apart times,
//! ticks and location fixes without a panic or a hang (libFuzzer's
//! `-timeout` reports a hang as a finding).
#![no_main]

use edgeintent::{Config, Event, EventKind, Runtime};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

/// The settings the fuzzer may set, as JSON pointers into `base()`.
const KNOBS: &[&str] = &[
    "/policy/threshold",
    "/policy/hysteresis",
    "/policy/cooldown_s",
    "/policy/max_staleness_s",
    "/policy/tick_interval_s",
    "/policy/fallback_interval_s",
    "/policy/budget_per_hour",
    "/ingest/channel_capacity",
    "/ingest/decision_queue",
    "/ingest/max_clock_skew_ms",
    "/triggers/0/debounce_s",
    "/triggers/1/coalesce_s",
    "/triggers/2/when/min",
    "/features/sequence_length",
    "/features/features/0/window_s",
    "/features/features/0/buckets",
    "/features/features/1/half_life_s",
    "/dedup/window_s",
    "/dedup/default_size",
    "/dedup/max_slots",
    "/dedup/max_candidates",
    "/dedup/slots/feed/weight",
    "/geofence/dwell_enter_s",
    "/geofence/dwell_exit_s",
    "/geofence/exit_margin_m",
    "/geofence/coverage/radius_m",
    "/geofence/fences/0/lat",
    "/geofence/fences/0/radius_m",
    "/geofence/fences/0/buffer_m",
    "/geofence/sampling/min_interval_s",
    "/geofence/sampling/max_interval_s",
    "/geofence/sampling/stationary_max_interval_s",
    "/geofence/sampling/buffer_interval_s",
    "/geofence/sampling/inside_interval_s",
    "/geofence/sampling/walking_speed_mps",
    "/geofence/sampling/max_speed_mps",
    "/geofence/sampling/stationary_speed_mps",
    "/geofence/sampling/stationary_assumed_speed_mps",
    "/context/max_items",
    "/context/max_age_s",
    "/monitor/window_points",
    "/monitor/window_s",
    "/monitor/psi_threshold",
    "/monitor/event_window",
    "/monitor/event_min_share",
    "/monitor/event_low",
    "/monitor/event_high",
    "/monitor/max_refreshes_per_hour",
    "/monitor/latency_p99_ms",
    "/monitor/error_rate",
    "/monitor/min_model_calls",
    "/monitor/max_clock_jump_s",
    "/monitor/recover",
    "/monitor/zero_share",
    "/monitor/surprise_factor",
    "/monitor/event_margin",
    "/monitor/psi_margin",
    "/monitor/gap_margin",
    "/monitor/min_range_run",
];

/// Values that break arithmetic, picked by a byte; other bytes read an f64.
const SPECIAL: &[f64] = &[
    0.0, -0.0, -1.0, 1e-300, 1e300, 1e16, 1e17, 9.2e18, -9.2e18, 4294967296.0, 65536.0,
    f64::MAX, f64::MIN, f64::EPSILON, 0.5, 1.0, 2.0,
];

fn base() -> Value {
    json!({
        "policy": {"threshold": 0.6, "hysteresis": 0.2, "cooldown_s": 15, "max_staleness_s": 1800,
                   "tick_interval_s": 30, "fallback_interval_s": 300, "budget_per_hour": 60},
        "ingest": {"channel_capacity": 64, "decision_queue": 64, "max_clock_skew_ms": 5000},
        "triggers": [
            {"event": "pull_to_refresh", "action": "refresh", "debounce_s": 2},
            {"event": "notification", "action": "mark_stale", "coalesce_s": 600},
            {"event": "custom", "when": {"name": "x", "min": 1}, "action": "mark_stale"}],
        "features": {"version": "fuzz", "sequence_length": 4, "features": [
            {"name": "s", "kind": "window_count", "event": "scroll", "window_s": 60, "buckets": 6},
            {"name": "d", "kind": "decayed_rate", "event": "scroll", "half_life_s": 30},
            {"name": "r", "kind": "since_refresh"}]},
        "dedup": {"window_s": 600, "default_size": 10, "max_slots": 8, "max_candidates": 50,
                  "slots": {"feed": {"weight": 1.0}, "search": {"weight": 2.0}}},
        "geofence": {"dwell_enter_s": 10, "dwell_exit_s": 10, "exit_margin_m": 20,
                     "coverage": {"lat": 0, "lon": 0, "radius_m": 5000},
                     "fences": [{"id": "a", "lat": 0.01, "lon": 0.0, "radius_m": 200, "buffer_m": 300}],
                     "sampling": {"min_interval_s": 5, "max_interval_s": 300,
                                  "stationary_max_interval_s": 600, "buffer_interval_s": 10,
                                  "inside_interval_s": 60, "walking_speed_mps": 1.5,
                                  "max_speed_mps": 40, "stationary_speed_mps": 0.3,
                                  "stationary_assumed_speed_mps": 1}},
        "context": {"enabled": true, "max_items": 3, "max_age_s": 1800},
        "monitor": {"enabled": true, "window_points": 60, "window_s": null, "psi_threshold": 0.25,
                    "event_window": 400, "event_min_share": 0.03, "event_low": 0.1, "event_high": 6,
                    "max_refreshes_per_hour": null, "latency_p99_ms": 50, "error_rate": 0.05,
                    "min_model_calls": 20, "max_clock_jump_s": 2592000, "recover": 0.8,
                    "zero_share": 0.25, "surprise_factor": 1, "event_margin": 0.5, "psi_margin": 1.5,
                    "gap_margin": 1.25, "min_range_run": 4}
    })
}

/// Reads (knob, value) pairs: one byte picks the knob, one byte a special
/// value or (when out of that table's range) the next eight bytes an f64.
fn mutate(cfg: &mut Value, mut data: &[u8]) -> i64 {
    let mut clock = 1_000_i64;
    while data.len() >= 2 {
        let (knob, pick) = (data[0] as usize, data[1] as usize);
        data = &data[2..];
        let v = if pick < SPECIAL.len() {
            SPECIAL[pick]
        } else if data.len() >= 8 {
            let v = f64::from_le_bytes(data[..8].try_into().unwrap_or_default());
            data = &data[8..];
            v
        } else {
            break;
        };
        if knob >= KNOBS.len() {
            // A knob past the table moves the event clock instead.
            clock = clock.saturating_add((v.abs().min(1e15)) as i64);
            continue;
        }
        if let Some(slot) = cfg.pointer_mut(KNOBS[knob]) {
            // Integers where the config wants one, when the value is one.
            *slot = if v.fract() == 0.0 && v.abs() < 9.0e18 {
                json!(v as i64)
            } else {
                serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
            };
        }
    }
    clock
}

fn ev(ts_ms: i64, kind: EventKind) -> Event {
    Event { ts_ms, kind }
}

fuzz_target!(|data: &[u8]| {
    let mut cfg = base();
    let far = mutate(&mut cfg, data);
    let Ok(config) = Config::from_json(&cfg.to_string(), std::path::Path::new("."), "fuzz") else {
        return;
    };
    let Ok(mut rt) = Runtime::builder().config(config).build() else {
        return;
    };
    let home = || EventKind::PageView { page: "home".into() };
    for ts in [1_000, 2_000, far, far.saturating_add(30_000), far.saturating_mul(2)] {
        let _ = rt.process(ev(ts, home()));
        let _ = rt.process(ev(ts, EventKind::Scroll { page: "home".into(), dy_px: 900.0 }));
        let _ = rt.process(ev(ts, EventKind::Location { lat: 0.0099, lon: 0.0, accuracy_m: 10.0, speed_mps: None }));
        let _ = rt.process(ev(ts, EventKind::PullToRefresh { page: "home".into() }));
        let _ = rt.process(ev(ts, EventKind::Exposure { slot: "feed".into(), items: vec!["a".into(), "b".into()] }));
        if let Some(t) = rt.next_wakeup_ms() {
            let _ = rt.tick(t);
        }
        while let Some(d) = rt.poll() {
            let _ = rt.decision_json(&d);
        }
    }
    let _ = rt.tick(i64::MAX);
    let _ = rt.snapshot();
});
