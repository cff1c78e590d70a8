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
