#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and reports its iterations.
#
#   cargo install cargo-fuzz            # once
#   fuzz/run.sh [SECONDS_PER_TARGET]    # default 30
#
# A run longer than -timeout (20 s) or above -rss_limit_mb (4 GiB) is a
# finding, like a panic: hangs and memory growth are what issue 15 found.
#
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain
# accept them. Seeds come from the repository's fixtures; crashes land in
# fuzz/artifacts/<target>/ and make this script fail.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-30}"
export RUSTC_BOOTSTRAP=1

targets=(event_parser snapshot_decoder model_loader config_values snapshot_timestamps model_attributes update_package eim_body timeline_writer)
for t in "${targets[@]}"; do mkdir -p "corpus/$t"; done
# One trace line per seed file.
head -n 200 ../fixtures/example_trace.jsonl | split -l 1 - corpus/event_parser/example_
head -n 50 ../fixtures/geo/trace.jsonl | split -l 1 - corpus/event_parser/geo_
head -n 50 ../fixtures/dedup_trace.jsonl | split -l 1 - corpus/event_parser/dedup_
cp -f ../models/intent.onnx ../fixtures/models/*.onnx ../fixtures/bench/*.onnx corpus/model_loader/
# Issue 18's operators: SVMs, encoders, imputers, CatBoost, opset-5 trees.
for f in sklearn_svc_rbf_multi sklearn_svr_rbf sklearn_kbins_onehot_logreg sklearn_imputer_logreg \
    sklearn_binarizer_bernoulli_nb sklearn_isolation_forest catboost_binary onnx_tree_ensemble_v5_forest_regressor; do
    cp -f "../fixtures/families/$f.onnx" corpus/model_loader/
done
# A flags byte, two sequence bytes, then a config or a model as the payload.
printf '\x00\x00\x01' | cat - ../fixtures/updates/policy_b.json > corpus/update_package/config
printf '\x01\x00\x01' | cat - ../models/intent.onnx > corpus/update_package/model
cp -f ../fixtures/updates/*.eiu corpus/update_package/
# .eim bodies (after the 48-byte header): the shipped plan.
tail -c +49 ../models/intent.eim > corpus/eim_body/intent
# Hostile strings for the timeline, separated by \x01.
printf 'p{{DATA}}.jsonl\x01<!--<script>\x01"><img src=x onerror=alert(5)>\x01</script>\x01\xe2\x80\xa8&amp;' > corpus/timeline_writer/hostile

status=0
for target in "${targets[@]}"; do
    log="$(mktemp)"
    if cargo fuzz run -O "$target" -- -max_total_time="$secs" -rss_limit_mb=4096 -timeout=20 -print_final_stats=1 >"$log" 2>&1; then
        runs="$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')"
        echo "fuzz: $target: clean, ${runs:-?} runs in ${secs}s"
    else
        echo "fuzz: $target: FAILED (see fuzz/artifacts/$target/)"
        tail -n 40 "$log"
        status=1
    fi
    rm -f "$log"
done
exit "$status"
