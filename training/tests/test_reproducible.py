"""The one-command pipeline and the family exports reproduce what is committed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def test_pipeline_regenerates_the_shipped_default_model(edgeintent_bin):
    out = subprocess.run(
        [sys.executable, str(ROOT / "training" / "pipeline.py"), "--check", "--binary", str(edgeintent_bin)],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "pipeline --check: chosen" in out.stdout


def test_families_re_export_to_the_committed_onnx_runtime_outputs(tmp_path, edgeintent_bin):
    import families

    report = families.build(None, tmp_path, edgeintent_bin, tmp_path / "data")
    committed = json.loads((ROOT / "fixtures" / "families" / "REPORT.json").read_text())
    assert report == committed
    for name, status in report.items():
        if status != "ok":
            continue
        fresh = json.loads((tmp_path / f"{name}.json").read_text())
        fixture = json.loads((ROOT / "fixtures" / "families" / f"{name}.json").read_text())
        assert fresh["shapes"] == fixture["shapes"], name
        for out, values in fixture["outputs"].items():
            assert np.allclose(np.array(fresh["outputs"][out], dtype=float), np.array(values, dtype=float), atol=1e-5, rtol=1e-4), (name, out)
