//! Any bytes as an update package (container and signature checks), and as
//! the fields and payload of a package signed with the test key, so the
//! fuzzer gets past the signature to the manifest checks, the delivered
//! config's parser and checks, and the model loader: a compromised or buggy
//! server. Nothing panics; a refused update leaves the versions in force.
#![no_main]

use edgeintent::update::{pack, signing_key_from_hex, Manifest, Rollout, RolloutArm, UpdateKind};
use edgeintent::{Config, Runtime};
use libfuzzer_sys::fuzz_target;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/updates");

fuzz_target!(|data: &[u8]| {
    let cfg = Config::from_file(format!("{DIR}/config.json")).expect("config");
    let mut rt = Runtime::builder()
        .config(cfg)
        .user_id("fuzz")
        .build()
        .expect("runtime");
    let before = rt.versions();
    if rt.update(data).is_err() {
        assert_eq!(rt.versions().config, before.config);
        assert_eq!(rt.versions().model, before.model);
    }
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (seq, payload) = rest.split_at(rest.len().min(2));
    let share = f64::from(seq.first().copied().unwrap_or(128)) / 255.0;
    let manifest = Manifest {
        format: 1,
        kind: if flags & 1 == 0 { UpdateKind::Config } else { UpdateKind::Model },
        version: format!("fuzz-{flags}"),
        sequence: u64::from(seq.iter().fold(0u16, |a, &b| a << 8 | u16::from(b))).max(1) + 10,
        payload_sha256: String::new(),
        payload_bytes: 0,
        reset_state: flags & 2 != 0,
        rollback: flags & 4 != 0,
        min_app_version: (flags & 8 != 0).then(|| format!("{}.{}", flags >> 4, flags & 7)),
        rollout: (flags & 16 != 0).then(|| Rollout {
            salt: "fuzz".into(),
            arms: vec![
                RolloutArm { name: "a".into(), share, apply: flags & 32 != 0 },
                RolloutArm { name: "b".into(), share: 1.0 - share, apply: true },
            ],
        }),
    };
    let key = signing_key_from_hex(&std::fs::read_to_string(format!("{DIR}/test_signing_key.hex")).expect("key"))
        .expect("key");
    let Ok(signed) = pack(manifest, payload, &key) else {
        return; // the server side refuses it first (an impossible roll-out)
    };
    let before = rt.versions();
    match rt.update(&signed) {
        Ok(_) => {
            // Whatever went in force keeps deciding.
            let _ = rt.process(edgeintent::Event {
                ts_ms: 1_767_600_190_745,
                kind: edgeintent::EventKind::AppForeground,
            });
            while rt.poll().is_some() {}
            let _ = rt.snapshot();
        }
        Err(_) => {
            assert_eq!(rt.versions().config, before.config);
            assert_eq!(rt.versions().model, before.model);
        }
    }
});
