"""The trace generator is seeded, follows the trace contract, and its truth is consistent."""

from __future__ import annotations

import json
import subprocess

from generate import Params, generate, write_jsonl
from labels import label

CONTRACT = {
    "app_foreground": set(),
    "app_background": set(),
    "page_view": {"page"},
    "scroll": {"page", "dy_px"},
    "exposure": {"slot", "items"},
    "click": {"slot", "item"},
    "pull_to_refresh": {"page"},
    "feedback": {"item", "kind"},
    "search": set(),
    "location": {"lat", "lon", "accuracy_m"},
    "notification": {"topic"},
    "recommendations": {"slot", "items"},
    "custom": {"name"},
}


def test_same_seed_same_trace_and_different_seeds_differ():
    a = generate(3, Params(days=2))
    b = generate(3, Params(days=2))
    c = generate(4, Params(days=2))
    assert a == b
    assert a[0] != c[0]


def test_events_follow_the_contract_in_time_order():
    events, _ = generate(5, Params(days=3))
    assert len(events) > 300
    ts = [e["ts_ms"] for e in events]
    assert ts == sorted(ts)
    for e in events:
        assert isinstance(e["ts_ms"], int)
        assert CONTRACT[e["type"]] <= set(e), e
        if e["type"] == "location":
            assert -90 <= e["lat"] <= 90 and e["accuracy_m"] >= 0


def test_the_signals_appear_when_content_is_wanted():
    events, truth = generate(11, Params(days=6))
    ts = [e["ts_ms"] for e in events]
    wanted = label(ts, truth)
    def rate(kind: str, inside: bool) -> float:
        picked = [e for e, w in zip(events, wanted) if bool(w) == inside]
        return sum(e["type"] == kind for e in picked) / max(1, len(picked))
    assert rate("search", True) > 2 * rate("search", False)
    # Long-absence intervals include sessions whose interest did not shift, so the gap is smaller.
    assert rate("click", True) < 0.7 * rate("click", False)


def test_want_fresh_intervals_lie_inside_sessions_and_are_bounded():
    _, truth = generate(8, Params(days=4))
    sessions = [(r["start_ms"], r["end_ms"]) for r in truth if r["kind"] == "session"]
    wants = [r for r in truth if r["kind"] == "want_fresh"]
    assert wants
    for w in wants:
        assert w["end_ms"] - w["start_ms"] <= 180_000
        assert any(s <= w["start_ms"] and w["end_ms"] <= e for s, e in sessions), w
        assert w["cause"] in {"interest_shift", "long_absence"}


def test_labels_mark_points_inside_want_fresh_intervals():
    truth = [
        {"kind": "want_fresh", "start_ms": 100, "end_ms": 200, "cause": "interest_shift"},
        {"kind": "want_fresh", "start_ms": 150, "end_ms": 400, "cause": "long_absence"},
        {"kind": "session", "start_ms": 0, "end_ms": 1000},
    ]
    assert list(label([50, 100, 199, 250, 399, 400], truth)) == [0, 1, 1, 1, 1, 0]
    assert list(label([5], [])) == [0]


def test_the_runtime_accepts_every_generated_event(tmp_path, edgeintent_bin):
    events, truth = generate(21, Params(days=2))
    trace = tmp_path / "t.jsonl"
    write_jsonl(trace, events)
    out = subprocess.run(
        [str(edgeintent_bin), "replay", "--no-model", "--summary", str(tmp_path / "s.json"), str(trace)],
        capture_output=True, text=True, check=True,
    )
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["read"]["events"] == len(events)
    assert summary["runtime"]["events_rejected"] == 0
    assert "refresh" in out.stdout
