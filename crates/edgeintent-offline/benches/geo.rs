//! Spatial queries over 10,000 fences: the nearest fence zone to a point
//! (`FenceIndex::nearest`), and a whole location fix of a drive through the
//! runtime (outlier check, motion state, state machines of nearby fences,
//! coverage, next interval).
//!
//! `cargo bench --bench geo`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use edgeintent::{
    Config, Event, EventKind, FeatureSpec, FenceDef, FenceIndex, GeofenceConfig, Runtime,
    SamplingConfig,
};

/// A deterministic scatter of `n` fences over a 200 km × 200 km region.
fn fences(n: usize) -> Vec<FenceDef> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| FenceDef {
            id: format!("f{i}"),
            lat: 47.0 + 1.8 * next(),
            lon: 10.0 + 2.6 * next(),
            radius_m: 100.0 + 900.0 * next(),
            buffer_m: 500.0,
            category: "poi".into(),
        })
        .collect()
}

fn points(n: usize) -> Vec<(f64, f64)> {
    (0..n)
        .map(|i| {
            let t = i as f64 / n as f64;
            (47.0 + 1.8 * t, 10.0 + 2.6 * ((t * 37.0).fract()))
        })
        .collect()
}

/// A drive of `n` fixes one second apart at 12 m/s through the fences,
/// turning gently (a fix the last one could not reach would be held back
/// as an outlier, and the bench would measure only that); it loops back
/// to its start once per cycle.
fn drive(n: usize) -> Vec<(f64, f64)> {
    let (mut lat, mut lon, mut heading) = (47.9f64, 11.3f64, 0.3f64);
    (0..n)
        .map(|i| {
            heading += 0.02 * (i as f64 * 0.05).sin();
            lat += 12.0 * heading.cos() / 111_195.0;
            lon += 12.0 * heading.sin() / (111_195.0 * lat.to_radians().cos());
            (lat, lon)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let fs = fences(10_000);
    let index = FenceIndex::new(&fs);
    let pts = points(1024);
    let mut i = 0;
    c.bench_function("nearest_fence_of_10k", |b| {
        b.iter(|| {
            let (lat, lon) = pts[i % pts.len()];
            i += 1;
            black_box(index.nearest(black_box(lat), black_box(lon)))
        })
    });

    let spec = FeatureSpec::from_json(
        r#"{"version":"b","features":[{"name":"v","kind":"home_visible"}]}"#,
    )
    .expect("spec");
    // The motion-aware sampler beside the fixed bound of the first version,
    // in one run: the same fences, the same 1,024 points cycled.
    for (name, motion_aware) in [
        ("location_fix_with_10k_fences", true),
        ("location_fix_with_10k_fences_fixed_bound", false),
    ] {
        let cfg = Config::rules_only(spec.clone())
            .with_geofence(Some(GeofenceConfig {
                coverage: None,
                fences: fs.clone(),
                dwell_enter_s: 5.0,
                dwell_exit_s: 30.0,
                exit_margin_m: 25.0,
                sampling: SamplingConfig {
                    motion_aware,
                    ..SamplingConfig::default()
                },
            }))
            .expect("a valid geofence config");
        let mut rt = Runtime::builder().config(cfg).build().expect("runtime");
        let path = drive(4096);
        let mut t = 0i64;
        let mut k = 0;
        c.bench_function(name, |b| {
            b.iter(|| {
                let (lat, lon) = path[k % path.len()];
                k += 1;
                t += 1_000;
                let _ = rt.process(Event {
                    ts_ms: t,
                    kind: EventKind::Location {
                        lat,
                        lon,
                        accuracy_m: 15.0,
                        speed_mps: Some(12.0),
                    },
                });
                while let Some(d) = rt.poll() {
                    black_box(d);
                }
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
