//! Crafted `.eim` packages with valid checksums (issue 35): deep nesting, a
//! plan that passed the checks and panicked when run, huge claims. Each must
//! be refused at load with a clear error, on a small stack too, and never
//! reach a run; through a signed update it is refused and counted.

use std::path::Path;

use edgeintent::update::{pack, signing_key_from_hex, Manifest, UpdateKind};
use edgeintent::{Config, IntentModel, ModelError, ModelOptions, Runtime, UpdateError};
use sha2::{Digest, Sha256};

use crate::common::{decision_lines, events, fixture};

/// bincode 2's variable-length integer.
fn uv(n: u64) -> Vec<u8> {
    if n < 251 {
        vec![n as u8]
    } else if n < 1 << 16 {
        [&[251u8][..], &(n as u16).to_le_bytes()].concat()
    } else if n < 1 << 32 {
        [&[252u8][..], &(n as u32).to_le_bytes()].concat()
    } else {
        [&[253u8][..], &n.to_le_bytes()].concat()
    }
}

fn string(s: &str) -> Vec<u8> {
    [uv(s.len() as u64), s.as_bytes().to_vec()].concat()
}

fn floats(v: &[f32]) -> Vec<u8> {
    let mut out = uv(v.len() as u64);
    v.iter().for_each(|x| out.extend(x.to_le_bytes()));
    out
}

fn slot(offset: u64, len: u64) -> Vec<u8> {
    [uv(offset), uv(len)].concat()
}

struct Reader<'a>(&'a [u8], usize);

impl Reader<'_> {
    fn uv(&mut self) -> u64 {
        let c = self.0[self.1];
        self.1 += 1;
        let width = match c {
            0..=250 => return u64::from(c),
            251 => 2,
            252 => 4,
            _ => 8,
        };
        let mut b = [0u8; 8];
        b[..width].copy_from_slice(&self.0[self.1..self.1 + width]);
        self.1 += width;
        u64::from_le_bytes(b)
    }

    fn skip_string(&mut self) {
        let n = self.uv() as usize;
        self.1 += n;
    }
}

/// The shipped package's payload up to its plan (metadata, output, reading).
fn shipped_prefix() -> Vec<u8> {
    let bytes = std::fs::read(fixture("models/intent.eim")).unwrap();
    let body = &bytes[48..];
    let mut r = Reader(body, 0);
    for _ in 0..r.uv() * 2 {
        r.skip_string();
    }
    r.skip_string(); // producer
    r.skip_string(); // output name
    if r.uv() == 0 {
        r.uv(); // the column read
    }
    body[..r.1].to_vec()
}

fn wrap(body: &[u8]) -> Vec<u8> {
    let mut out = b"EIM\0".to_vec();
    out.extend(1u32.to_le_bytes());
    out.extend((body.len() as u64).to_le_bytes());
    out.extend(Sha256::digest(body));
    out.extend(body);
    out
}

fn step(kernel: Vec<u8>, inputs: &[(u64, u64)], output: (u64, u64), name: &str) -> Vec<u8> {
    let mut s = kernel;
    s.extend(uv(inputs.len() as u64));
    inputs.iter().for_each(|&(o, l)| s.extend(slot(o, l)));
    s.extend(slot(output.0, output.1));
    s.extend(string(name));
    s
}

fn plan(n_in: u64, steps: &[Vec<u8>], output: (u64, u64), arena: u64) -> Vec<u8> {
    let mut p = uv(n_in);
    p.extend(uv(steps.len() as u64));
    steps.iter().for_each(|s| p.extend(s));
    p.extend(slot(output.0, output.1));
    p.extend(uv(arena));
    p
}

/// `Kernel::Affine { w, b }` (variant 1).
fn affine(w: &[f32], b: &[f32]) -> Vec<u8> {
    [uv(1), floats(w), floats(b)].concat()
}

/// `Kernel::LinearClassifier` (variant 2) around `inner`, post transform NONE.
fn classifier(inner: Vec<u8>, second_class: bool) -> Vec<u8> {
    [uv(2), inner, uv(0), vec![u8::from(second_class)]].concat()
}

/// Every crafted package, by name (the reproducers of `repro/eim/mk.py`).
fn crafted() -> Vec<(&'static str, Vec<u8>)> {
    let prefix = shipped_prefix();
    let pkg = |p: Vec<u8>| wrap(&[prefix.clone(), p].concat());
    let two = affine(&[0.0; 68], &[0.0, 0.0]);
    let deep = |depth: usize| {
        let mut k = uv(2).repeat(depth);
        k.extend(&two);
        k.extend([uv(0), vec![1]].concat().repeat(depth));
        pkg(plan(
            34,
            &[step(k, &[(0, 34)], (34, 2), "deep")],
            (34, 2),
            36,
        ))
    };
    vec![
        (
            "A_panic",
            pkg(plan(
                34,
                &[step(
                    classifier(two.clone(), true),
                    &[(0, 34)],
                    (34, 2),
                    "lc",
                )],
                (34, 2),
                36,
            )),
        ),
        (
            "A2_panic",
            pkg(plan(
                34,
                &[step(
                    classifier(affine(&[], &[]), true),
                    &[(0, 34)],
                    (34, 2),
                    "lc",
                )],
                (34, 2),
                36,
            )),
        ),
        ("B_deep1000", deep(1000)),
        ("B_deep100000", deep(100_000)),
        ("C_arena", pkg(plan(34, &[], (0, 2), 1 << 26))),
        (
            "D_veclen",
            pkg(plan(
                34,
                &[step(
                    [uv(12), uv(1 << 40)].concat(),
                    &[(0, 34)],
                    (34, 2),
                    "g",
                )],
                (34, 2),
                36,
            )),
        ),
        (
            "F_gather",
            pkg(plan(
                34,
                &[step(
                    [uv(12), uv(2), uv(0), uv(99)].concat(),
                    &[(0, 34)],
                    (34, 2),
                    "g",
                )],
                (34, 2),
                36,
            )),
        ),
        (
            "G_ovf",
            pkg(plan(
                34,
                &[step(uv(14), &[(0xffff_ffff, 2)], (34, 2), "c")],
                (34, 2),
                36,
            )),
        ),
    ]
}

fn load(bytes: &[u8]) -> Result<IntentModel, ModelError> {
    let cfg = Config::from_file(fixture("models/config.device.json")).unwrap();
    let opts = ModelOptions::for_path("crafted.eim");
    IntentModel::from_bytes(bytes, Path::new("crafted.eim"), &opts, cfg.features())
}

#[test]
fn the_crafted_prefix_rebuilds_a_package_that_loads() {
    // The crafting is right: the shipped plan, re-wrapped, still loads.
    let bytes = std::fs::read(fixture("models/intent.eim")).unwrap();
    assert_eq!(wrap(&bytes[48..]), bytes);
    assert!(shipped_prefix().len() < bytes.len() - 48);
    load(&bytes).unwrap();
}

#[test]
fn crafted_packages_are_refused_at_load_on_a_small_stack() {
    // A phone's worker thread has a small stack: decode there.
    let handle = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(|| {
            crafted()
                .into_iter()
                .map(|(name, bytes)| (name, load(&bytes).map(|_| ()).map_err(|e| e.to_string())))
                .collect::<Vec<_>>()
        })
        .unwrap();
    for (name, result) in handle.join().expect("no crash on a 256 KiB stack") {
        let err = result.expect_err(name);
        assert!(err.contains("crafted.eim"), "{name}: {err}");
        assert!(
            !err.contains("ONNX"),
            "{name}: an .eim error, not an ONNX one: {err}"
        );
        let why = match name {
            "A_panic" | "A2_panic" => "do not match its kernel's sizes",
            "B_deep1000" | "B_deep100000" => "must be an affine kernel",
            "C_arena" => "memory budget",
            "D_veclen" => "ends early",
            _ => "",
        };
        assert!(err.contains(why), "{name}: {err}");
    }
}

#[test]
fn a_truncated_package_says_so_and_a_forged_version_is_named() {
    let bytes = std::fs::read(fixture("models/intent.eim")).unwrap();
    let body = &bytes[48..bytes.len() - 100];
    let err = load(&wrap(body)).unwrap_err().to_string();
    assert!(err.contains("ends early"), "{err}");
    let mut v2 = bytes.clone();
    v2[4] = 2;
    let err = load(&v2).unwrap_err().to_string();
    assert!(err.contains("format version 2"), "{err}");
}

#[test]
fn a_crafted_model_update_is_refused_counted_and_decisions_go_on() {
    let hex = std::fs::read_to_string(fixture("fixtures/updates/test_signing_key.hex")).unwrap();
    let key = signing_key_from_hex(&hex).unwrap();
    let cfg = Config::from_file(fixture("fixtures/updates/config.json")).unwrap();
    let mut rt = Runtime::builder()
        .config(cfg)
        .user_id("user-7")
        .build()
        .unwrap();
    let evs = events("fixtures/example_trace.jsonl");
    let (first, second) = evs.split_at(evs.len() / 2);
    decision_lines(&mut rt, first);
    for (seq, (name, bytes)) in crafted().into_iter().enumerate() {
        let m = Manifest::new(UpdateKind::Model, name, 10 + seq as u64);
        let err = rt
            .update_model(&pack(m, &bytes, &key).unwrap())
            .unwrap_err();
        assert!(matches!(err, UpdateError::Model { .. }), "{name}: {err}");
    }
    assert_eq!(rt.stats().updates.refused, crafted().len() as u64);
    let after = decision_lines(&mut rt, second);
    assert!(after.iter().any(|d| d["action"] == "refresh"));
}
