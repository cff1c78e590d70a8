//! The integration tests, one binary: the CLI end to end, ONNX Runtime parity
//! (shipped model, layouts, exporter families), recurrent stepping, reviewed
//! replay snapshots, snapshots across restarts, the C ABI, the Java binding,
//! load and faults.
//! Shared helpers live in `common`. The counting-allocator test is its own
//! binary (`tests/alloc.rs`): it installs a global allocator.

mod architecture;
mod cli;
mod cli_tools;
mod common;
mod conformance;
mod families;
mod hostile;
mod hostile_eim;
mod load;
mod monitor;
mod native;
mod parity;
mod persist;
mod recurrent;
mod snapshots;
mod timeline;
mod updates;
