"""The Python package (bindings/python): the same rows, decisions, reports
and predictions as the CLI, from files, dicts and Arrow data."""

from __future__ import annotations

import csv
import json
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from conftest import ROOT

edgeintent = pytest.importorskip(
    "edgeintent", reason="the edgeintent wheel is not installed: scripts/test.sh builds it with maturin"
)

CONFIG = ROOT / "models" / "config.json"
TRACE = ROOT / "fixtures" / "example_trace.jsonl"
TRUTH = ROOT / "fixtures" / "example_truth.jsonl"


def cli_rows(bin_: Path, trace: Path, tmp: Path, *extra: str) -> tuple[list[str], list[list[str]]]:
    out = tmp / f"{trace.stem}.csv"
    subprocess.run([bin_, "featurize", "--config", CONFIG, "--out", out, *extra, trace], check=True, capture_output=True)
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def assert_same_rows(table: pa.Table, header: list[str], rows: list[list[str]]) -> None:
    assert table.column_names == header
    assert table.num_rows == len(rows)
    assert table.column("ts_ms").to_pylist() == [int(r[0]) for r in rows]
    assert table.column("point").to_pylist() == [r[1] for r in rows]
    for j, name in enumerate(header[2:], start=2):
        ours = table.column(name).to_numpy()
        assert ours.dtype == np.float32
        theirs = np.array([r[j] for r in rows], dtype=np.float32)
        np.testing.assert_array_equal(ours, theirs, err_msg=name)


def events_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def typed_table(events: list[dict]) -> pa.Table:
    """The events as one Arrow column per field; `items` of exposures as ids
    and of recommendations as structs cannot share a column, so the
    recommendation items go as ids of dicts turned into structs."""
    rows = []
    for e in events:
        e = dict(e)
        if e["type"] == "exposure":
            e["items"] = [{"id": i} for i in e["items"]]
        rows.append(e)
    keys = sorted({k for r in rows for k in r})
    return pa.table({k: [r.get(k) for r in rows] for k in keys})


def test_version_and_errors_are_typed():
    assert edgeintent.__version__ == "0.1.0"
    with pytest.raises(edgeintent.ConfigError, match="features|expected|missing"):
        edgeintent.featurize([], {"features": 3})
    with pytest.raises(edgeintent.InputError, match="config"):
        edgeintent.featurize(TRACE, None)
    with pytest.raises(edgeintent.EventError, match="line 2.*dy_px|dy_px.*line 2|line 2"):
        edgeintent.featurize([{"ts_ms": 1, "type": "app_foreground"}, {"ts_ms": 2, "type": "scroll", "page": "home"}], CONFIG)
    with pytest.raises(edgeintent.InputError, match="ts_ms.*type.*json"):
        edgeintent.featurize(pa.table({"when": [1]}), CONFIG)
    with pytest.raises(edgeintent.InputError, match="dy_px.*numbers"):
        edgeintent.featurize(pa.table({"ts_ms": [1], "type": ["scroll"], "page": ["home"], "dy_px": ["far"]}), CONFIG)
    assert issubclass(edgeintent.EventError, edgeintent.EdgeIntentError)


def test_featurize_matches_the_cli_from_a_path_dicts_and_arrow(edgeintent_bin, tmp_path):
    header, rows = cli_rows(edgeintent_bin, TRACE, tmp_path, "--with-sequence")
    events = events_of(TRACE)
    for source in (TRACE, str(TRACE), events, typed_table(events), pa.table({"json": [json.dumps(e) for e in events]})):
        table = edgeintent.featurize(source, CONFIG, with_sequence=True)
        assert_same_rows(table, header, rows)


def test_featurize_splits_a_table_by_user_and_matches_each_users_cli_rows(edgeintent_bin, tmp_path):
    from generate import Params, generate

    users = {}
    for seed in (11, 12, 13):
        ev, _ = generate(seed, Params(days=1))
        path = tmp_path / f"u{seed}.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in ev))
        users[f"user-{seed}"] = (ev, path)
    # Interleaved by time across users: the package groups them stably.
    rows = [dict(e, user_id=u) for u, (ev, _) in users.items() for e in ev]
    rows.sort(key=lambda r: r["ts_ms"])
    table = pa.table({"user_id": [r.pop("user_id") for r in rows], "json": [json.dumps(r) for r in rows]})
    out = edgeintent.featurize(table, CONFIG)
    assert out.column_names[0] == "user_id"
    for u, (_, path) in users.items():
        header, cli = cli_rows(edgeintent_bin, path, tmp_path, "--user-id", u)
        mine = out.filter(pa.compute.equal(out.column("user_id"), u)).drop_columns(["user_id"])
        assert_same_rows(mine, header, cli)


def test_replay_and_runtime_match_the_cli_and_pickle_from_the_config(edgeintent_bin):
    cli = subprocess.run([edgeintent_bin, "replay", "--config", CONFIG, TRACE], check=True, capture_output=True, text=True)
    cli_lines = [line for line in cli.stdout.splitlines() if line.startswith("{")]
    decisions, summary = edgeintent.replay(TRACE, CONFIG)
    assert decisions.column("json").to_pylist() == cli_lines
    assert summary["runtime"]["decisions"] == len(cli_lines)
    arrow_decisions, _ = edgeintent.replay(pa.table({"json": [json.dumps(e) for e in events_of(TRACE)]}), CONFIG)
    assert arrow_decisions.column("json").to_pylist() == cli_lines

    rt = edgeintent.Runtime(CONFIG)
    polled = []
    for e in events_of(TRACE):
        assert rt.push(e)
        polled += rt.poll_all()
    assert [json.dumps(d, separators=(",", ":")) for d in polled] == [
        json.dumps(json.loads(line), separators=(",", ":")) for line in cli_lines
    ]
    assert rt.stats()["events_processed"] == len(events_of(TRACE))
    assert rt.push({"ts_ms": 1, "type": "teleport"}) is False
    with pytest.raises(edgeintent.EventError, match="lat"):
        rt.push({"ts_ms": events_of(TRACE)[-1]["ts_ms"], "type": "location", "lat": 95, "lon": 0, "accuracy_m": 3})
    again = pickle.loads(pickle.dumps(rt))
    assert again.stats()["events_processed"] == 0
    with pytest.raises(edgeintent.UpdateError):
        rt.update_config(b"not a package")


def test_evaluate_matches_the_cli(edgeintent_bin):
    cli = subprocess.run(
        [edgeintent_bin, "evaluate", "--json", "--config", CONFIG, "--truth", TRUTH, TRACE],
        check=True, capture_output=True, text=True,
    )
    theirs = json.loads(cli.stdout)
    ours = edgeintent.evaluate([TRACE], [TRUTH], CONFIG)
    assert ours["policies"] == theirs["policies"]
    assert ours["comparison"] == theirs["comparison"]
    from_dicts = edgeintent.evaluate([events_of(TRACE)], [events_of(TRUTH)], CONFIG)
    assert from_dicts["policies"] == theirs["policies"]


def test_predict_matches_the_cli(edgeintent_bin, tmp_path):
    header, rows = cli_rows(edgeintent_bin, TRACE, tmp_path)
    model = ROOT / "models" / "intent.onnx"
    x = np.array([[float(v) for v in r[2:]] for r in rows[:50]], dtype=np.float32)
    inp = tmp_path / "x.csv"
    inp.write_text(",".join(header[2:]) + "\n" + "".join(",".join(r[2:]) + "\n" for r in rows[:50]))
    cli = subprocess.run([edgeintent_bin, "predict", "--model", model, "--input", inp], check=True, capture_output=True, text=True)
    cli_rows_out = [json.loads(line) for line in cli.stdout.splitlines()]
    ours = edgeintent.predict(model, x)
    for name, values in ours.items():
        assert values.shape[0] == 50
        flat = values.reshape(50, -1)
        for i, r in enumerate(cli_rows_out):
            np.testing.assert_allclose(flat[i], np.array(r[name], dtype=flat.dtype), rtol=0, atol=0)
    with pytest.raises(edgeintent.InputError, match="2-D"):
        edgeintent.predict(model, x[0])
