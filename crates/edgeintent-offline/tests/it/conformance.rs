//! The ONNX backend node tests of every `ai.onnx.ml` operator the `onnx`
//! package tests (fixtures/conformance): all pass on our importer; plain
//! tract lacks operators; the runner's report and exit status say so.

use edgeintent::Importer;
use edgeintent_offline::conformance::{self, Outcome};

use crate::common::{edgeintent, fixture, text};

#[test]
fn every_ai_onnx_ml_backend_test_passes_on_our_importer() {
    let dirs = [fixture("fixtures/conformance")];
    let ours = conformance::run(&dirs, Importer::Edgeintent, |_| {}).unwrap();
    assert_eq!(ours.cases.len(), 8);
    let failing: Vec<_> = ours
        .cases
        .iter()
        .filter(|c| c.outcome != Outcome::Pass)
        .map(|c| format!("{}: {:?}", c.name, c.detail))
        .collect();
    assert!(failing.is_empty(), "{failing:#?}");
    assert!(ours.all_passed());
    let plain = conformance::run(&dirs, Importer::PlainTract, |_| {}).unwrap();
    assert!(plain.unsupported >= 3, "{plain:#?}");
    let unsupported = plain
        .cases
        .iter()
        .find(|c| c.name == "test_ai_onnx_ml_label_encoder_string_int")
        .unwrap();
    assert_eq!(unsupported.outcome, Outcome::Unsupported);
    assert!(unsupported
        .detail
        .as_deref()
        .unwrap()
        .contains("ai.onnx.ml.LabelEncoder"));
}

#[test]
fn the_command_exits_non_zero_when_a_test_fails_or_is_unsupported() {
    let ok = edgeintent(&["conformance", "fixtures/conformance"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("edgeintent: 8 of 8 passed"));
    let plain = edgeintent(&[
        "conformance",
        "--plain-tract",
        "--json",
        "fixtures/conformance",
    ]);
    assert!(!plain.status.success());
    let v: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert_eq!(v["importer"], "plain tract");
    assert!(v["unsupported"].as_u64().unwrap() >= 3);
    // A wrong expected value is a failure with the element and the difference.
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("test_binarizer_wrong");
    let src = fixture("fixtures/conformance/test_ai_onnx_ml_binarizer");
    std::fs::create_dir_all(case.join("test_data_set_0")).unwrap();
    std::fs::copy(src.join("model.onnx"), case.join("model.onnx")).unwrap();
    std::fs::copy(
        src.join("test_data_set_0/input_0.pb"),
        case.join("test_data_set_0/input_0.pb"),
    )
    .unwrap();
    // The input as the expected output: not binarized, so it differs.
    std::fs::copy(
        src.join("test_data_set_0/input_0.pb"),
        case.join("test_data_set_0/output_0.pb"),
    )
    .unwrap();
    let bad = edgeintent(&["conformance", case.to_str().unwrap()]);
    assert!(!bad.status.success());
    let out = text(&bad.stdout);
    assert!(out.contains("FAIL") && out.contains("element"), "{out}");
    let none = edgeintent(&["conformance", dir.path().join("nothing").to_str().unwrap()]);
    assert!(!none.status.success());
    assert!(
        text(&none.stderr).contains("nothing"),
        "{}",
        text(&none.stderr)
    );
}
