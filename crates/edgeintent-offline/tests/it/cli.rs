//! End-to-end tests of the `edgeintent` command on the shipped fixtures.

use crate::common::*;

use std::path::{Path, PathBuf};

/// A config like the shipped one but using another model file.
fn config_with_model(dir: &Path, model: &Path) -> PathBuf {
    let cfg = serde_json::json!({
        "model": {"path": model},
        "features": root().join("models/feature_spec.json"),
    });
    let p = dir.join("config.json");
    std::fs::write(&p, cfg.to_string()).unwrap();
    p
}

#[test]
fn replay_of_the_example_trace_prints_refresh_decisions_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let out = edgeintent(&[
        "replay",
        "--summary",
        summary.to_str().unwrap(),
        "fixtures/example_trace.jsonl",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let decisions: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert!(!decisions.is_empty());
    assert!(decisions.iter().all(|d| d["action"] == "refresh"));
    let reasons: Vec<&str> = decisions
        .iter()
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"model"),
        "the model decides some refreshes"
    );
    assert!(reasons.contains(&"trigger:pull_to_refresh"));
    let s = json_file(&summary);
    let threshold = s["runtime"]["threshold"].as_f64().unwrap();
    for d in decisions.iter().filter(|d| d["reason"] == "model") {
        let score = d["score"].as_f64().unwrap();
        assert!((threshold..=1.0).contains(&score), "{d}");
    }
    let ts: Vec<i64> = decisions
        .iter()
        .map(|d| d["ts_ms"].as_i64().unwrap())
        .collect();
    assert!(
        ts.windows(2).all(|w| w[0] <= w[1]),
        "decisions are in time order"
    );

    let stderr = text(&out.stderr);
    assert!(stderr.contains("decision latency p50"), "{stderr}");
    assert!(stderr.contains("model: loaded"), "{stderr}");
    assert_eq!(s["read"]["skipped_invalid"], 0);
    assert_eq!(
        s["runtime"]["decisions"].as_u64().unwrap(),
        decisions.len() as u64
    );
    assert!(s["runtime"]["decision_latency_p99_ns"].as_u64().unwrap() > 0);
}

#[test]
fn replay_is_deterministic() {
    let a = edgeintent(&["replay", "fixtures/example_trace.jsonl"]);
    let b = edgeintent(&["replay", "fixtures/example_trace.jsonl"]);
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn a_malformed_line_fails_naming_the_line_without_panicking() {
    let out = edgeintent(&["replay", "fixtures/malformed_line.jsonl"]);
    assert!(!out.status.success());
    assert_no_panic(&out);
    let err = text(&out.stderr);
    assert!(err.contains("line 3:"), "{err}");
    assert!(err.contains("--skip-invalid"), "{err}");
}

#[test]
fn skip_invalid_completes_and_counts_the_skipped_line() {
    let (out, s) = replay_with_summary(&["--skip-invalid", "fixtures/malformed_line.jsonl"]);
    assert_eq!(s["read"]["skipped_invalid"], 1);
    assert_eq!(s["read"]["events"], 3);
    assert!(text(&out.stdout).contains("trigger:pull_to_refresh"));
}

#[test]
fn a_model_trained_on_another_feature_spec_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_model(
        dir.path(),
        &root().join("fixtures/models/mismatched_spec.onnx"),
    );
    let out = edgeintent(&[
        "replay",
        "--config",
        cfg.to_str().unwrap(),
        "fixtures/example_trace.jsonl",
    ]);
    assert!(!out.status.success());
    assert_no_panic(&out);
    let err = text(&out.stderr);
    assert!(
        err.contains("trained on feature spec fnv1a64:0000000000000000"),
        "{err}"
    );
    assert!(err.contains("retrain"), "{err}");
    assert!(out.stdout.is_empty(), "no decisions from a refused model");
}

#[test]
fn a_model_without_package_metadata_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_model(dir.path(), &root().join("fixtures/models/no_metadata.onnx"));
    let out = edgeintent(&[
        "replay",
        "--config",
        cfg.to_str().unwrap(),
        "fixtures/example_trace.jsonl",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("edgeintent.feature_spec_hash"), "{err}");
}

#[test]
fn an_optional_model_that_fails_falls_back_to_rules_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({
        "model": {"path": root().join("fixtures/models/mismatched_spec.onnx"), "required": false},
        "features": root().join("models/feature_spec.json"),
    });
    let p = dir.path().join("c.json");
    std::fs::write(&p, cfg.to_string()).unwrap();
    let out = edgeintent(&[
        "replay",
        "--config",
        p.to_str().unwrap(),
        "fixtures/example_trace.jsonl",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("FAILED, rules decide"));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("fallback:no_model"));
    assert!(!stdout.contains("\"reason\":\"model\""));
}

#[test]
fn featurize_writes_one_row_per_decision_point_and_the_spec_identity() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    let out = edgeintent(&[
        "featurize",
        "--out",
        csv.to_str().unwrap(),
        "fixtures/example_trace.jsonl",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows = std::fs::read_to_string(&csv).unwrap();
    let header: Vec<&str> = rows.lines().next().unwrap().split(',').collect();
    assert_eq!(&header[..2], ["ts_ms", "point"]);
    assert!(rows
        .lines()
        .skip(1)
        .all(|l| l.split(',').count() == header.len()));
    let identity: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}.spec.json", csv.display())).unwrap(),
    )
    .unwrap();
    let spec_out = edgeintent(&["spec"]);
    let spec: serde_json::Value = serde_json::from_slice(&spec_out.stdout).unwrap();
    assert_eq!(identity["feature_spec_hash"], spec["feature_spec_hash"]);
    assert_eq!(
        identity["feature_names"].as_array().unwrap().len(),
        header.len() - 2
    );
}

#[test]
fn inspect_lists_interface_metadata_and_op_support() {
    let out = edgeintent(&["inspect", "models/intent.onnx"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("input features: float [?, 34]"), "{s}");
    assert!(s.contains("output probabilities"), "{s}");
    assert!(s.contains("edgeintent.feature_spec_hash"), "{s}");
    assert!(
        s.contains("ai.onnx.ml.TreeEnsembleClassifier: supported"),
        "{s}"
    );
    let json = edgeintent(&["inspect", "--json", "models/intent.onnx"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(v["load_error"].is_null());
}

#[test]
fn inspect_of_a_non_model_is_an_error_not_a_panic() {
    let out = edgeintent(&["inspect", "fixtures/example_truth.jsonl"]);
    assert!(!out.status.success());
    assert_no_panic(&out);
    assert!(
        text(&out.stderr).contains("not a valid ONNX file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_missing_trace_or_config_is_a_clear_error() {
    let out = edgeintent(&["replay", "fixtures/nope.jsonl"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("fixtures/nope.jsonl"));
    let out = edgeintent(&[
        "replay",
        "--config",
        "nope.json",
        "fixtures/example_trace.jsonl",
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("nope.json: cannot read"));
}

#[test]
fn predict_prints_every_output_per_row_and_accepts_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let fx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            root().join("fixtures/families/sklearn_gradient_boosting_multi.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let rows = fx["inputs"].as_array().unwrap();
    let width = rows[0].as_array().unwrap().len();
    let mut csv = (0..width)
        .map(|i| format!("f{i}"))
        .collect::<Vec<_>>()
        .join(",")
        + "\n";
    for r in rows.iter().take(5) {
        let cells: Vec<String> = r
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().map_or("nan".into(), |v| v.to_string()))
            .collect();
        csv += &(cells.join(",") + "\n");
    }
    let input = dir.path().join("x.csv");
    std::fs::write(&input, csv).unwrap();
    let out = edgeintent(&[
        "predict",
        "--model",
        "fixtures/families/sklearn_gradient_boosting_multi.onnx",
        "--input",
        input.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    let labels = fx["outputs"]["output_label"].as_array().unwrap();
    let probs = fx["outputs"]["output_probability"].as_array().unwrap();
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["output_label"], serde_json::json!([labels[i]]));
        let p = line["output_probability"].as_array().unwrap();
        assert_eq!(p.len(), 3, "ZipMap output as one probability per class");
        for (k, v) in p.iter().enumerate() {
            let want = probs[i * 3 + k].as_f64().unwrap();
            assert!((v.as_f64().unwrap() - want).abs() < 1e-6);
        }
    }
}

/// Runs `predict` on `csv` with the unsupported-op model; returns (success, stderr).
fn predict_csv(csv: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("x.csv");
    std::fs::write(&input, csv).unwrap();
    let out = edgeintent(&[
        "predict",
        "--model",
        "fixtures/models/unsupported_op.onnx",
        "--input",
        input.to_str().unwrap(),
    ]);
    assert_no_panic(&out);
    (out.status.success(), text(&out.stderr))
}

#[test]
fn predict_names_a_bad_cell_and_a_ragged_row() {
    let (ok, err) = predict_csv("1,2,3\n4,oops,6\n");
    assert!(!ok);
    assert!(
        err.contains("line 2: `column 2`: `oops` is not a number"),
        "{err}"
    );
    let (ok, err) = predict_csv("1,2,3\n4,5\n");
    assert!(!ok);
    assert!(err.contains("line 2: 2 fields, expected 3"), "{err}");
}

/// `(ts_ms, point, features...)` rows of `featurize` on the example trace.
fn featurized_example(dir: &Path) -> PathBuf {
    let rows = dir.join("rows.csv");
    let out = edgeintent(&[
        "featurize",
        "--out",
        rows.to_str().unwrap(),
        "fixtures/example_trace.jsonl",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    rows
}

fn positive_scores(stdout: &[u8]) -> Vec<f64> {
    text(stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["probabilities"][1].as_f64().unwrap()
        })
        .collect()
}

#[test]
fn predict_on_featurize_output_scores_what_the_runtime_scores() {
    let dir = tempfile::tempdir().unwrap();
    let rows = featurized_example(dir.path());
    let out = edgeintent(&[
        "predict",
        "--model",
        "models/intent.onnx",
        "--input",
        rows.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("skipped columns: ts_ms, point"), "{err}");
    assert!(err.contains("normalised"), "{err}");
    let scores = positive_scores(&out.stdout);
    // The runtime's own scorer on the same raw rows: the same numbers.
    let config = edgeintent::Config::from_file(root().join("models/config.json")).unwrap();
    let mut model =
        edgeintent::IntentModel::load(config.model().unwrap(), config.features()).unwrap();
    let csv = std::fs::read_to_string(&rows).unwrap();
    let raw: Vec<Vec<f32>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').skip(2).map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(raw.len(), scores.len());
    for (row, got) in raw.iter().zip(&scores) {
        let want = model.score(row, &[]).unwrap();
        assert!((f64::from(want) - got).abs() < 1e-6, "{want} vs {got}");
    }
    // Without the normalisation the graph sees other numbers.
    let raw_out = edgeintent(&[
        "predict",
        "--raw",
        "--model",
        "models/intent.onnx",
        "--input",
        rows.to_str().unwrap(),
    ]);
    assert!(raw_out.status.success(), "{}", text(&raw_out.stderr));
    assert_ne!(positive_scores(&raw_out.stdout), scores);
}

#[test]
fn predict_names_a_feature_column_the_model_needs_but_the_csv_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let rows = featurized_example(dir.path());
    let csv = std::fs::read_to_string(&rows).unwrap();
    let cut: String = csv
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    std::fs::write(&rows, cut).unwrap();
    let out = edgeintent(&[
        "predict",
        "--model",
        "models/intent.onnx",
        "--input",
        rows.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert_no_panic(&out);
    let err = text(&out.stderr);
    assert!(
        err.contains("no column `") && err.contains("trained on these features"),
        "{err}"
    );
}

#[test]
fn featurize_under_the_model_sees_the_refreshes_the_model_makes() {
    let dir = tempfile::tempdir().unwrap();
    let rules = featurized_example(dir.path());
    let under = dir.path().join("under.csv");
    let out = edgeintent(&[
        "featurize",
        "--under-model",
        "--out",
        under.to_str().unwrap(),
        "fixtures/example_trace.jsonl",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (a, b) = (
        std::fs::read_to_string(rules).unwrap(),
        std::fs::read_to_string(under).unwrap(),
    );
    // Same decision points and header; the model's own refreshes change since_refresh.
    assert_eq!(a.lines().count(), b.lines().count());
    assert_eq!(a.lines().next(), b.lines().next());
    let col = a
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == "since_refresh")
        .unwrap();
    let values = |t: &str| -> Vec<String> {
        t.lines()
            .skip(1)
            .map(|l| l.split(',').nth(col).unwrap().to_owned())
            .collect()
    };
    assert_ne!(values(&a), values(&b));
}

#[test]
fn inspect_with_a_config_says_whether_the_runtime_accepts_the_model() {
    let ok = edgeintent(&[
        "inspect",
        "--config",
        "models/config.json",
        "models/intent.onnx",
    ]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("ACCEPTS it"));
    for (model, why) in [
        (
            "fixtures/models/mismatched_spec.onnx",
            "trained on feature spec",
        ),
        (
            "fixtures/families/lightgbm_binary.onnx",
            "edgeintent.feature_spec_hash",
        ),
    ] {
        let out = edgeintent(&["inspect", "--config", "models/config.json", model]);
        assert_eq!(out.status.code(), Some(4), "{model}");
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("REFUSES it") && stdout.contains(why),
            "{stdout}"
        );
    }
    let json = edgeintent(&[
        "inspect",
        "--json",
        "--config",
        "models/config.json",
        "fixtures/models/mismatched_spec.onnx",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["runtime_check"]["accepted"], false);
    assert_ne!(
        v["runtime_check"]["runtime_spec_hash"],
        v["runtime_check"]["model_spec_hash"]
    );
}

/// Writes `lines` as a trace file in `dir`.
fn trace_file(dir: &Path, lines: &[&str]) -> PathBuf {
    let p = dir.join("trace.jsonl");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

#[test]
fn a_mistyped_event_type_is_skipped_with_a_warning_that_suggests_the_right_one() {
    let dir = tempfile::tempdir().unwrap();
    let trace = trace_file(
        dir.path(),
        &[
            r#"{"ts_ms":1767600000000,"type":"app_foreground"}"#,
            r#"{"ts_ms":1767600001000,"type":"page_veiw","page":"home"}"#,
            r#"{"ts_ms":1767600002000,"type":"page_veiw","page":"home"}"#,
            r#"{"ts_ms":1767600003000,"type":"hologram"}"#,
        ],
    );
    let out = edgeintent(&["replay", trace.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(r#"warning: "#)
            && err.contains(
                r#"skipped 2 lines of unknown event type "page_veiw" (did you mean "page_view"?)"#
            ),
        "{err}"
    );
    assert!(
        err.contains(r#"skipped 1 line of unknown event type "hologram""#),
        "{err}"
    );
    assert!(!err.contains(r#""hologram" (did you mean"#), "{err}");
}

#[test]
fn a_trace_starting_with_a_byte_order_mark_replays_like_one_without() {
    let dir = tempfile::tempdir().unwrap();
    let plain = std::fs::read(root().join("fixtures/example_trace.jsonl")).unwrap();
    let with_bom = dir.path().join("bom.jsonl");
    std::fs::write(&with_bom, [b"\xEF\xBB\xBF".as_slice(), &plain].concat()).unwrap();
    let a = edgeintent(&["replay", "fixtures/example_trace.jsonl"]);
    let b = edgeintent(&["replay", with_bom.to_str().unwrap()]);
    assert!(b.status.success(), "{}", text(&b.stderr));
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn inputs_with_nothing_to_work_on_say_so_instead_of_printing_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let out = edgeintent(&["replay", empty.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("empty.jsonl: no events"),
        "{}",
        text(&out.stderr)
    );

    let truth = dir.path().join("truth.jsonl");
    std::fs::write(&truth, "").unwrap();
    let no_views = trace_file(
        dir.path(),
        &[r#"{"ts_ms":1767600000000,"type":"app_foreground"}"#],
    );
    let out = edgeintent(&[
        "evaluate",
        "--truth",
        truth.to_str().unwrap(),
        no_views.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no home page views"),
        "{}",
        text(&out.stderr)
    );

    let out = edgeintent(&["dedup-eval", no_views.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "trace.jsonl: no `recommendations` events, so there is nothing to de-duplicate"
        ),
        "{err}"
    );

    let geo_truth = dir.path().join("geo_truth.jsonl");
    std::fs::write(
        &geo_truth,
        r#"{"kind":"trace","start_ms":1767600000000,"end_ms":1767600001000}"#,
    )
    .unwrap();
    // geo-eval defaults to the shipped fence config.
    let out = edgeintent(&[
        "geo-eval",
        "--truth",
        geo_truth.to_str().unwrap(),
        no_views.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no `location` events"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn unsupported_operators_are_named_by_inspect_and_by_the_loader() {
    let out = edgeintent(&["inspect", "fixtures/models/unsupported_op.onnx"]);
    assert_eq!(out.status.code(), Some(3));
    assert_no_panic(&out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("op TfIdfVectorizer: NOT SUPPORTED"),
        "{stdout}"
    );
    let (ok, err) = predict_csv("1,2,3\n");
    assert!(!ok);
    assert!(
        err.contains("unsupported operators: TfIdfVectorizer"),
        "{err}"
    );
}

#[test]
fn inspect_reports_the_added_operators_as_supported() {
    let out = edgeintent(&["inspect", "fixtures/families/lightgbm_binary.onnx"]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    let s = text(&out.stdout);
    assert!(
        s.contains("ai.onnx.ml.TreeEnsembleClassifier: supported"),
        "{s}"
    );
    assert!(s.contains("ai.onnx.ml.ZipMap: supported"), "{s}");
    assert!(s.contains("tract: loads and optimizes"), "{s}");
}
