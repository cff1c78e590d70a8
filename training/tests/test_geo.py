"""Geofence evaluation data: the airport fixture, seeded trajectories and their truth."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT, TRAINING
from geo_traces import FENCE_M, dist_m, generate, load_airports


def test_airport_fixture_is_what_the_script_derives():
    import airports_fixture

    committed = json.loads((ROOT / "fixtures" / "geo" / "airports.json").read_text())
    assert airports_fixture.subset() == committed
    assert len(committed["airports"]) > 200


def test_same_seed_same_trajectory_and_visits_match_the_path():
    a = generate(9, 0.5)
    assert a == generate(9, 0.5)
    assert a != generate(10, 0.5)
    events, truth = a
    assert all(e["type"] == "location" and e["accuracy_m"] > 0 for e in events)
    airports = {x["iata"]: (x["lat"], x["lon"]) for x in load_airports()}
    by_ts = {e["ts_ms"]: e for e in events}
    for v in (t for t in truth if t["kind"] == "visit"):
        mid = by_ts[(v["enter_ms"] + v["exit_ms"]) // 2 // 1000 * 1000]
        # The noisy fix in the middle of a visit is inside the fence, give or take the noise.
        assert dist_m((mid["lat"], mid["lon"]), airports[v["fence"]]) < FENCE_M + 4 * mid["accuracy_m"]


def test_geo_evaluate_writes_both_sets(edgeintent_bin, tmp_path):
    r = subprocess.run(
        [sys.executable, str(TRAINING / "geo_evaluate.py"), "--bin", str(edgeintent_bin), "--users", "2", "--hours", "1",
         "--traces", str(tmp_path / "t"), "--out", str(tmp_path / "o")],
        capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "o" / "geofence.json").read_text()
    assert str(tmp_path) not in text, "the report names this machine's paths"
    report = json.loads(text)
    for name in ("mixed", "noise20"):
        assert [s["name"] for s in report[name]["samplers"]] == ["adaptive", "fixed 10s", "fixed 60s"]
