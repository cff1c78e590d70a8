//! The invariants `ARCHITECTURE.md` states, checked on the source tree: one
//! engine boundary, one clock reader, a device library that never reaches into
//! the offline tools, and no import cycles between top-level modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common::root;

/// Every `.rs` file under `src/` (the CLI binary excluded), relative to `src/`.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let src = root().join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .filter(|(rel, _)| !rel.starts_with("bin/"))
        .collect()
}

/// The code of a file without its comments and its `#[cfg(test)]` module.
fn code(text: &str) -> String {
    let body = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    body.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module a file belongs to (`model/engine/mod.rs` → `model`).
fn top_module(rel: &str) -> &str {
    let first = rel.split('/').next().unwrap();
    first.strip_suffix(".rs").unwrap_or(first)
}

const TRACT_CRATES: [&str; 6] = [
    "tract_onnx",
    "tract_core",
    "tract_data",
    "tract_hir",
    "tract_linalg",
    "tract_nnef",
];

#[test]
fn only_the_engine_and_the_added_ops_touch_tract() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|(rel, text)| {
            !rel.starts_with("model/engine/")
                && !rel.starts_with("model/ops/")
                && TRACT_CRATES.iter().any(|c| code(text).contains(c))
        })
        .map(|(rel, _)| rel)
        .collect();
    assert!(
        offenders.is_empty(),
        "tract used outside model/engine and model/ops: {offenders:?}"
    );
}

#[test]
fn only_the_worker_reads_the_wall_clock() {
    for (rel, text) in sources() {
        let code = code(&text);
        // Time comes from events; the worker alone advances it between them
        // (by elapsed time since the last event, never Unix time).
        assert!(!code.contains("SystemTime"), "{rel} reads the wall clock");
        // Elsewhere Instant measures durations (decision latency, benchmarks).
        if code.contains("Instant::now") {
            assert!(
                rel == "runtime/worker.rs"
                    || rel == "runtime/mod.rs"
                    || rel.starts_with("offline/"),
                "{rel} reads a monotonic clock"
            );
        }
    }
}

#[test]
fn the_device_library_never_uses_the_offline_tools() {
    for (rel, text) in sources() {
        if top_module(&rel) == "offline" || rel == "lib.rs" {
            continue;
        }
        let code = code(&text);
        assert!(
            !code.contains("crate::offline"),
            "{rel} uses crate::offline"
        );
        assert!(
            !code.contains("clap::") && !code.contains("indicatif"),
            "{rel} uses a CLI crate"
        );
    }
}

#[test]
fn top_level_modules_import_each_other_without_cycles() {
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let files = sources();
    let modules: BTreeSet<String> = files
        .iter()
        .map(|(r, _)| top_module(r).to_owned())
        .collect();
    for (rel, text) in &files {
        let from = top_module(rel).to_owned();
        if from == "lib" {
            continue;
        }
        let code = code(text);
        let entry = deps.entry(from.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name != from && modules.contains(&name) {
                entry.insert(name);
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        deps: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_owned());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for d in deps.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, deps, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for m in deps.keys() {
        if let Some(cycle) = visit(m, &deps, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}
