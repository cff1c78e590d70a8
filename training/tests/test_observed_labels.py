"""The observable labelling rule: each case it names, and nothing else."""

from __future__ import annotations

import pytest

from observed_labels import HORIZON_S, LONG_SCROLL_PX, QUICK_EXIT_S, label_trace, read_trace

T = 1_767_600_000_000


def ev(dt_s: float, event_type: str, **fields) -> dict:
    return {"ts_ms": T + int(dt_s * 1000), "type": event_type, **fields}


def one(events: list[dict], point: str = "home_view"):
    y, why = label_trace([ev(0, "page_view", page="home"), *events], [T], [point])
    return int(y[0]), why[0]


def test_each_sign_of_stale_content_makes_the_moment_positive():
    assert one([ev(10, "pull_to_refresh", page="home")]) == (1, "pull_to_refresh")
    assert one([ev(10, "feedback", item="a", kind="dislike")]) == (1, "dislike")
    scrolls = [ev(2 + i, "scroll", page="home", dy_px=-LONG_SCROLL_PX / 4) for i in range(4)]
    assert one(scrolls) == (1, "long_scroll")
    assert one([ev(QUICK_EXIT_S - 1, "page_view", page="item")]) == (1, "quick_exit")
    assert one([ev(QUICK_EXIT_S - 1, "app_background")]) == (1, "quick_exit")


def test_a_click_first_or_no_sign_makes_it_negative():
    assert one([ev(5, "click", slot="feed", item="a"), ev(10, "pull_to_refresh", page="home")]) == (0, None)
    assert one([ev(10, "feedback", item="a", kind="like")]) == (0, None)
    assert one([ev(2, "scroll", page="home", dy_px=LONG_SCROLL_PX - 1)]) == (0, None)
    assert one([ev(QUICK_EXIT_S + 1, "page_view", page="item")]) == (0, None)
    assert one([]) == (0, None)


def test_the_window_ends_at_the_horizon_and_at_the_session_end():
    assert one([ev(HORIZON_S + 1, "pull_to_refresh", page="home")]) == (0, None)
    assert one([ev(30, "app_background"), ev(40, "pull_to_refresh", page="home")]) == (0, None)


def test_quick_exit_counts_only_for_home_views():
    assert one([ev(1, "page_view", page="item")], point="foreground") == (0, None)
    assert one([ev(1, "page_view", page="item")], point="tick") == (0, None)


def test_events_at_the_decision_moment_belong_to_its_past():
    y, _ = label_trace([ev(0, "pull_to_refresh", page="home")], [T], ["tick"])
    assert y.tolist() == [0]


def test_a_trace_file_is_read_with_line_numbers_in_errors(tmp_path):
    good = tmp_path / "t.jsonl"
    good.write_text('\ufeff{"ts_ms":1,"type":"app_foreground"}\n\n{"ts_ms":2,"type":"app_background"}\n')
    assert [e["ts_ms"] for e in read_trace(good)] == [1, 2]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"ts_ms":1,"type":"app_foreground"}\n{"ts_ms":2\n')
    with pytest.raises(ValueError, match="bad.jsonl: line 2"):
        read_trace(bad)


def test_models_trained_on_observed_labels_rank_the_truth_on_both_simulators(tmp_path, edgeintent_bin):
    import json
    import subprocess
    import sys

    from conftest import TRAINING

    out = tmp_path / "labels.json"
    r = subprocess.run(
        [sys.executable, str(TRAINING / "label_check.py"), "--bin", str(edgeintent_bin), "--users", "3", "--days", "2",
         "--traces", str(tmp_path / "t"), "--out", str(out)],
        capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    for sim in ("a", "b"):
        # Learned from the trace alone, the model still ranks true needs above chance.
        assert report[sim]["auc_vs_truth_trained_on_observed"] > 0.6, report[sim]
        assert sum(report[sim]["observed_reasons"].values()) > 0
