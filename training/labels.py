"""Labels for decision points from the generator's ground truth.

A decision point at ``ts_ms`` is positive when it lies inside a ``want_fresh``
interval of the truth file (``start_ms <= ts_ms < end_ms``): fresh content would
have been useful at that moment. See ``generate.py`` for the generative story.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def load_truth(path: Path) -> list[dict]:
    """Reads a truth file (JSON Lines)."""
    with Path(path).open() as f:
        return [json.loads(line) for line in f if line.strip()]


def want_fresh_intervals(truth: list[dict]) -> np.ndarray:
    """``(n, 2)`` array of ``[start_ms, end_ms)`` intervals, sorted by start."""
    iv = sorted((r["start_ms"], r["end_ms"]) for r in truth if r["kind"] == "want_fresh")
    return np.array(iv, dtype=np.int64).reshape(-1, 2)


def label(ts_ms: np.ndarray, truth: list[dict]) -> np.ndarray:
    """1 where a timestamp falls inside a want_fresh interval, else 0."""
    iv = want_fresh_intervals(truth)
    ts = np.asarray(ts_ms, dtype=np.int64)
    out = np.zeros(len(ts), dtype=np.int64)
    if len(iv) == 0:
        return out
    # Intervals may overlap, so check the latest-starting few before each point.
    idx = np.searchsorted(iv[:, 0], ts, side="right") - 1
    for back in range(4):
        j = idx - back
        ok = j >= 0
        hit = ok & (ts < iv[np.clip(j, 0, None), 1]) & (ts >= iv[np.clip(j, 0, None), 0])
        out |= hit.astype(np.int64)
    return out
