//! The C ABI's tests: calls from Rust (`basics`, `abi`), C hosts built
//! against the library (`hosts`), the Java binding (`java`), and the header
//! against cbindgen's output (`header`). Helpers they share are here.
//!
//! The hosts link `target/<profile>/libedgeintent.so` and compare with the
//! `edgeintent` command beside it: `cargo build` (scripts/test.sh does)
//! before `cargo test`, since `cargo test` builds neither.

mod abi;
mod basics;
mod header;
mod hosts;
mod java;

use std::ffi::{c_char, CStr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (fixtures, models, include/).
pub(super) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A JSON file, parsed.
pub(super) fn json_file(path: impl AsRef<Path>) -> serde_json::Value {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Bytes as text, lossily.
pub(super) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The `edgeintent` command built beside the library.
pub(super) fn edgeintent_bin() -> PathBuf {
    let bin = lib_dir().join("edgeintent");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build` before `cargo test` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// Runs the `edgeintent` command from the repository root.
pub(super) fn edgeintent(args: &[&str]) -> Output {
    Command::new(edgeintent_bin())
        .args(args)
        .current_dir(root())
        .output()
        .expect("run edgeintent")
}

/// `edgeintent replay` of `trace` with `config`: its decision lines.
pub(super) fn cli_replay(config: &str, trace: &Path) -> String {
    let out = edgeintent(&["replay", "--config", config, trace.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// `target/<profile>`, where cargo put the cdylib next to this test's folder.
pub(super) fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_owned()
}

pub(super) fn build_c(source: &str, lib: &Path, out: &Path, extra: &[&str]) -> bool {
    let lib = lib.to_owned();
    assert!(
        lib.join("libedgeintent.so").exists(),
        "{}/libedgeintent.so is missing: run `cargo build` before `cargo test` \
         (scripts/test.sh does), since `cargo test` builds only the rlib",
        lib.display()
    );
    let status = Command::new("cc")
        .args(extra)
        .arg(root().join(source))
        .arg(format!("-I{}", root().join("include").display()))
        .arg(format!("-L{}", lib.display()))
        .arg("-ledgeintent")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-Wall", "-Wextra", "-Werror", "-o"])
        .arg(out)
        .status()
        .expect("a C compiler (cc) is needed for the FFI tests");
    status.success()
}

pub(super) unsafe extern "C" fn collect(user: *mut std::ffi::c_void, json: *const c_char) {
    // SAFETY: `user` is the Mutex<Vec<String>> the test passed; `json` is a
    // valid C string for the call.
    let lines = unsafe { &*(user as *const std::sync::Mutex<Vec<String>>) };
    let line = unsafe { CStr::from_ptr(json) }
        .to_string_lossy()
        .into_owned();
    lines.lock().unwrap().push(line);
}

pub(super) fn shipped_config_json() -> std::ffi::CString {
    config_json("models/config.json")
}

/// A config under the repository root as JSON, its model and spec paths
/// made absolute (they point into models/).
pub(super) fn config_json(config: &str) -> std::ffi::CString {
    let mut v = json_file(root().join(config));
    v["model"]["path"] = root()
        .join("models/intent.onnx")
        .display()
        .to_string()
        .into();
    v["features"] = root()
        .join("models/feature_spec.json")
        .display()
        .to_string()
        .into();
    std::ffi::CString::new(v.to_string()).unwrap()
}

pub(super) unsafe extern "C" fn log_line(
    user: *mut std::ffi::c_void,
    level: std::ffi::c_int,
    msg: *const c_char,
) {
    // SAFETY: as in `collect`.
    let lines = unsafe { &*(user as *const std::sync::Mutex<Vec<String>>) };
    let msg = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
    lines.lock().unwrap().push(format!("{level} {msg}"));
}
