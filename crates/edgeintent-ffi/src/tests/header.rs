//! `include/edgeintent.h` is cbindgen's output for this crate
//! (`crates/edgeintent-ffi/cbindgen.toml`), so the C signatures cannot drift
//! from the Rust ones. After changing the ABI, regenerate it with
//! `EDGEINTENT_BLESS=1 cargo test -p edgeintent-ffi header` and review the diff.

use super::root;

#[test]
fn the_header_is_cbindgens_output_for_this_crate() {
    let crate_dir = root().join("crates/edgeintent-ffi");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen reads the crate")
        .write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();
    let path = root().join("include/edgeintent.h");
    if std::env::var_os("EDGEINTENT_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == generated,
        "include/edgeintent.h is not cbindgen's output for the crate: regenerate it with \
         EDGEINTENT_BLESS=1 cargo test -p edgeintent-ffi header, and review the diff"
    );
}
