//! End-to-end tests of the `edgeintent` command's tools: bench, de-dup
//! evaluation, the refresh evaluation, sampled locations and geo-eval, updates.

use crate::common::*;

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
