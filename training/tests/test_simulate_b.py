"""Simulator B is seeded, follows the trace contract, and its truth tells its own story."""

from __future__ import annotations

import json
import subprocess
from collections import Counter

from simulate_b import NEED_TTL_S, PopulationB, simulate, write_jsonl
from test_generate import CONTRACT


def test_same_seed_same_trace_and_different_seeds_differ():
    assert simulate(11, PopulationB(days=2)) == simulate(11, PopulationB(days=2))
    assert simulate(11, PopulationB(days=2))[0] != simulate(12, PopulationB(days=2))[0]


def test_events_follow_the_contract_in_time_order():
    events, _ = simulate(5, PopulationB(days=3))
    assert events
    assert [e["ts_ms"] for e in events] == sorted(e["ts_ms"] for e in events)
    for e in events:
        assert CONTRACT[e["type"]] <= set(e), e


def test_needs_follow_visible_causes_and_end_within_their_lifetime():
    events, truth = simulate(7, PopulationB(days=7))
    shifts = [r for r in truth if r["kind"] == "interest_shift"]
    causes = Counter(r["cause"] for r in shifts)
    # Most needs follow something the trace records, unlike simulator A's silent drift.
    visible = causes["payment"] + causes["coupon"] + causes["search"]
    assert visible > 0.6 * len(shifts), causes
    # Each recorded cause is in the trace at the shift's moment.
    names = {"payment": "payment_done", "coupon": "coupon_claimed"}
    for r in shifts:
        if r["cause"] in names:
            at = [e for e in events if e["ts_ms"] == r["ts_ms"] and e["type"] == "custom"]
            assert any(e["name"] == names[r["cause"]] for e in at), r
    wants = [r for r in truth if r["kind"] == "want_fresh"]
    assert len(wants) == len(shifts)
    for w in wants:
        assert 0 < w["end_ms"] - w["start_ms"] <= NEED_TTL_S * 1000
        assert w["ended"] in ("pull_to_refresh", "superseded", "expired")


def test_stale_feeds_look_different_from_fitting_ones():
    events, truth = simulate(9, PopulationB(days=7))
    wants = [(r["start_ms"], r["end_ms"]) for r in truth if r["kind"] == "want_fresh"]

    def stale(t: int) -> bool:
        return any(a <= t < b for a, b in wants)

    clicks = Counter(stale(e["ts_ms"]) for e in events if e["type"] == "click")
    dislikes = Counter(stale(e["ts_ms"]) for e in events if e["type"] == "feedback")
    views = Counter(stale(e["ts_ms"]) for e in events if e["type"] == "page_view" and e["page"] == "home")
    # Per home view, clicks are rarer and dislikes commoner while the need is unmet.
    assert clicks[True] / max(1, views[True]) < clicks[False] / max(1, views[False])
    assert dislikes[True] / max(1, views[True]) > dislikes[False] / max(1, views[False])


def test_the_runtime_accepts_every_simulated_event(tmp_path, edgeintent_bin):
    events, _ = simulate(21, PopulationB(days=2))
    trace = tmp_path / "b.jsonl"
    write_jsonl(trace, events)
    subprocess.run(
        [str(edgeintent_bin), "replay", "--summary", str(tmp_path / "s.json"), str(trace)],
        capture_output=True, text=True, check=True,
    )
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["read"]["events"] == len(events)
    assert summary["runtime"]["events_rejected"] == 0
