"""`pipeline.py fit`: an app's own traces in, a config the runtime runs out,
without any truth file in sight; clear errors for inputs it cannot use."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import TRAINING
from generate import Params, generate, write_jsonl


def fit(edgeintent_bin, traces, out, *extra):
    return subprocess.run(
        [sys.executable, str(TRAINING / "pipeline.py"), "fit", "--traces", str(traces), "--out", str(out), *extra],
        capture_output=True, text=True,
    )


def users(folder, n, days=2, seed0=3500):
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(seed0, seed0 + n):
        events, _truth = generate(s, Params(days=days))
        write_jsonl(folder / f"user{s}.jsonl", events)  # the truth is thrown away


def test_fit_on_traces_alone_writes_a_config_the_runtime_runs(edgeintent_bin, tmp_path):
    traces = tmp_path / "logs"
    users(traces, 8)
    assert not list(traces.glob("*truth*"))
    r = fit(edgeintent_bin, traces, tmp_path / "out", "--budget-per-hour", "80")
    assert r.returncode == 0, r.stderr
    assert "calibrating on 2 validation users" in r.stdout
    out = tmp_path / "out"
    config = json.loads((out / "config.json").read_text())
    assert config["features"] == "feature_spec.json"
    assert config["policy"]["budget_per_hour"] == 80
    report = json.loads((out / "fit.json").read_text())
    assert report["policy"]["requests_per_hour"] <= 80
    card = (out / "MODEL_CARD.md").read_text()
    assert card.startswith("# Fitted refresh policy")
    # Do no harm: the model stays only when it adds the margin on the
    # validation users, and the card says which way it went and why.
    worth = report["model_worth"]
    assert isinstance(worth["kept"], bool) and worth["why"]
    assert ("model" in config) == worth["kept"]
    if worth["kept"]:
        assert config["model"]["path"] == "intent.onnx"
    assert "Do no harm" in card and worth["why"] in card
    # The app's own page names are in the spec, the rest share a bucket.
    spec = json.loads((out / "feature_spec.json").read_text())
    assert spec["pages"][0] == "home" and {"detail", "search"} <= set(spec["pages"])
    assert any(f.get("page") == "(other)" for f in spec["features"])
    # The runtime takes the fitted config as it is, from anywhere.
    replay = subprocess.run(
        [str(edgeintent_bin), "replay", "--config", str(out / "config.json"), str(traces / "user3500.jsonl")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert replay.returncode == 0, replay.stderr
    assert ("model: loaded" in replay.stderr) == worth["kept"]


def test_fit_says_what_is_wrong_with_its_input(edgeintent_bin, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = fit(edgeintent_bin, empty, tmp_path / "o1")
    assert r.returncode == 1 and "no trace files" in r.stderr, r.stderr
    few = tmp_path / "few"
    users(few, 2)
    r = fit(edgeintent_bin, few, tmp_path / "o2")
    assert r.returncode == 1 and "at least 4 are needed" in r.stderr, r.stderr
    bad = tmp_path / "bad"
    users(bad, 4)
    with (bad / "user3501.jsonl").open("a") as f:
        f.write('{"ts_ms": 1, "type"\n')
    r = fit(edgeintent_bin, bad, tmp_path / "o3")
    assert r.returncode == 1, r.stderr
    assert "user3501.jsonl: line" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_fit_learns_which_app_events_announce_stale_content(edgeintent_bin, tmp_path):
    from simulate_b import PopulationB, simulate

    traces = tmp_path / "logs"
    traces.mkdir()
    for s in range(6500, 6512):
        events, _truth = simulate(s, PopulationB(days=4))
        write_jsonl(traces / f"user{s}.jsonl", events)
    r = fit(edgeintent_bin, traces, tmp_path / "out")
    assert r.returncode == 0, r.stderr
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    learned = [t for t in config["triggers"] if t.get("when") == {"name": "payment_done"}]
    assert learned and learned[0]["action"] == "mark_stale", config["triggers"]
    # Learned rules come first: the first rule an event matches decides.
    assert config["triggers"][0] == learned[0]
    report = json.loads((tmp_path / "out" / "fit.json").read_text())
    assert all(g["recall"] > 0 for g in report["grid"])
    assert "payment_done" in (tmp_path / "out" / "MODEL_CARD.md").read_text()


def test_fit_on_spark_fits_the_same_policy(edgeintent_bin, tmp_path):
    """`fit --spark` featurizes on a local Spark session: the same rows, so
    the same fitted config and model."""
    import shutil

    import pytest

    if shutil.which("java") is None:
        pytest.skip("no Java on this machine: PySpark needs a JVM")
    pytest.importorskip("pyspark")
    traces = tmp_path / "logs"
    users(traces, 6, days=1, seed0=3600)
    plain = fit(edgeintent_bin, traces, tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr
    spark = fit(edgeintent_bin, traces, tmp_path / "spark", "--spark")
    assert spark.returncode == 0, spark.stderr
    assert "on Spark (local[2])" in spark.stdout
    for name in ("config.json", "intent.onnx", "feature_spec.json"):
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "spark" / name).read_bytes(), name
