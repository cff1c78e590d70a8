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
         "--city-hours", "1", "--traces", str(tmp_path / "t"), "--out", str(tmp_path / "o")],
        capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "o" / "geofence.json").read_text()
    assert str(tmp_path) not in text, "the report names this machine's paths"
    report = json.loads(text)
    for name in ("mixed", "noise20", "city_validation", "city"):
        assert [s["name"] for s in report[name]["samplers"]] == ["adaptive", "fixed 10s", "fixed 60s"]
    assert [r["max_fixes_per_hour"] for r in report["city_budget_sweep"]] == [None, 60, 45, 30, 20]


def test_city_config_is_what_the_script_derives(tmp_path):
    import city_traces

    out = tmp_path / "c.json"
    city_traces.config(out, "../../models/feature_spec.json")
    assert json.loads(out.read_text()) == json.loads((ROOT / "fixtures" / "geo" / "city_config.json").read_text())
    pois = city_traces.city()
    assert len(pois) == 24 and all(120 <= p["radius_m"] <= 400 and 300 <= p["buffer_m"] <= 900 for p in pois)


def test_city_days_are_seeded_with_tunnels_multipath_and_visits_on_the_path():
    import city_traces

    a = city_traces.generate(9301, 6)
    assert a == city_traces.generate(9301, 6)
    events, truth = a
    # Underground there are no fixes: gaps of a minute or more.
    gaps = [b["ts_ms"] - e["ts_ms"] for e, b in zip(events, events[1:])]
    assert max(gaps) >= 60_000
    pois = {p["id"]: p for p in city_traces.city()}
    visits = [t for t in truth if t["kind"] == "visit"]
    assert visits, "a day visits some point of interest"
    for v in visits:
        assert v["exit_ms"] > v["enter_ms"] and v["fence"] in pois
    # Multipath: some fixes lie far beyond their reported accuracy (over
    # three times it: about 4.5 σ, never Gaussian noise alone).
    path = city_traces.day(9301, 6, city_traces.city()).path
    far = 0
    for e in events:
        p = path[(e["ts_ms"] - city_traces.EPOCH_MS) // 1000]
        if dist_m((e["lat"], e["lon"]), (p[0], p[1])) > 3 * e["accuracy_m"]:
            far += 1
    assert 10 < far < len(events) // 5
