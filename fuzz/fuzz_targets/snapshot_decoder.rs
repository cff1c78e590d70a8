//! Any bytes as a snapshot, twice: as a whole file (container checks), and as
//! a payload sealed with a valid header and checksum (so the fuzzer reaches
//! the bincode decoder and the state checks). Restoring never panics.
#![no_main]

use edgeintent::{snapshot, Config, Runtime};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"{
  "features": {"version": "fuzz", "sequence_length": 4, "features": [
    {"name": "s", "kind": "window_count", "event": "scroll", "window_s": 60, "buckets": 6},
    {"name": "d", "kind": "decayed_rate", "event": "scroll", "half_life_s": 30}]},
  "policy": {"budget_per_hour": 4},
  "geofence": {"fences": [{"id": "a", "lat": 0.01, "lon": 0.0, "radius_m": 200, "buffer_m": 300}]}
}"#;

fuzz_target!(|data: &[u8]| {
    let cfg = Config::from_json(CONFIG, std::path::Path::new("."), "fuzz").expect("config");
    let mut rt = Runtime::builder().config(cfg).build().expect("runtime");
    let _ = rt.restore(data);
    let sealed = snapshot::reseal(&rt.snapshot().expect("snapshot"), data);
    if rt.restore(&sealed).is_ok() {
        // Restored state must keep working.
        let _ = rt.process(edgeintent::Event {
            ts_ms: 1_000,
            kind: edgeintent::EventKind::Scroll { page: "home".into(), dy_px: 10.0 },
        });
        let _ = rt.snapshot();
    }
});
