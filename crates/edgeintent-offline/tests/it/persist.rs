//! Snapshots: a runtime restored mid-trace decides exactly like one that never
//! stopped; damaged snapshots are clear errors that change nothing.

use crate::common::*;

use edgeintent::snapshot::SnapshotError;
use edgeintent::{Event, Runtime};

fn feed(rt: &mut Runtime, events: &[Event]) -> Vec<String> {
    let mut out = Vec::new();
    for e in events {
        let _ = rt.process(e.clone());
        while let Some(d) = rt.poll() {
            out.push(rt.decision_json(&d));
        }
    }
    out
}

fn restart_matches_an_uninterrupted_run(config: &str, trace: &str, cut: usize) {
    let evs = events(trace);
    let mut whole = runtime(config);
    let expected = feed(&mut whole, &evs);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.snap");
    let mut first = runtime(config);
    let mut got = feed(&mut first, &evs[..cut]);
    first.save_snapshot(&path).unwrap();
    drop(first);
    let mut second = runtime(config);
    second.load_snapshot(&path).unwrap();
    got.extend(feed(&mut second, &evs[cut..]));
    assert_eq!(got, expected);
}

#[test]
fn the_example_trace_survives_a_restart_with_the_shipped_model() {
    restart_matches_an_uninterrupted_run(
        "models/config.json",
        "fixtures/example_trace.jsonl",
        1_900,
    );
}

#[test]
fn fences_survive_a_restart_inside_a_visit() {
    let evs = events("fixtures/geo/trace.jsonl");
    // Cut in the middle of the first visit (fence state INSIDE).
    let cut = evs
        .iter()
        .position(|e| e.ts_ms >= 1_772_440_050_000)
        .unwrap();
    restart_matches_an_uninterrupted_run(
        "fixtures/geo/config.json",
        "fixtures/geo/trace.jsonl",
        cut,
    );
}

#[test]
fn dedup_lists_survive_a_restart() {
    restart_matches_an_uninterrupted_run(
        "fixtures/dedup_config.json",
        "fixtures/dedup_trace.jsonl",
        90,
    );
}

#[test]
fn damaged_snapshots_are_errors_and_change_nothing() {
    let evs = events("fixtures/example_trace.jsonl");
    let mut rt = runtime("models/config.json");
    feed(&mut rt, &evs[..1_000]);
    let good = rt.snapshot().unwrap();

    let fresh_decisions = {
        let mut fresh = runtime("models/config.json");
        feed(&mut fresh, &evs[1_000..])
    };
    let check = |bytes: &[u8], what: &str| {
        let mut target = runtime("models/config.json");
        let err = target.restore(bytes).expect_err(what);
        assert!(!err.to_string().is_empty());
        // Unchanged: it decides like a fresh runtime.
        assert_eq!(feed(&mut target, &evs[1_000..]), fresh_decisions, "{what}");
        err
    };
    for cut in [0, 5, 20, 36, 37, good.len() / 2, good.len() - 1] {
        let e = check(&good[..cut], &format!("truncated at {cut}"));
        assert!(matches!(e, SnapshotError::Truncated { .. }), "{cut}: {e}");
    }
    let mut corrupt = good.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0x10;
    assert!(matches!(
        check(&corrupt, "corrupt"),
        SnapshotError::Checksum
    ));
    let mut future = good.clone();
    future[8..12].copy_from_slice(&99u32.to_le_bytes());
    assert!(matches!(
        check(&future, "future"),
        SnapshotError::Version { found: 99, .. }
    ));
    assert!(matches!(
        check(b"garbage that is long enough to have a header", "garbage"),
        SnapshotError::BadMagic
    ));
    // Another configuration: the dedup trace's runtime has other triggers/slots.
    let other = runtime("fixtures/geo/config.json").snapshot().unwrap();
    assert!(matches!(
        check(&other, "other config"),
        SnapshotError::ConfigMismatch
    ));

    let dir = tempfile::tempdir().unwrap();
    let missing = runtime("models/config.json").load_snapshot(dir.path().join("none.snap"));
    assert!(matches!(missing, Err(SnapshotError::Io { .. })));
}
