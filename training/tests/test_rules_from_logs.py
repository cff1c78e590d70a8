"""What `fit` learns besides the model: rules from the app's own events, and
the observed truth it calibrates on; both from the trace alone."""

from __future__ import annotations

import numpy as np

from rules_from_logs import MIN_SUPPORT, contradicted, learned_rules, observed_truth, rule_stats

T = 1_767_600_000_000


def user(n: int) -> dict:
    """A user whose home view after a payment is always stale, after an item
    page never, and whose other home views are stale one time in four; the
    `pay` page always comes just before the payment (the same views)."""
    events, ts, points, y = [], [], [], []
    t = T
    for i in range(n):
        kind = i % 4
        if kind == 0:
            events += [{"ts_ms": t, "type": "page_view", "page": "pay"},
                       {"ts_ms": t + 1000, "type": "custom", "name": "payment_done"}]
        elif kind == 1:
            events.append({"ts_ms": t, "type": "page_view", "page": "item"})
        t += 5000
        events.append({"ts_ms": t, "type": "page_view", "page": "home"})
        ts.append(t)
        points.append("home_view")
        y.append(1 if kind == 0 or (kind == 2 and i % 8 == 2) else 0)
        t += 60_000
    return {"trace": "u.jsonl", "events": events, "ts": np.array(ts), "points": points, "y": np.array(y)}


def test_an_event_that_announces_stale_home_views_becomes_one_rule():
    base, stats = rule_stats([user(4 * MIN_SUPPORT)])
    assert 0.3 < base < 0.4
    by_kind = {(s["event"], s["value"]): s for s in stats}
    assert by_kind[("page_view", "pay")]["stale_share"] == 1.0
    assert by_kind[("custom", "payment_done")]["lift"] > 2
    assert by_kind[("page_view", "item")]["stale_share"] == 0.0
    rules = learned_rules(stats)
    # The payment page and the payment announce the same views: one rule, not two.
    assert len(rules) == 1 and rules[0]["action"] == "mark_stale"
    assert rules[0]["event"] in ("page_view", "custom")


def test_too_few_occurrences_learn_nothing():
    _, stats = rule_stats([user(MIN_SUPPORT)])  # a quarter of them are payments
    assert learned_rules(stats) == []


def test_observed_truth_brackets_each_run_of_positive_points():
    events = [
        {"ts_ms": T, "type": "page_view", "page": "home"},
        {"ts_ms": T + 3000, "type": "feedback", "item": "a", "kind": "dislike"},
        {"ts_ms": T + 10_000, "type": "page_view", "page": "home"},
        {"ts_ms": T + 400_000, "type": "page_view", "page": "home"},
        {"ts_ms": T + 401_000, "type": "click", "slot": "feed", "item": "b"},
    ]
    u = {"trace": "u.jsonl", "events": events, "ts": [T, T + 10_000, T + 400_000],
         "points": ["home_view"] * 3, "y": [1, 1, 0]}
    start = observed_truth(u, "start")
    assert start == [{"kind": "interest_shift", "ts_ms": T},
                     {"kind": "want_fresh", "start_ms": T, "end_ms": T + 10_000}]
    late = observed_truth(u, "evidence")
    assert late[0] == {"kind": "interest_shift", "ts_ms": T + 3000}, "the dislike that showed it"


def test_a_base_rule_the_logs_contradict_is_dropped():
    users = [user(4 * MIN_SUPPORT)]
    base, _ = rule_stats(users)
    item = {"event": "page_view", "when": {"page": "item"}, "action": "mark_stale"}
    payment = {"event": "custom", "when": {"name": "payment_done"}, "action": "mark_stale"}
    ranged = {"event": "custom", "when": {"min": 5}, "action": "mark_stale"}
    refresh = {"event": "page_view", "when": {"page": "item"}, "action": "refresh"}
    dropped = contradicted([item, payment, ranged, refresh], users, base)
    assert [d["rule"] for d in dropped] == [item]
    assert dropped[0]["stale_share"] == 0.0 and dropped[0]["z"] < -3
