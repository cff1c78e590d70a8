"""Simulator C is seeded, follows the trace contract, gives each user their
own habits, and most of its shifts have no cue in the trace."""

from __future__ import annotations

import json
import subprocess
from collections import Counter

from simulate_c import Persona, simulate, write_jsonl
from test_generate import CONTRACT

import numpy as np


def test_same_seed_same_trace_and_different_seeds_differ():
    assert simulate(11, 2) == simulate(11, 2)
    assert simulate(11, 2)[0] != simulate(12, 2)[0]


def test_events_follow_the_contract_in_time_order():
    events, _ = simulate(5, 3)
    assert events
    assert [e["ts_ms"] for e in events] == sorted(e["ts_ms"] for e in events)
    for e in events:
        assert CONTRACT[e["type"]] <= set(e), e


def test_users_differ_from_each_other():
    rng = np.random.default_rng(0)
    personas = [Persona.draw(rng) for _ in range(200)]
    rates = [p.sessions_per_day for p in personas]
    assert max(rates) > 3 * min(rates)
    # Some users have no dislike button and no pull-to-refresh at all.
    assert any(not p.has_dislike and not p.pulls for p in personas)


def test_most_shifts_have_no_cue_and_needs_end_by_their_rules():
    causes = Counter()
    for seed in range(40, 60):
        _, truth = simulate(seed, 7)
        causes.update(r["cause"] for r in truth if r["kind"] == "interest_shift")
        for r in truth:
            if r["kind"] == "want_fresh":
                assert r["ended"] in {"pull_to_refresh", "superseded", "expired"}
                assert r["end_ms"] > r["start_ms"]
    assert causes["drift"] + causes["away"] > 2 * causes["search"], causes


def test_a_stale_feed_shows_in_clicks_and_scrolls():
    clicks, views, scroll = Counter(), Counter(), {True: [], False: []}
    for seed in range(60, 80):
        events, truth = simulate(seed, 5)
        needs = [(r["start_ms"], r["end_ms"]) for r in truth if r["kind"] == "want_fresh"]

        def stale(t):
            return any(s <= t < e for s, e in needs)

        for e in events:
            if e["type"] == "page_view" and e["page"] == "home":
                views[stale(e["ts_ms"])] += 1
            elif e["type"] == "click":
                clicks[stale(e["ts_ms"])] += 1
            elif e["type"] == "scroll":
                scroll[stale(e["ts_ms"])].append(e["dy_px"])
    assert clicks[True] / views[True] < clicks[False] / views[False]
    assert np.median(scroll[True]) > np.median(scroll[False])


def test_the_runtime_accepts_every_simulated_event(tmp_path, edgeintent_bin):
    events, _ = simulate(21, 2)
    trace = tmp_path / "c.jsonl"
    write_jsonl(trace, events)
    subprocess.run(
        [str(edgeintent_bin), "replay", "--summary", str(tmp_path / "s.json"), str(trace)],
        capture_output=True, text=True, check=True,
    )
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["read"]["events"] == len(events)
    assert summary["runtime"]["events_rejected"] == 0
