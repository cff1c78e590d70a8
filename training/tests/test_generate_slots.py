"""The de-duplication benchmark trace regenerates identically from its seed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dedup_trace_regenerates_identically(tmp_path):
    out = tmp_path / "t.jsonl"
    subprocess.run([sys.executable, str(ROOT / "training" / "generate_slots.py"), "--out", str(out)], check=True, capture_output=True)
    assert out.read_bytes() == (ROOT / "fixtures" / "dedup_trace.jsonl").read_bytes()
