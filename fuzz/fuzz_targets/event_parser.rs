//! Any bytes as one trace line: parsing never panics, and an accepted event
//! goes through a runtime (features, policy, geofences, dedup) without panicking.
#![no_main]

use std::sync::Mutex;

use edgeintent::{parse_line, Config, Parsed, Runtime};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"{
  "features": {"version": "fuzz", "sequence_length": 4, "features": [
    {"name": "s", "kind": "window_count", "event": "scroll", "window_s": 60, "buckets": 6},
    {"name": "d", "kind": "decayed_rate", "event": "scroll", "half_life_s": 30, "weight": "abs_dy_kpx"},
    {"name": "c", "kind": "decayed_rate", "event": "custom", "half_life_s": 30, "weight": "value"},
    {"name": "n", "kind": "exposure_novelty"},
    {"name": "r", "kind": "since_refresh"}]},
  "dedup": {"slots": {"feed": 1.0, "search": 2.0}},
  "geofence": {"coverage": {"lat": 0, "lon": 0, "radius_m": 5000},
               "fences": [{"id": "a", "lat": 0.01, "lon": 0.0, "radius_m": 200, "buffer_m": 300}]}
}"#;

static RT: Mutex<Option<Runtime>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Parsed::Event(e)) = parse_line(line) {
        let mut guard = RT.lock().unwrap_or_else(|p| p.into_inner());
        let rt = guard.get_or_insert_with(|| {
            let cfg = Config::from_json(CONFIG, std::path::Path::new("."), "fuzz").expect("config");
            Runtime::builder().config(cfg).build().expect("runtime")
        });
        let _ = rt.process(e);
        while let Some(d) = rt.poll() {
            let _ = rt.decision_json(&d);
        }
    }
});
