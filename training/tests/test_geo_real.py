"""The real-recordings geofence set: its truth and fences on synthetic
tracks, and the whole set when the recordings can be fetched (skipped
offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import geo_real

ROOT = Path(__file__).resolve().parents[2]


def walk(seconds: int, north_mps: float, start=(48.85, 2.35), t0=1_700_000_000.0) -> np.ndarray:
    lat = start[0] + np.arange(seconds) * north_mps / 111_320.0
    return np.column_stack([t0 + np.arange(seconds), lat, np.full(seconds, start[1])])


def test_a_spike_is_dropped_and_the_truth_keeps_the_rest():
    track = walk(600, 1.4)
    track[300, 1] += 0.01  # 1.1 km off for one second
    truth = geo_real.truth_track(track)
    assert len(truth) == 599
    assert geo_real.dist_m(truth[:, 1], truth[:, 2], track[np.arange(600) != 300, 1], track[np.arange(600) != 300, 2]).max() < 1.0


def test_a_stop_gets_a_fence_and_one_visit_and_a_beside_fence_none():
    moving = walk(900, 1.4)
    still = walk(600, 0.0, start=tuple(moving[-1, 1:]), t0=moving[-1, 0] + 1)
    away = walk(1500, 1.4, start=tuple(still[-1, 1:]), t0=still[-1, 0] + 1)
    truth = geo_real.truth_track(np.concatenate([moving, still, away]))
    fences = geo_real.place_fences({"r.gpx": truth})
    stops = [f for f in fences if f["category"] == "stop"]
    assert len(stops) == 1
    vs = geo_real.visits(truth, fences)
    assert [v["fence"] for v in vs].count(stops[0]["id"]) == 1
    beside = {f["id"] for f in fences if f["category"] == "beside"}
    assert beside and not any(v["fence"] in beside for v in vs)


def test_the_real_set_runs_through_geo_eval(edgeintent_bin, tmp_path):
    try:
        archive = geo_real.fetch(ROOT / "target" / "cache" / "tracklib")
    except geo_real.Unavailable as e:
        pytest.skip(f"recordings unavailable: {e}")
    _, report = geo_real.evaluate(edgeintent_bin, archive, tmp_path)
    assert len(report["set"]["routes"]) >= 10
    assert not any("mopsi" in name for name in report["set"]["routes"])
    adaptive = report["samplers"][0]
    assert adaptive["visits_60s"] > 100
    # No card for a fence nobody went near.
    assert adaptive["false_enters"] == 0
