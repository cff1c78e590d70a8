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


def test_rtklib_solutions_in_degrees_and_ecef_give_the_same_place_and_an_accuracy():
    llh = (
        "% obs start : 2021/07/16 09:46:29.0 GPST (week2166 467189.0s)\n"
        "%  GPST                  latitude(deg) longitude(deg)  height(m)   Q  ns   sdn(m)   sde(m)   sdu(m)  sdne(m)  sdeu(m)  sdun(m) age(s)  ratio\n"
        "2021/07/16 09:46:29.005   48.837117156    2.421571189   129.6410   5   5   3.0000   4.0000  14.7965  -0.6519   7.2186  -2.5397   0.00    0.0\n"
    )
    rows = geo_real.parse_pos(llh)
    assert rows.shape == (1, 4)
    assert abs(rows[0, 3] - 1.51 * ((9 + 16) / 2) ** 0.5) < 1e-9
    # The same point in ECEF (WGS84), and a relative baseline, which has no place.
    lat, lon, h = np.radians(48.837117156), np.radians(2.421571189), 129.641
    a, e2 = 6_378_137.0, 6.69437999014e-3
    n = a / np.sqrt(1 - e2 * np.sin(lat) ** 2)
    x, y, z = (n + h) * np.cos(lat) * np.cos(lon), (n + h) * np.cos(lat) * np.sin(lon), (n * (1 - e2) + h) * np.sin(lat)
    ecef = (
        "%  GPST                      x-ecef(m)      y-ecef(m)      z-ecef(m)   Q  ns   sdx(m)   sdy(m)   sdz(m)  sdxy(m)  sdyz(m)  sdzx(m) age(s)  ratio\n"
        f"2021/07/16 09:46:29.005   {x:.4f}   {y:.4f}   {z:.4f}   5   5   3.0   3.0   3.0   0 0 0 0.00 0.0\n"
    )
    e = geo_real.parse_pos(ecef)
    assert geo_real.dist_m(e[0, 1], e[0, 2], rows[0, 1], rows[0, 2]) < 0.5
    assert e[0, 0] == rows[0, 0]
    assert geo_real.parse_pos("%  GPST   e-baseline(m)  n-baseline(m)  u-baseline(m)\n2021/03/12 12:19:51.000 1 2 3 5 2 1 1 1\n").shape == (0, 4)
