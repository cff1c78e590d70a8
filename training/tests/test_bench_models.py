"""The benchmark-only models regenerate identically, and GRU stepping equals the window."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_models_regenerate_identically(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "training" / "bench_models.py"), "--out", str(tmp_path)], check=True, capture_output=True)
    for name in ["mlp_48_64_32_1.onnx", "gru_window.onnx", "gru_step.onnx"]:
        assert (tmp_path / name).read_bytes() == (ROOT / "fixtures" / "bench" / name).read_bytes(), name
    fresh = json.loads((tmp_path / "gru.json").read_text())
    committed = json.loads((ROOT / "fixtures" / "bench" / "gru.json").read_text())
    assert fresh["sequences"] == committed["sequences"]
    for a, b in zip(fresh["step_scores"], committed["window_scores"]):
        assert abs(a - b) < 1e-5


def test_bench_trees_runs_all_engines_on_one_model(tmp_path, edgeintent_bin):
    """A few trees, few iterations: the script trains, exports, compiles the
    tl2cgen C, checks its predictions against ONNX Runtime and reports each
    engine (ONNX Runtime itself only with --ort-lib, which tests do not use)."""
    out = tmp_path / "trees.jsonl"
    subprocess.run(
        [sys.executable, str(ROOT / "training" / "bench_trees.py"), "--edgeintent", str(edgeintent_bin), "--models", "lightgbm,catboost",
         "--scale", "0.05", "--rounds", "1", "--iters", "300", "--workdir", str(tmp_path / "work"), "--out", str(out)],
        check=True, capture_output=True,
    )
    recs = {r["model"]: r for r in map(json.loads, out.read_text().splitlines())}
    lgb, cat = recs["lightgbm"], recs["catboost"]
    assert lgb["trees"] == 6 and lgb["rows"]["count"] == 256
    assert lgb["native_p50_ns"] > 0 and lgb["tract_p50_ns"] > 0 and lgb["tl2cgen_p50_ns"] > 0
    assert lgb["tl2cgen_max_abs_diff_ort"] < 1e-4 and lgb["native_max_abs_diff_tract"] == 0.0
    assert lgb["native_allocs_per_run"] == 0.0
    # CatBoost's C is built from its ONNX trees with treelite's model builder.
    assert cat["tl2cgen_p50_ns"] > 0 and cat["tl2cgen_max_abs_diff_ort"] < 1e-4 and cat["native_p50_ns"] > 0
