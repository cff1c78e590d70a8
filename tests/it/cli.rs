//! End-to-end tests of the `edgeintent` command on the shipped fixtures.

use crate::common::*;

use std::path::{Path, PathBuf};
use std::process::Output;

fn assert_no_panic(out: &Output) {
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "panic in stderr: {err}");
}

/// Runs a command that prints JSON; asserts success and parses stdout.
fn edgeintent_json(args: &[&str]) -> serde_json::Value {
    let out = edgeintent(args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs `edgeintent replay` with `--summary` added; asserts success and
/// returns the output and the summary JSON.
fn replay_with_summary(args: &[&str]) -> (Output, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let mut all = vec!["replay", "--summary", summary.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = edgeintent(&all);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = json_file(&summary);
    (out, s)
}

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

#[test]
fn bench_json_reports_latency_load_time_and_allocations() {
    let out = edgeintent(&[
        "bench",
        "--model",
        "fixtures/families/xgboost_binary.onnx",
        "--iters",
        "200",
        "--warmup",
        "20",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "p50_ns",
        "p90_ns",
        "p99_ns",
        "load_ms",
        "allocs_per_run",
        "throughput_per_s",
    ] {
        assert!(r[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {r}");
    }
    assert!(r["p50_ns"].as_u64() <= r["p99_ns"].as_u64());
    assert_eq!(r["input_shapes"], serde_json::json!([[1, 34]]));
}

#[test]
fn bench_takes_several_input_shapes_and_rejects_bad_ones() {
    let out = edgeintent(&[
        "bench",
        "--model",
        "fixtures/bench/gru_step.onnx",
        "--input-shape",
        "1x1;1x1x32",
        "--iters",
        "50",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = edgeintent(&[
        "bench",
        "--model",
        "fixtures/bench/gru_step.onnx",
        "--input-shape",
        "1xq",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not a shape like 1x34"),
        "{}",
        text(&out.stderr)
    );
}

#[cfg(not(feature = "ort-compare"))]
#[test]
fn bench_with_ort_lib_needs_the_feature_and_says_so() {
    let out = edgeintent(&[
        "bench",
        "--model",
        "fixtures/bench/mlp_48_64_32_1.onnx",
        "--ort-lib",
        "/nope.so",
        "--iters",
        "10",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--features ort-compare"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn dedup_eval_removes_every_duplicate_and_keeps_more_value_than_greedy() {
    let out = edgeintent(&[
        "dedup-eval",
        "--config",
        "fixtures/dedup_config.json",
        "--json",
        "fixtures/dedup_trace.jsonl",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reports: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let by = |s: &str| reports.iter().find(|r| r["strategy"] == s).unwrap().clone();
    let (none, greedy, ours) = (by("none"), by("first_come_first_served"), by("value_aware"));
    assert!(
        none["duplicate_placements"].as_u64().unwrap() > 0,
        "the trace has conflicts"
    );
    assert_eq!(ours["duplicate_placements"], 0);
    assert_eq!(ours["duplicate_exposures"], 0);
    assert!(
        ours["retained_value"].as_f64() > greedy["retained_value"].as_f64(),
        "{ours} vs {greedy}"
    );
    assert!(ours["fill_rate"].as_f64().unwrap() > 0.99);
}

#[test]
fn replay_emits_show_decisions_with_items_for_recommendations() {
    let out = edgeintent(&[
        "replay",
        "--no-model",
        "--config",
        "fixtures/dedup_config.json",
        "fixtures/dedup_trace.jsonl",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shows: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|d| d["action"] == "show")
        .collect();
    assert!(shows.len() >= 89, "one per recommendations event at least");
    for s in &shows {
        assert_eq!(s["reason"], "dedup");
        assert!(s["slot"].is_string());
        assert!(!s["items"].as_array().unwrap().is_empty());
    }
}

#[test]
fn bad_dedup_settings_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.json");
    let spec = root().join("models/feature_spec.json");
    std::fs::write(
        &p,
        serde_json::json!({"features": spec, "dedup": {"slots": {"feed": -2}}}).to_string(),
    )
    .unwrap();
    let out = edgeintent(&[
        "dedup-eval",
        "--config",
        p.to_str().unwrap(),
        "fixtures/dedup_trace.jsonl",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("dedup.slots.feed"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn evaluate_scores_our_policy_next_to_every_baseline() {
    let r = edgeintent_json(&[
        "evaluate",
        "--truth",
        "fixtures/example_truth.jsonl",
        "--sweep-threshold",
        "0.5",
        "--json",
        "fixtures/example_trace.jsonl",
    ]);
    let ps = r["policies"].as_array().unwrap();
    let names: Vec<&str> = ps.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "ours",
            "ours@0.5",
            "ours, no model",
            "fixed 5s",
            "fixed 10s",
            "fixed 15s",
            "fixed 30s",
            "fixed 60s",
            "fixed 120s",
            "fixed 300s",
            "fixed 600s",
            "fixed 1200s",
            "fixed 1800s",
            "fixed 3600s",
            "every home view",
            "per notification"
        ]
    );
    let get = |n: &str| ps.iter().find(|p| p["name"] == n).unwrap();
    // Shorter intervals cost more requests; the shortest catches more needs than
    // the longest (between neighbours, one trace is too small to rank them).
    let fixed: Vec<(f64, f64)> = names[3..14]
        .iter()
        .map(|n| {
            let p = get(n);
            (
                p["requests_per_hour"].as_f64().unwrap(),
                p["recall"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(
        fixed.windows(2).all(|w| w[0].0 >= w[1].0) && fixed[0].1 > fixed[10].1,
        "{fixed:?}"
    );
    assert_eq!(get("every home view")["recall"], 1.0);
    assert_eq!(get("per notification")["async_per_notification"], 1.0);
    let ours = get("ours");
    assert!(ours["async_per_notification"].as_f64().unwrap() < 0.5);
    assert!(r["comparison"]["async_reduction"].as_f64().unwrap() > 0.5);
    assert_eq!(r["traces"].as_array().unwrap().len(), 1);

    let table = edgeintent(&[
        "evaluate",
        "--truth",
        "fixtures/example_truth.jsonl",
        "fixtures/example_trace.jsonl",
    ]);
    let t = text(&table.stdout);
    assert!(
        t.contains("requests saved at equal recall") && t.contains("fixed 600s"),
        "{t}"
    );
}

#[test]
fn evaluate_in_the_closed_loop_credits_refreshes_that_end_a_need() {
    let args = |closed: bool| {
        let mut a = vec![
            "evaluate",
            "--json",
            "--truth",
            "fixtures/example_truth.jsonl",
            "fixtures/example_trace.jsonl",
        ];
        if closed {
            a.push("--closed-loop");
        }
        edgeintent_json(&a)
    };
    let (open, closed) = (args(false), args(true));
    assert_eq!(open["loop"], "open");
    assert_eq!(closed["loop"], "closed");
    // Same requests (the events do not change), fewer views still needing content.
    let ours = |r: &serde_json::Value, k: &str| r["policies"][0][k].as_f64().unwrap();
    assert_eq!(ours(&open, "requests"), ours(&closed, "requests"));
    assert!(ours(&closed, "views_needing_fresh") < ours(&open, "views_needing_fresh"));
}

#[test]
fn evaluate_rejects_mismatched_inputs_and_bad_configs_by_name() {
    let out = edgeintent(&[
        "evaluate",
        "--truth",
        "fixtures/example_truth.jsonl",
        "fixtures/example_trace.jsonl",
        "fixtures/example_trace.jsonl",
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("one truth file per trace"));
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            serde_json::json!({"triggers": [{"event": "teleport", "action": "refresh"}]}),
            "triggers[0].event: unknown event type \"teleport\"",
        ),
        (
            serde_json::json!({"policy": {"cooldown_s": -1}}),
            "policy.cooldown_s",
        ),
        (
            serde_json::json!({"policy": {"threshold": 1.5}}),
            "policy.threshold",
        ),
    ];
    for (extra, needle) in cases {
        let mut cfg = serde_json::json!({"features": root().join("models/feature_spec.json")});
        for (k, v) in extra.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        let p = dir.path().join("bad.json");
        std::fs::write(&p, cfg.to_string()).unwrap();
        let out = edgeintent(&[
            "evaluate",
            "--config",
            p.to_str().unwrap(),
            "--truth",
            "fixtures/example_truth.jsonl",
            "fixtures/example_trace.jsonl",
        ]);
        assert_no_panic(&out);
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains(needle), "{}", text(&out.stderr));
    }
}

#[test]
fn replay_with_a_user_id_uses_that_users_bucket_threshold() {
    let cfg = json_file(root().join("models/config.json"));
    let thresholds = cfg["policy"]["buckets"]["thresholds"].as_array().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for user in ["alice", "bob", "carol", "dave", "erin", "frank"] {
        let (_, s) = replay_with_summary(&["--user-id", user, "fixtures/example_trace.jsonl"]);
        let b = s["runtime"]["bucket"].as_u64().unwrap() as usize;
        let t = s["runtime"]["threshold"].as_f64().unwrap();
        assert!((t - thresholds[b].as_f64().unwrap()).abs() < 1e-6);
        seen.insert(b);
    }
    assert!(seen.len() > 1, "six users all in one bucket: {seen:?}");
}

#[test]
fn replay_with_sampled_locations_uses_few_fixes_and_names_the_fences() {
    let (out, s) = replay_with_summary(&[
        "--config",
        "fixtures/geo/config.json",
        "--sample-locations",
        "fixtures/geo/trace.jsonl",
    ]);
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let cards: Vec<(&str, &str)> = lines
        .iter()
        .filter(|d| d["action"] != "set_location_interval")
        .map(|d| (d["action"].as_str().unwrap(), d["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        cards,
        [
            ("fetch_card", "geofence:enter:ISG"),
            ("reclaim_card", "geofence:exit:ISG"),
            ("fetch_card", "geofence:enter:ISG"),
            ("reclaim_card", "geofence:exit:ISG")
        ]
    );
    assert!(lines.iter().any(
        |d| d["action"] == "set_location_interval" && d["interval_s"].as_f64().unwrap() >= 5.0
    ));
    let (used, all) = (
        s["read"]["location_fixes_used"].as_u64().unwrap(),
        s["read"]["location_fixes"].as_u64().unwrap(),
    );
    assert!(used * 10 < all, "{used} of {all} fixes");
    assert_eq!(s["runtime"]["geofence"]["enters"], 2);
}

#[test]
fn geo_eval_compares_adaptive_with_fixed_sampling() {
    let r = edgeintent_json(&[
        "geo-eval",
        "--config",
        "fixtures/geo/config.json",
        "--truth",
        "fixtures/geo/trace.truth.jsonl",
        "--json",
        "fixtures/geo/trace.jsonl",
    ]);
    let s = r["samplers"].as_array().unwrap();
    let names: Vec<&str> = s.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["adaptive", "fixed 10s", "fixed 60s"]);
    assert_eq!(s[0]["missed_60s"], 0);
    assert_eq!(s[0]["visits_60s"], 2);
    assert!(s[0]["fixes_per_hour"].as_f64().unwrap() < s[1]["fixes_per_hour"].as_f64().unwrap());
    assert!(r["fix_reduction_vs_10s"].as_f64().unwrap() > 0.5);
}

#[test]
fn geo_eval_defaults_to_the_shipped_fences_and_its_help_shows_the_accepted_syntax() {
    let r = edgeintent_json(&[
        "geo-eval",
        "--truth",
        "fixtures/geo/trace.truth.jsonl",
        "--fixed",
        "30",
        "--json",
        "fixtures/geo/trace.jsonl",
    ]);
    let names: Vec<&str> = r["samplers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["adaptive", "fixed 30s"]);
    let help = text(&edgeintent(&["geo-eval", "--help"]).stdout);
    assert!(help.contains("[default: 10,60]"), "{help}");
}

#[test]
fn leaving_the_coverage_requests_one_and_the_replay_answers_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({
        "features": root().join("models/feature_spec.json"),
        "geofence": {"coverage": {"lat": 0.0, "lon": 0.0, "radius_m": 1000.0},
                     "fences": [{"id": "p", "lat": 0.05, "lon": 0.0, "radius_m": 100.0}]},
    });
    let cfg_path = dir.path().join("c.json");
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    // Walking north from the centre: out of the 1 km circle at ~1 km, and again
    // out of the new circle (centred where the first request was answered).
    let trace: String = (0..400)
        .map(|i| {
            let lat = i as f64 * 10.0 / 111_195.0;
            format!(
                "{{\"ts_ms\":{},\"type\":\"location\",\"lat\":{lat},\"lon\":0,\"accuracy_m\":5}}\n",
                1_000_000 + i * 1000
            )
        })
        .collect();
    let trace_path = dir.path().join("t.jsonl");
    std::fs::write(&trace_path, trace).unwrap();
    let (out, s) = replay_with_summary(&[
        "--config",
        cfg_path.to_str().unwrap(),
        trace_path.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    let requests = stdout.matches("\"request_coverage\"").count();
    assert_eq!(requests, 3, "at ~1, ~2 and ~3 km: {stdout}");
    assert!(stdout.contains(r#""reason":"coverage:exit""#));
    assert_eq!(s["read"]["coverage_answers"], 3);
}

#[test]
fn bad_fences_are_config_errors_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    for (fence, needle) in [
        (
            serde_json::json!({"id": "a", "lat": 95.0, "lon": 0.0, "radius_m": 100.0}),
            "geofence.fences[0].lat",
        ),
        (
            serde_json::json!({"id": "a", "lat": 1.0, "lon": 0.0, "radius_m": -3.0}),
            "geofence.fences[0].radius_m",
        ),
    ] {
        let cfg = serde_json::json!({
            "features": root().join("models/feature_spec.json"),
            "geofence": {"fences": [fence]},
        });
        let p = dir.path().join("c.json");
        std::fs::write(&p, cfg.to_string()).unwrap();
        let out = edgeintent(&[
            "replay",
            "--config",
            p.to_str().unwrap(),
            "fixtures/geo/trace.jsonl",
        ]);
        assert_no_panic(&out);
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains(needle), "{}", text(&out.stderr));
    }
}
