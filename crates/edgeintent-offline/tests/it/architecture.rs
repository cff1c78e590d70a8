//! The invariants `ARCHITECTURE.md` states, checked on the source tree of
//! every crate in the workspace: one engine boundary, one clock reader, no
//! file over 900 lines, and no import circle between files (a module never
//! imports one that imports it back, directly or around a loop).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common::root;

/// A crate's module tree: its root folder and the file that is its root.
struct CrateTree {
    name: &'static str,
    dir: &'static str,
    root_file: &'static str,
}

const CRATES: [CrateTree; 5] = [
    CrateTree {
        name: "edgeintent",
        dir: "crates/edgeintent/src",
        root_file: "lib.rs",
    },
    CrateTree {
        name: "edgeintent-ffi",
        dir: "crates/edgeintent-ffi/src",
        root_file: "lib.rs",
    },
    CrateTree {
        name: "edgeintent-offline",
        dir: "crates/edgeintent-offline/src",
        root_file: "lib.rs",
    },
    CrateTree {
        name: "edgeintent (command)",
        dir: "crates/edgeintent-offline/src/bin/edgeintent",
        root_file: "main.rs",
    },
    CrateTree {
        name: "edgeintent-python",
        dir: "bindings/python/src",
        root_file: "lib.rs",
    },
];

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

/// Every `.rs` file of a crate (another crate root's folder excluded),
/// relative to its folder, with its text.
fn files(c: &CrateTree) -> Vec<(String, String)> {
    let dir = root().join(c.dir);
    let mut paths = Vec::new();
    walk(&dir, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .filter(|(rel, _)| !(c.root_file == "lib.rs" && rel.starts_with("bin/")))
        .collect()
}

/// The device library's files.
fn device_sources() -> Vec<(String, String)> {
    files(&CRATES[0])
}

/// Code without comments, string and char literals, and its inline
/// `#[cfg(test)] mod tests { ... }`.
fn code(text: &str) -> String {
    // The test module at the end of a file (`#[cfg(test)]`, or a cfg
    // that includes `test`).
    let body = match text.find("\nmod tests {") {
        Some(i)
            if text[..i]
                .lines()
                .last()
                .is_some_and(|l| l.contains("cfg(") && l.contains("test")) =>
        {
            &text[..text[..i].rfind('\n').unwrap_or(0)]
        }
        _ => text,
    };
    let b = body.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1).copied()) {
            (b'/', Some(b'/')) => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => {
                let end = body[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                i = end;
            }
            (b'"', _) => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            (b'r', Some(b'#')) | (b'r', Some(b'"'))
                if i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') =>
            {
                // A raw string: r"..." or r#"..."#.
                let hashes = body[i + 1..].bytes().take_while(|&c| c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let start = i + 2 + hashes;
                i = body[start..]
                    .find(&close)
                    .map_or(b.len(), |e| start + e + close.len());
                out.push_str("\"\"");
            }
            (b'\'', _) if b.get(i + 2) == Some(&b'\'') || b.get(i + 1) == Some(&b'\\') => {
                // A char literal ('x' or '\n'); lifetimes have no closing quote.
                let end = body[i + 1..].find('\'').map_or(b.len(), |e| i + 1 + e + 1);
                i = end;
                out.push_str("' '");
            }
            _ => {
                out.push(b[i] as char);
                i += 1;
            }
        }
    }
    out
}

/// A file's module path (`model/engine/mod.rs` → `["model", "engine"]`).
fn module_of(rel: &str, root_file: &str) -> Vec<String> {
    let no_ext = rel.strip_suffix(".rs").unwrap();
    let mut parts: Vec<String> = no_ext.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|l| l == "mod") || rel == root_file {
        parts.pop();
    }
    parts
}

/// The paths a `use` tree names (`a::{b, c::d}` → `a::b`, `a::c::d`).
fn expand_use(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let base: Vec<String> = prefix.iter().cloned().chain(head).collect();
        let mut depth = 0;
        let mut start = 0;
        for (k, ch) in inner.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_use(&inner[start..k], &base, out);
                    start = k + 1;
                }
                _ => {}
            }
        }
        expand_use(&inner[start..], &base, out);
    } else {
        let path = tree.split(" as ").next().unwrap_or(tree);
        out.push(
            prefix
                .iter()
                .cloned()
                .chain(
                    path.split("::")
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                )
                .collect(),
        );
    }
}

/// Every path a file's code names: its `use` trees and inline
/// `crate::`, `super::` and `self::` paths.
fn named_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        let tail = &rest[at + 4..];
        let end = tail.find(';').unwrap_or(tail.len());
        if before.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_')) {
            expand_use(&tail[..end], &[], &mut out);
        }
        rest = &tail[end.min(tail.len())..];
    }
    for start in ["crate::", "super::", "self::"] {
        for (i, _) in code.match_indices(start) {
            if code[..i]
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            {
                continue;
            }
            let path: Vec<String> = code[i..]
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or("")
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            out.push(path);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The file-level import graph of a crate: file → the files it imports.
fn import_graph(c: &CrateTree) -> BTreeMap<String, BTreeSet<String>> {
    let files = files(c);
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|(rel, _)| (module_of(rel, c.root_file), rel.clone()))
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, text) in &files {
        let here = module_of(rel, c.root_file);
        let edges = graph.entry(rel.clone()).or_default();
        for path in named_paths(&code(text)) {
            let Some(first) = path.first() else { continue };
            let (mut base, rest): (Vec<String>, &[String]) = match first.as_str() {
                "crate" => (Vec::new(), &path[1..]),
                "self" => (here.clone(), &path[1..]),
                "super" => {
                    let mut b = here.clone();
                    let mut k = 0;
                    while path.get(k).is_some_and(|p| p == "super") {
                        b.pop();
                        k += 1;
                    }
                    (b, &path[k..])
                }
                // A child module named without a prefix (`use engine::Plan`).
                _ => {
                    let child: Vec<String> = here.iter().chain([first]).cloned().collect();
                    if !modules.contains_key(&child) {
                        continue;
                    }
                    (here.clone(), &path[..])
                }
            };
            for seg in rest {
                base.push(seg.clone());
                if !modules.contains_key(&base) {
                    base.pop();
                    break;
                }
            }
            if let Some(target) = modules.get(&base) {
                if target != rel {
                    edges.insert(target.clone());
                }
            }
        }
    }
    graph
}

/// A circle in `graph`, as the files around it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
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
        for d in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_file_imports_one_that_imports_it_back() {
    let mut circles = Vec::new();
    for c in &CRATES {
        if let Some(cycle) = find_cycle(&import_graph(c)) {
            circles.push(format!("{}: {}", c.name, cycle.join(" -> ")));
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_import_checker_sees_a_circle_through_a_parent_module() {
    let files = [
        (
            "mod.rs",
            "mod child;\npub use child::Thing;\npub struct Parent;",
        ),
        ("child.rs", "use super::Parent;\npub struct Thing(Parent);"),
    ];
    let modules: Vec<Vec<String>> = files.iter().map(|(r, _)| module_of(r, "lib.rs")).collect();
    assert_eq!(modules, [Vec::<String>::new(), vec!["child".to_owned()]]);
    let paths = named_paths(&code(files[1].1));
    assert_eq!(paths, [vec!["super".to_owned(), "Parent".to_owned()]]);
    let mut out = Vec::new();
    expand_use("crate::a::{b, c::{d, e as f}}", &[], &mut out);
    assert_eq!(out.len(), 3);
    assert_eq!(out[2], ["crate", "a", "c", "e"]);
    let stripped = code("let s = \"crate::x\"; // crate::y\nlet t = r#\"crate::z\"#;");
    assert!(!stripped.contains("crate::"), "{stripped}");
}

#[test]
fn no_source_file_is_over_900_lines() {
    let mut long = Vec::new();
    for dir in ["crates", "bindings", "training", "scripts", "examples"] {
        let mut paths = Vec::new();
        walk_all(&root().join(dir), &mut paths);
        for p in paths {
            let n = std::fs::read_to_string(&p).map_or(0, |t| t.lines().count());
            if n > 900 {
                long.push(format!("{} ({n} lines)", p.display()));
            }
        }
    }
    assert!(long.is_empty(), "files over 900 lines: {long:?}");
}

/// Every `.rs` and `.py` file under `dir`, build outputs excluded.
fn walk_all(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy();
        if p.is_dir() {
            if !matches!(name.as_ref(), "target" | "node_modules" | ".venv" | "data") {
                walk_all(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs" || x == "py") {
            out.push(p);
        }
    }
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
    let offenders: Vec<String> = device_sources()
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
    for c in &CRATES[..3] {
        for (rel, text) in files(c) {
            let code = code(&text);
            // Time comes from events; the worker alone advances it between
            // them (by elapsed time since the last event, never Unix time).
            assert!(
                !code.contains("SystemTime"),
                "{}/{rel} reads the wall clock",
                c.dir
            );
            // Elsewhere Instant measures durations (decision latency,
            // benchmarks), or carries the clock in worker mode.
            if code.contains("Instant::now") {
                let allowed = match c.name {
                    "edgeintent" => rel == "runtime/worker.rs" || rel == "runtime/decide.rs",
                    "edgeintent-offline" => true,
                    _ => false,
                };
                assert!(allowed, "{}/{rel} reads a monotonic clock", c.dir);
            }
        }
    }
}

#[test]
fn unsafe_code_lives_in_the_ffi_crate_and_one_engine_file() {
    for (rel, text) in device_sources() {
        if code(&text).contains("unsafe ") {
            assert_eq!(rel, "model/engine/mod.rs", "unsafe code in {rel}");
        }
    }
    let lib = std::fs::read_to_string(root().join("crates/edgeintent/src/lib.rs")).unwrap();
    assert!(lib.contains("#![deny(unsafe_code)]"));
}

#[test]
fn the_readme_example_is_the_guides_doc_tested_one() {
    let rust_blocks = |text: &str| -> Vec<String> {
        text.split("```rust")
            .skip(1)
            .map(|b| {
                let b = b.split_once('\n').map_or("", |(_, rest)| rest);
                b.split("```").next().unwrap_or("").to_owned()
            })
            .collect()
    };
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let guide = std::fs::read_to_string(root().join("docs/embedding.md")).unwrap();
    let guide_blocks = rust_blocks(&guide);
    for block in rust_blocks(&readme) {
        assert!(
            guide_blocks.contains(&block),
            "README example not in docs/embedding.md:\n{block}"
        );
    }
    let size = std::fs::metadata(root().join("README.md")).unwrap().len();
    assert!(
        size <= 20 * 1024,
        "README.md is {size} bytes; the front door stays under 20 KB"
    );
}
