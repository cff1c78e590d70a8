//! Live updates end to end: signed packages swap in mid-trace, every kind of
//! bad package is refused while decisions go on under the running version,
//! the version in force survives a restart, and the CLI rehearses a roll-out.

use std::path::Path;

use edgeintent::update::{pack, signing_key_from_hex, Manifest, Rollout, RolloutArm, UpdateKind};
use edgeintent::{Config, Event, Runtime, UpdateError, UpdateOutcome};

use crate::common::{decision_lines as feed, edgeintent, events, fixture, text};

fn key() -> ed25519_dalek::SigningKey {
    let hex = std::fs::read_to_string(fixture("fixtures/updates/test_signing_key.hex")).unwrap();
    signing_key_from_hex(&hex).unwrap()
}

fn manifest(kind: UpdateKind, version: &str, sequence: u64) -> Manifest {
    Manifest::new(kind, version, sequence)
}

fn package(m: Manifest, payload: &[u8]) -> Vec<u8> {
    pack(m, payload, &key()).unwrap()
}

fn config_with_dir(dir: Option<&Path>) -> Config {
    let cfg = Config::from_file(fixture("fixtures/updates/config.json")).unwrap();
    let mut u = cfg.updates().unwrap().clone();
    u.dir = dir.map(Path::to_owned);
    cfg.with_updates(Some(u)).unwrap()
}

fn runtime(dir: Option<&Path>) -> Runtime {
    Runtime::builder()
        .config(config_with_dir(dir))
        .user_id("user-7")
        .build()
        .unwrap()
}

fn policy_b() -> Vec<u8> {
    std::fs::read(fixture("fixtures/updates/policy_b.json")).unwrap()
}

fn intent_model() -> Vec<u8> {
    std::fs::read(fixture("models/intent.onnx")).unwrap()
}

#[test]
fn a_signed_config_update_swaps_mid_trace_and_later_decisions_use_it() {
    let evs = events("fixtures/example_trace.jsonl");
    let (first, second) = evs.split_at(evs.len() / 2);
    let mut rt = runtime(None);
    let before = feed(&mut rt, first);
    assert!(before
        .iter()
        .all(|d| d["version"]["config"] == "shipped" && d["version"]["model"] == "shipped"));
    let threshold_before = rt.stats().threshold;
    let fp_before = rt.stats().decision_points;
    let out = rt
        .update_config(&package(
            manifest(UpdateKind::Config, "policy-b", 1),
            &policy_b(),
        ))
        .unwrap();
    assert_eq!(
        out,
        UpdateOutcome::Applied {
            kind: UpdateKind::Config,
            version: "policy-b".into()
        }
    );
    // State is kept: the feature spec is unchanged.
    assert_eq!(rt.stats().decision_points, fp_before);
    assert!(rt.last_refresh_ms().is_some());
    let after = feed(&mut rt, second);
    assert!(!after.is_empty());
    assert!(after.iter().all(|d| d["version"]["config"] == "policy-b"));
    let s = rt.stats();
    assert_ne!(
        s.threshold, threshold_before,
        "policy B's bucket thresholds are in force"
    );
    assert_eq!(s.updates.config.version, "policy-b");
    assert_eq!(s.updates.config.sequence, 1);
    assert_eq!((s.updates.accepted, s.updates.refused), (1, 0));

    // A model update: later decisions name it, and the model runs.
    let calls = rt.stats().model_calls;
    rt.update_model(&package(
        manifest(UpdateKind::Model, "intent-3", 1),
        &intent_model(),
    ))
    .unwrap();
    // The start of the trace again, a day after its end.
    let shift = evs[evs.len() - 1].ts_ms - evs[0].ts_ms + 86_400_000;
    let later: Vec<Event> = first[..600]
        .iter()
        .map(|e| Event {
            ts_ms: e.ts_ms + shift,
            kind: e.kind.clone(),
        })
        .collect();
    let again = feed(&mut rt, &later);
    assert!(!again.is_empty());
    assert!(again.iter().all(|d| d["version"]["model"] == "intent-3"));
    assert!(rt.stats().model_calls > calls);
    assert!(
        matches!(&rt.stats().model, edgeintent::ModelStatus::Loaded(p) if p == "update:intent-3")
    );
}

/// The decisions of the rest of the trace after `tamper` is refused equal
/// those of a runtime that never saw it.
fn refused_changes_nothing(package: &[u8], want: impl Fn(&UpdateError) -> bool) -> String {
    let evs = events("fixtures/example_trace.jsonl");
    let (first, second) = evs.split_at(1500);
    let mut control = runtime(None);
    let mut rt = runtime(None);
    feed(&mut control, first);
    feed(&mut rt, first);
    let err = rt.update(package).unwrap_err();
    assert!(want(&err), "unexpected error: {err}");
    let msg = err.to_string();
    assert_eq!(feed(&mut rt, second), feed(&mut control, second), "{msg}");
    let s = rt.stats();
    assert_eq!(s.updates.config.version, "shipped");
    assert_eq!(s.updates.model.version, "shipped");
    assert_eq!(s.updates.refused, 1);
    assert_eq!(s.updates.last_error.as_deref(), Some(msg.as_str()));
    msg
}

#[test]
fn bad_packages_are_refused_with_a_clear_error_and_decisions_continue_on_the_old_version() {
    let good = package(manifest(UpdateKind::Config, "policy-b", 1), &policy_b());

    // A bad signature: a byte of the signature flipped.
    let mut bad_sig = good.clone();
    let sig_at = 12 + u32::from_le_bytes(bad_sig[8..12].try_into().unwrap()) as usize;
    bad_sig[sig_at + 3] ^= 0x10;
    let msg = refused_changes_nothing(&bad_sig, |e| matches!(e, UpdateError::Signature { .. }));
    assert!(msg.contains("signature does not verify"), "{msg}");

    // Signed by another key.
    let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let foreign = pack(
        manifest(UpdateKind::Config, "policy-b", 1),
        &policy_b(),
        &other,
    )
    .unwrap();
    refused_changes_nothing(&foreign, |e| matches!(e, UpdateError::Signature { .. }));

    // A wrong hash: the payload changed after signing.
    let mut bad_hash = good.clone();
    let n = bad_hash.len();
    bad_hash[n - 10] ^= 0x01;
    let msg = refused_changes_nothing(&bad_hash, |e| matches!(e, UpdateError::Payload(_)));
    assert!(msg.contains("SHA-256"), "{msg}");

    // A package cut short in transit.
    let msg = refused_changes_nothing(&good[..good.len() - 100], |e| {
        matches!(e, UpdateError::Truncated { .. })
    });
    assert!(msg.contains("truncated"), "{msg}");

    // A truncated model, signed as it is: it does not load.
    let model = intent_model();
    let cut = package(
        manifest(UpdateKind::Model, "half", 1),
        &model[..model.len() / 2],
    );
    let msg = refused_changes_nothing(&cut, |e| matches!(e, UpdateError::Model { .. }));
    assert!(msg.contains("\"half\""), "{msg}");

    // A model with an operator nobody implements.
    let needle = b"TreeEnsembleClassifier";
    let at = model
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    let mut unknown = model.clone();
    unknown[at + needle.len() - 1] = b'X';
    let msg = refused_changes_nothing(
        &package(manifest(UpdateKind::Model, "unknown-op", 1), &unknown),
        |e| matches!(e, UpdateError::Model { .. }),
    );
    assert!(msg.contains("TreeEnsembleClassifieX"), "{msg}");

    // A model trained on other features.
    let other_spec = std::fs::read(fixture("fixtures/families/lightgbm_binary.onnx")).unwrap();
    refused_changes_nothing(
        &package(manifest(UpdateKind::Model, "other-spec", 1), &other_spec),
        |e| matches!(e, UpdateError::Model { .. }),
    );

    // A feature-spec change without reset_state.
    let spec_change =
        br#"{"features":{"version":"tiny","features":[{"name":"v","kind":"home_visible"}]}}"#;
    let msg = refused_changes_nothing(
        &package(manifest(UpdateKind::Config, "tiny", 1), spec_change),
        |e| matches!(e, UpdateError::SpecChange { .. }),
    );
    assert!(msg.contains("reset_state"), "{msg}");

    // An invalid config, a model package given as a config, and a config
    // that tries to replace the pinned keys.
    let msg = refused_changes_nothing(
        &package(
            manifest(UpdateKind::Config, "bad", 1),
            br#"{"policy":{"threshold":7}}"#,
        ),
        |e| matches!(e, UpdateError::Config { .. }),
    );
    assert!(msg.contains("policy.threshold"), "{msg}");
    let mut rt = runtime(None);
    let err = rt
        .update_config(&package(
            manifest(UpdateKind::Model, "m", 1),
            &intent_model(),
        ))
        .unwrap_err();
    assert!(matches!(err, UpdateError::WrongKind { .. }), "{err}");
    let rekey = br#"{"updates":{"public_keys":["0000000000000000000000000000000000000000000000000000000000000000"]}}"#;
    refused_changes_nothing(
        &package(manifest(UpdateKind::Config, "rekey", 1), rekey),
        |e| matches!(e, UpdateError::Config { why, .. } if why.contains("cannot change `updates`")),
    );

    // An app too old for the update.
    let mut m = manifest(UpdateKind::Config, "needs-4", 1);
    m.min_app_version = Some("4.0".into());
    let msg = refused_changes_nothing(&package(m, &policy_b()), |e| {
        matches!(e, UpdateError::AppTooOld { .. })
    });
    assert!(msg.contains("3.2.0"), "{msg}");
}

#[test]
fn a_replayed_or_older_package_is_refused() {
    let mut rt = runtime(None);
    let v2 = package(manifest(UpdateKind::Config, "policy-b", 2), &policy_b());
    rt.update(&v2).unwrap();
    let err = rt.update(&v2).unwrap_err();
    assert!(
        matches!(err, UpdateError::Stale { in_force: 2, .. }),
        "{err}"
    );
    let v1 = package(manifest(UpdateKind::Config, "older", 1), &policy_b());
    assert!(matches!(rt.update(&v1), Err(UpdateError::Stale { .. })));
    assert_eq!(rt.stats().updates.config.version, "policy-b");
}

#[test]
fn a_spec_change_with_reset_applies_and_resets_the_state() {
    let mut rt = runtime(None);
    feed(&mut rt, &events("fixtures/example_trace.jsonl")[..300]);
    assert!(rt.last_refresh_ms().is_some());
    let mut m = manifest(UpdateKind::Config, "tiny", 1);
    m.reset_state = true;
    // `"model": null`: rules alone (an absent `model` would keep the model
    // in force, which was trained on the old spec and is refused).
    let tiny = br#"{"model":null,"features":{"version":"tiny","features":[{"name":"v","kind":"home_visible"}]}}"#;
    rt.update(&package(m, tiny)).unwrap();
    assert_eq!(rt.last_refresh_ms(), None, "timers were reset");
    assert_eq!(rt.config().features().len(), 1);
    assert_eq!(rt.stats().model, edgeintent::ModelStatus::None);
}

#[test]
fn the_version_in_force_and_its_rollback_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let updates = dir.path().join("updates");
    let snap = dir.path().join("state.snap");
    let evs = events("fixtures/example_trace.jsonl");
    {
        let mut rt = runtime(Some(&updates));
        feed(&mut rt, &evs[..800]);
        rt.update(&package(
            manifest(UpdateKind::Config, "policy-b", 1),
            &policy_b(),
        ))
        .unwrap();
        rt.update(&package(
            manifest(UpdateKind::Model, "intent-3", 1),
            &intent_model(),
        ))
        .unwrap();
        feed(&mut rt, &evs[800..900]);
        rt.save_snapshot(&snap).unwrap();
    }
    // The app restarts: the packages in the folder are in force again, and
    // the snapshot made under them restores.
    let mut rt = runtime(Some(&updates));
    let v = rt.versions();
    assert_eq!(
        (v.config.version.as_str(), v.model.version.as_str()),
        ("policy-b", "intent-3")
    );
    rt.load_snapshot(&snap).unwrap();
    let d = feed(&mut rt, &evs[900..1200]);
    assert!(d.iter().all(|d| d["version"]["config"] == "policy-b"));

    // The snapshot does not restore under the shipped config: it says why.
    let mut shipped = runtime(None);
    let err = shipped.load_snapshot(&snap).unwrap_err().to_string();
    assert!(err.contains("policy-b") && err.contains("shipped"), "{err}");

    // A rollback is in force after the next restart too, and an old package
    // cannot bring the update back.
    let mut rb = manifest(UpdateKind::Config, "back", 2);
    rb.rollback = true;
    assert_eq!(
        rt.update(&package(rb, b"")).unwrap(),
        UpdateOutcome::RolledBack {
            kind: UpdateKind::Config
        }
    );
    drop(rt);
    let mut rt = runtime(Some(&updates));
    let v = rt.versions();
    assert_eq!(
        (v.config.version.as_str(), v.config.sequence),
        ("shipped", 2)
    );
    assert_eq!(v.model.version, "intent-3");
    let replayed = package(manifest(UpdateKind::Config, "policy-b", 1), &policy_b());
    assert!(matches!(
        rt.update(&replayed),
        Err(UpdateError::Stale { .. })
    ));
}

#[test]
fn a_staged_rollout_applies_in_its_arm_only_and_reports_the_arm() {
    let mut m = manifest(UpdateKind::Config, "policy-b", 1);
    m.rollout = Some(Rollout {
        salt: "t".into(),
        arms: vec![
            RolloutArm {
                name: "control".into(),
                share: 0.5,
                apply: false,
            },
            RolloutArm {
                name: "treatment".into(),
                share: 0.5,
                apply: true,
            },
        ],
    });
    let pkg = package(m, &policy_b());
    let mut arms = std::collections::BTreeMap::<String, u32>::new();
    for i in 0..40 {
        let mut rt = Runtime::builder()
            .config(config_with_dir(None))
            .user_id(format!("user-{i}"))
            .build()
            .unwrap();
        let out = rt.update(&pkg).unwrap();
        let v = rt.versions();
        let arm = v.config.arm.clone().unwrap();
        match out {
            UpdateOutcome::Applied { .. } => assert_eq!(
                (arm.as_str(), v.config.version.as_str()),
                ("treatment", "policy-b")
            ),
            UpdateOutcome::NotInArm { .. } => assert_eq!(
                (arm.as_str(), v.config.version.as_str()),
                ("control", "shipped")
            ),
            other => panic!("{other:?}"),
        }
        let d = feed(&mut rt, &events("fixtures/example_trace.jsonl")[..50]);
        assert!(d.iter().all(|d| d["version"]["config_arm"] == arm.as_str()));
        *arms.entry(arm).or_default() += 1;
    }
    assert!(arms.values().all(|&n| n >= 10), "{arms:?}");
    // Without a user id there is no arm to pick.
    let mut anon = Runtime::builder()
        .config(config_with_dir(None))
        .build()
        .unwrap();
    assert!(matches!(anon.update(&pkg), Err(UpdateError::NoUser(_))));
}

#[test]
fn updates_are_refused_without_pinned_keys() {
    let mut rt = crate::common::runtime("models/config.json");
    let err = rt
        .update(&package(
            manifest(UpdateKind::Config, "policy-b", 1),
            &policy_b(),
        ))
        .unwrap_err();
    assert_eq!(err, UpdateError::NotConfigured);
}

#[test]
fn replay_rehearses_a_two_arm_rollout_and_evaluate_reports_both_arms() {
    let run = |arm: &str| {
        let out = edgeintent(&[
            "replay",
            "--config",
            "fixtures/updates/config.json",
            "--updates",
            "fixtures/updates/rollout.jsonl",
            "--arm",
            arm,
            "fixtures/example_trace.jsonl",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        (text(&out.stdout), text(&out.stderr))
    };
    let (control, control_err) = run("control");
    let (treated, treated_err) = run("policy-b");
    assert!(control_err.contains("kept: arm control"), "{control_err}");
    assert!(treated_err.contains("applied policy-b"), "{treated_err}");
    let last =
        |s: &str| serde_json::from_str::<serde_json::Value>(s.lines().last().unwrap()).unwrap();
    assert_eq!(last(&control)["version"]["config"], "shipped");
    assert_eq!(last(&control)["version"]["config_arm"], "control");
    assert_eq!(last(&treated)["version"]["config"], "policy-b");
    assert_ne!(
        control, treated,
        "the arms decide differently after the roll-out"
    );

    let out = edgeintent(&[
        "evaluate",
        "--json",
        "--config",
        "fixtures/updates/config.json",
        "--updates",
        "fixtures/updates/rollout.jsonl",
        "--truth",
        "fixtures/example_truth.jsonl",
        "fixtures/example_trace.jsonl",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"rollout: control") && names.contains(&"rollout: policy-b"),
        "{names:?}"
    );
}

#[test]
fn update_pack_and_inspect_round_trip_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.hex");
    let out = edgeintent(&["update", "keygen", "--out", key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let public = text(&out.stdout).trim().to_owned();
    assert_eq!(public.len(), 64);
    let again = edgeintent(&["update", "keygen", "--out", key.to_str().unwrap()]);
    assert!(
        !again.status.success(),
        "an existing key is never overwritten silently"
    );
    let pkg = dir.path().join("p.eiu");
    let out = edgeintent(&[
        "update",
        "pack",
        "--kind",
        "config",
        "--payload",
        "fixtures/updates/policy_b.json",
        "--version",
        "v9",
        "--sequence",
        "9",
        "--key",
        key.to_str().unwrap(),
        "-o",
        pkg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = edgeintent(&["update", "inspect", pkg.to_str().unwrap()]);
    assert!(
        text(&out.stdout).contains("\"sequence\": 9"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains("not checked"));
    // Verified against the fixture config, which pins another key: refused.
    let out = edgeintent(&[
        "update",
        "inspect",
        "--config",
        "fixtures/updates/config.json",
        pkg.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("signature does not verify"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn every_refresh_in_the_example_replay_carries_a_context_within_the_bound() {
    let out = edgeintent(&["replay", "fixtures/example_trace.jsonl"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut refreshes = 0;
    for line in text(&out.stdout).lines() {
        let d: serde_json::Value = serde_json::from_str(line).unwrap();
        if d["action"] != "refresh" {
            assert!(d.get("context").is_none(), "{line}");
            continue;
        }
        refreshes += 1;
        let c = &d["context"];
        let bytes = serde_json::to_string(c).unwrap().len();
        assert!(
            bytes <= edgeintent::context::MAX_CONTEXT_BYTES,
            "{bytes} bytes: {line}"
        );
        assert_eq!(c["v"], edgeintent::context::CONTEXT_VERSION);
        assert_eq!(c["by"], d["reason"]);
        assert!(
            c["session_s"].is_u64() && c["home_views"].is_u64(),
            "{line}"
        );
    }
    assert!(refreshes > 100, "{refreshes}");
}

#[test]
fn a_restart_forgets_the_user_and_an_update_and_decides_as_a_fresh_build() {
    let evs = events("fixtures/example_trace.jsonl");
    let (first, second) = evs.split_at(evs.len() / 2);
    let mut fresh = runtime(None);
    let want = feed(&mut fresh, second);
    // Without an update: the loaded model stays, the state goes.
    let mut rt = runtime(None);
    feed(&mut rt, first);
    rt.restart(Some("user-7")).unwrap();
    assert_eq!(rt.stats().events_processed, 0);
    assert_eq!(feed(&mut rt, second), want);
    // After an update: back to the shipped config and model.
    rt.restart(Some("user-7")).unwrap();
    feed(&mut rt, first);
    rt.update_config(&package(
        manifest(UpdateKind::Config, "policy-b", 1),
        &policy_b(),
    ))
    .unwrap();
    rt.restart(Some("user-7")).unwrap();
    let again = feed(&mut rt, second);
    assert_eq!(again, want);
    assert!(again.iter().all(|d| d["version"]["config"] == "shipped"));
}

/// A valid package with its manifest's `sequence` changed and signed again
/// (as a server could): `pack` itself refuses such a sequence.
fn resigned_with_sequence(pkg: &[u8], sequence: u64) -> Vec<u8> {
    use ed25519_dalek::Signer;
    let magic = edgeintent::update::PACKAGE_MAGIC.len();
    let len = u32::from_le_bytes(pkg[magic..magic + 4].try_into().unwrap()) as usize;
    let text = &pkg[magic + 4..magic + 4 + len];
    let mut m: serde_json::Value = serde_json::from_slice(text).unwrap();
    m["sequence"] = sequence.into();
    let text = serde_json::to_vec(&m).unwrap();
    let mut out = pkg[..magic].to_vec();
    out.extend((text.len() as u32).to_le_bytes());
    out.extend(&text);
    let sig = key().sign(&out);
    out.extend(sig.to_bytes());
    out.extend(&pkg[magic + 4 + len + 64..]);
    out
}

/// Issue 35: a sequence number near `u64::MAX` is refused (it would leave no
/// number for a later update or rollback of its kind), by `pack` and by the
/// runtime; the largest allowed one is accepted.
#[test]
fn a_sequence_that_leaves_no_room_is_refused() {
    let err = pack(
        manifest(UpdateKind::Config, "max", u64::MAX),
        &policy_b(),
        &key(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("2^53 - 1"), "{err}");
    let good = package(manifest(UpdateKind::Config, "max", 3), &policy_b());
    let mut rt = runtime(None);
    let err = rt
        .update_config(&resigned_with_sequence(&good, u64::MAX))
        .unwrap_err();
    assert!(err.to_string().contains("2^53 - 1"), "{err}");
    let ok = rt.update_config(&resigned_with_sequence(
        &good,
        edgeintent::update::MAX_SEQUENCE,
    ));
    assert!(ok.is_ok(), "{ok:?}");
}

/// Issue 35: a snapshot made under model update m1, restored under another
/// model, restores features and timers, starts the monitors over, and says so.
#[test]
fn a_snapshot_restored_under_another_model_says_so() {
    let evs = events("fixtures/example_trace.jsonl");
    let mut rt = runtime(None);
    feed(&mut rt, &evs[..500]);
    rt.update_model(&package(
        manifest(UpdateKind::Model, "m1", 1),
        &intent_model(),
    ))
    .unwrap();
    feed(&mut rt, &evs[500..800]);
    let snap = rt.snapshot().unwrap();
    let mut other = runtime(None);
    other.restore(&snap).unwrap();
    assert_eq!(other.stats().snapshots_under_other_model, 1);
    assert_eq!(other.stats().updates.model.version, "shipped");
    let mut same = runtime(None);
    same.update_model(&package(
        manifest(UpdateKind::Model, "m1", 1),
        &intent_model(),
    ))
    .unwrap();
    same.restore(&snap).unwrap();
    assert_eq!(same.stats().snapshots_under_other_model, 0);
}
