"""The reference profile, the fleet view and the break injections of
``monitor_eval.py``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from generate import Params, generate, write_jsonl
from monitor import fleet_psi, histograms_of, reference
from monitor_eval import inject
from ref_profile import histogram

ROOT = Path(__file__).resolve().parents[2]


def test_histogram_bins_as_the_runtime_does_with_a_bin_above_the_maximum():
    h = histogram(np.array([0, 0, 0, 0, 0, 0, 0, 1, 2, 3], dtype=np.float32))
    # 70% zeros share one bin; the last bin (above the maximum, 3) is empty.
    assert h["edges"][0] == 0.0 and h["edges"][-1] == 3.0
    assert h["freq"][0] == 0.7 and h["freq"][-1] == 0.0
    assert abs(sum(h["freq"]) - 1) < 1e-6
    # Right-closed bins: x <= edges[0] is bin 0, as Rust's partition_point(e < x).
    assert np.searchsorted(np.asarray(h["edges"]), 0.0, side="left") == 0


def test_the_shipped_model_carries_a_profile_of_every_feature(edgeintent_bin):
    spec = json.loads(subprocess.run([str(edgeintent_bin), "spec"], capture_output=True, text=True, check=True).stdout)
    p = reference(ROOT / "models" / "intent.onnx")
    assert [f["name"] for f in p["features"]] == spec["feature_names"]
    assert p["natural"]["window_points"] > 0 and "score" in p["natural"]["psi"]
    assert p["fields"]["scroll.dy_px"] < 0.01


def test_the_fleet_psi_rises_when_every_device_loses_its_scroll_distance(edgeintent_bin, tmp_path):
    def stats(events, name):
        trace = tmp_path / f"{name}.jsonl"
        write_jsonl(trace, events)
        out = tmp_path / f"{name}.json"
        out.write_text(subprocess.run([str(edgeintent_bin), "monitor", "--json", str(trace)], capture_output=True, text=True, check=True).stdout)
        return out

    profile = reference(ROOT / "models" / "intent.onnx")
    normal, broken = [], []
    for seed in (7400, 7401):
        ev, _ = generate(seed, Params(days=4))
        normal.append(stats(ev, f"n{seed}"))
        broken.append(stats(inject(ev, "zeros", seed)[0], f"b{seed}"))
    ok = fleet_psi(profile, [h for p in normal for h in histograms_of(p)])
    bad = fleet_psi(profile, [h for p in broken for h in histograms_of(p)])
    assert bad["scroll_kpx_rate"] > ok["scroll_kpx_rate"] + 0.1, (ok["scroll_kpx_rate"], bad["scroll_kpx_rate"])


def test_injections_break_only_what_they_say_from_the_break_on():
    ev, _ = generate(7500, Params(days=3))
    zeros, t = inject(ev, "zeros", 7500)
    assert all(e["dy_px"] == 0 for e in zeros if e["type"] == "scroll" and e["ts_ms"] >= t)
    assert any(e["dy_px"] != 0 for e in zeros if e["type"] == "scroll" and e["ts_ms"] < t)
    stop, t = inject(ev, "stop", 7500)
    assert not any(e["type"] == "exposure" and e["ts_ms"] >= t for e in stop)
    shift, t = inject(ev, "shift", 7500)
    assert [e["ts_ms"] for e in shift] == sorted(e["ts_ms"] for e in shift)


def test_users_of_a_population_the_monitors_never_saw_raise_no_alert_but_a_break_does(edgeintent_bin, tmp_path):
    # Simulator C's held-out users differ from the profile; judged against
    # their own history too, none alerts. Judged by the profile alone, some do.
    from monitor_eval import HELD_OUT, config_with, events_of, replay

    own = config_with(tmp_path, None, {})
    alone = tmp_path / "alone.json"
    alone.write_text(json.dumps({**json.loads(own.read_text()), "monitor": {**json.loads(own.read_text())["monitor"], "own_history": False}}))
    quiet = loud = 0
    for seed in HELD_OUT["C"]:
        ev = events_of("C", seed)
        quiet += sum(d["action"] == "alert" for d in replay(edgeintent_bin, own, ev, tmp_path))
        loud += sum(d["action"] == "alert" for d in replay(edgeintent_bin, alone, ev, tmp_path))
    assert quiet == 0
    assert loud > 0
    # A broken producer on one of them is still seen.
    seed = HELD_OUT["C"].start
    ev, t = inject(events_of("C", seed), "zeros", seed)
    hits = [d for d in replay(edgeintent_bin, own, ev, tmp_path) if d["action"] == "alert" and d["ts_ms"] >= t]
    assert any(d["reason"] == "monitor:drift:scroll.dy_px" for d in hits)
