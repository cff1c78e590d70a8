"""The optional PyTorch path: exports when PyTorch is there, skips cleanly when not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "training" / "export_gru.py"


def test_without_pytorch_the_export_skips_cleanly():
    import export_gru

    if export_gru.torch_available():
        pytest.skip("PyTorch is installed; the export test below covers this path")
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert export_gru.SKIP_MESSAGE in out.stdout


def test_gru_step_model_matches_the_window_model(tmp_path, edgeintent_bin):
    pytest.importorskip("torch")
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--out-dir", str(tmp_path), "--binary", str(edgeintent_bin), "--epochs", "1"],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "gru_step.onnx").exists() and (tmp_path / "gru_window.onnx").exists()
