"""The closed loop: simulator B's user reacts to a live runtime's refreshes,
and the trace it leaves replays to exactly the decisions made live."""

from __future__ import annotations

import json
import subprocess

import pytest

from closed_loop import LivePolicy, absolute, fixed_interval, load_library
from conftest import ROOT
from generate import write_jsonl
from simulate_b import PopulationB, simulate


@pytest.fixture(scope="module")
def lib(edgeintent_bin):
    path = edgeintent_bin.parent / "libedgeintent.so"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `cargo build` or scripts/test.sh first")
    return load_library(path)


class Recording(LivePolicy):
    def __init__(self, lib, config):
        super().__init__(lib, config)
        self.decisions = []

    def push(self, event):
        out = super().push(event)
        self.decisions += out
        return out


def test_the_live_decisions_are_what_a_replay_of_the_trace_gives(lib, edgeintent_bin, tmp_path):
    config = absolute(json.loads((ROOT / "models" / "config.json").read_text()), ROOT / "models")
    policy = Recording(lib, config)
    events, truth = simulate(9501, PopulationB(days=2), policy=policy)
    policy.close()
    write_jsonl(tmp_path / "t.jsonl", events)
    (tmp_path / "c.json").write_text(json.dumps(config))
    r = subprocess.run([str(edgeintent_bin), "replay", "--config", str(tmp_path / "c.json"), str(tmp_path / "t.jsonl")],
                       capture_output=True, text=True, check=True)
    assert [json.loads(line) for line in r.stdout.splitlines()] == policy.decisions
    assert any(w.get("ended") == "refreshed" for w in truth if w["kind"] == "want_fresh")


def test_refreshing_often_ends_needs_and_spares_the_user_pulling_to_refresh(lib):
    config = absolute(json.loads((ROOT / "models" / "config.json").read_text()), ROOT / "models")
    open_events, open_truth = simulate(9502, PopulationB(days=3))
    policy = LivePolicy(lib, fixed_interval(config, 5))
    closed_events, closed_truth = simulate(9502, PopulationB(days=3), policy=policy)
    policy.close()
    ptr = lambda evs: sum(e["type"] == "pull_to_refresh" for e in evs)  # noqa: E731
    assert ptr(closed_events) < ptr(open_events) / 2
    ended = [w.get("ended") for w in closed_truth if w["kind"] == "want_fresh"]
    assert ended.count("refreshed") > len(ended) / 2
    assert all(w.get("ended") != "refreshed" for w in open_truth if w["kind"] == "want_fresh")
    # Time only moves forward for a live policy.
    assert all(a["ts_ms"] <= b["ts_ms"] for a, b in zip(closed_events, closed_events[1:]))
