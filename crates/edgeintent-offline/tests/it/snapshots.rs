//! Reviewed snapshots of the decision streams of the shipped fixtures: a change
//! in behaviour shows up here as a diff to review. An intended change updates
//! the snapshot in the same commit (`INSTA_UPDATE=always cargo test --test it snapshots`,
//! or `cargo insta review`).

use edgeintent::{Config, Runtime, TraceReader};
use edgeintent_offline::{self as sim, ReadOptions};

use crate::common::root;

fn replay(config: &str, trace: &str, with_model: bool) -> String {
    let mut builder = Runtime::builder().config(Config::from_file(root().join(config)).unwrap());
    if !with_model {
        builder = builder.without_model();
    }
    let mut rt = builder.build().unwrap();
    let f = std::fs::File::open(root().join(trace)).unwrap();
    let mut lines = String::new();
    sim::replay(
        &mut rt,
        TraceReader::new(std::io::BufReader::new(f)),
        ReadOptions::default(),
        |_, json| {
            lines.push_str(json);
            lines.push('\n');
            Ok(())
        },
    )
    .unwrap();
    lines
}

#[test]
fn example_trace_decisions_with_the_shipped_model() {
    insta::assert_snapshot!(replay(
        "models/config.json",
        "fixtures/example_trace.jsonl",
        true
    ));
}

#[test]
fn example_trace_decisions_by_the_rules_alone() {
    insta::assert_snapshot!(replay(
        "models/config.json",
        "fixtures/example_trace.jsonl",
        false
    ));
}

#[test]
fn dedup_trace_show_decisions() {
    insta::assert_snapshot!(replay(
        "fixtures/dedup_config.json",
        "fixtures/dedup_trace.jsonl",
        false
    ));
}
