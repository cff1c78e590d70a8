"""The held-out evaluation script: refuses training seeds, writes a report and a plot."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import TRAINING


def run(edgeintent_bin, tmp_path, *extra):
    return subprocess.run(
        [sys.executable, str(TRAINING / "evaluate.py"), "--bin", str(edgeintent_bin), "--traces", str(tmp_path / "traces"), "--out", str(tmp_path / "out"), *extra],
        capture_output=True,
        text=True,
    )


def test_report_and_plot(edgeintent_bin, tmp_path):
    r = run(edgeintent_bin, tmp_path, "--users", "2", "--days", "2", "--sweep", "0.5")
    assert r.returncode == 0, r.stderr
    assert "requests saved at equal recall" in r.stdout
    text = (tmp_path / "out" / "heldout.json").read_text()
    report = json.loads(text)
    assert report["seeds"] == [9000, 9001]
    # The committed report must not depend on where it was made.
    assert report["traces"] == ["heldout_9000.jsonl", "heldout_9001.jsonl"]
    assert str(tmp_path) not in text
    kinds = {p["kind"] for p in report["policies"]}
    assert {"ours", "ours_sweep", "fixed_interval", "every_home_view", "per_notification"} <= kinds
    png = (tmp_path / "out" / "heldout.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_training_seeds_are_refused(edgeintent_bin, tmp_path):
    r = run(edgeintent_bin, tmp_path, "--seed0", "1000")
    assert r.returncode != 0
    assert "used by training" in r.stderr


def test_the_second_simulator_is_evaluated_the_same_way(edgeintent_bin, tmp_path):
    r = run(edgeintent_bin, tmp_path, "--simulator", "b", "--seed0", "9500", "--users", "2", "--days", "2", "--sweep", "")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "out" / "heldout_b.json").read_text())
    assert report["simulator"] == "b"
    assert report["traces"] == ["heldout_b_9500.jsonl", "heldout_b_9501.jsonl"]
    assert (tmp_path / "out" / "heldout_b.png").read_bytes().startswith(b"\x89PNG")
