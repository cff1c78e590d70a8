"""What the model adds at equal recall, and production-like logs for fit."""

from __future__ import annotations

from app_logs import app_log
from model_worth import bootstrap_adds, model_adds


def fixed():
    return [{"recall": 0.5, "requests_per_hour": 10.0}, {"recall": 0.9, "requests_per_hour": 50.0}]


def test_the_model_is_read_off_its_curve_at_the_recall_of_the_rules():
    curve = [{"recall": 0.6, "requests_per_hour": 15.0}, {"recall": 0.8, "requests_per_hour": 25.0}]
    without = {"recall": 0.7, "requests_per_hour": 25.0}
    assert abs(model_adds(curve, without, fixed()) - 5.0 / 30.0) < 1e-9
    assert model_adds(curve, {"recall": 0.95, "requests_per_hour": 1.0}, fixed()) is None


def user(served_with: int, requests_with: int, served_without: int, requests_without: int) -> list[dict]:
    rows = [
        {"name": "ours", "kind": "ours", "requests": requests_with, "foreground_hours": 1.0,
         "shifts_served": served_with, "shifts_seen": 10},
        {"name": "ours@0.2", "kind": "ours_sweep", "requests": requests_with * 2, "foreground_hours": 1.0,
         "shifts_served": 10, "shifts_seen": 10},
        {"name": "ours, no model", "kind": "ours_no_model", "requests": requests_without, "foreground_hours": 1.0,
         "shifts_served": served_without, "shifts_seen": 10},
    ]
    for interval, (served, req) in {60: (9, 60), 600: (5, 10)}.items():
        rows.append({"name": f"fixed {interval}s", "kind": "fixed_interval", "requests": req, "foreground_hours": 1.0,
                     "shifts_served": served, "shifts_seen": 10})
    return rows


def test_the_bootstrap_interval_brackets_the_pooled_figure():
    users = [user(7, 20, 7, 30 + k) for k in range(8)]
    r = bootstrap_adds(users, draws=100)
    assert r["adds"] > 0
    lo, hi = r["ci90"]
    assert lo <= r["adds"] <= hi
    # A model that costs on every user shows as negative.
    worse = bootstrap_adds([user(7, 40, 7, 30) for _ in range(8)], draws=50)
    assert worse["adds"] < 0 and worse["ci90"][1] < 0


def test_app_logs_record_the_apps_own_refreshes():
    for sim in "abc":
        events, _ = app_log(sim, 6200, 3)
        assert [e["ts_ms"] for e in events] == sorted(e["ts_ms"] for e in events)
        views = [i for i, e in enumerate(events) if e["type"] == "page_view" and e["page"] == "home"]
        recs = [i for i, e in enumerate(events) if e["type"] == "recommendations"]
        assert recs and all(events[i - 1]["type"] == "page_view" and events[i - 1]["page"] == "home" for i in recs)
        assert 0.15 < len(recs) / len(views) < 0.45, (sim, len(recs), len(views))
