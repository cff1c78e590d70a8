"""Labels from what an app's own trace records, never from a simulator's truth.

An app that adopts edgeintent has its logs in the trace format and nothing
else, so this is the rule training on real logs uses. For the row of a
decision point at time ``t`` (a line of ``edgeintent featurize``), look at the
user's own events after it, in the *outcome window*: ``(t, t + HORIZON_S]``,
cut at the end of the session (``app_background``). Windows of nearby
decision points may overlap.

The moment wanted fresh content (label 1) when, in the outcome window and
before the first click on the homepage:

* the user pulled to refresh the homepage, or
* disliked an item (``feedback`` of kind ``dislike``), or
* scrolled the homepage at least ``LONG_SCROLL_PX`` in total, or
* for a home view: left the homepage (another page, or the background) within
  ``QUICK_EXIT_S`` without clicking anything.

Otherwise (a click on what was shown came first, or none of the above) the
label is 0. Each rule is something a user does when the content is stale and
does not do when it fits; a click is the opposite. The thresholds are
constants here, documented and tested, not fitted to a simulator.

    from observed_labels import label_trace
    y = label_trace(events, ts_ms, points)   # events: the trace's dicts
"""

from __future__ import annotations

import json
from bisect import bisect_right
from pathlib import Path

import numpy as np

HORIZON_S = 120.0
LONG_SCROLL_PX = 3000.0
QUICK_EXIT_S = 5.0

# Why a row is positive, for reports: the first rule that fired.
REASONS = ("pull_to_refresh", "dislike", "long_scroll", "quick_exit")


def read_trace(path: Path) -> list[dict]:
    """The events of a trace file (JSON Lines), in file order; bad lines are
    errors naming the file and line."""
    events = []
    with Path(path).open(encoding="utf-8-sig") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                e = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: line {n}: not JSON: {err}") from None
            if not isinstance(e, dict) or "ts_ms" not in e or "type" not in e:
                raise ValueError(f"{path}: line {n}: an event needs `ts_ms` and `type`")
            events.append(e)
    return events


def outcome(events: list[dict], start: int, t_ms: int, home_view: bool) -> str | None:
    """The rule that makes the moment at ``t_ms`` positive, or ``None``.

    ``events`` are sorted by time; ``start`` is the index of the first event
    after ``t_ms``.
    """
    found = evidence(events, start, t_ms, home_view)
    return None if found is None else found[0]


def evidence(events: list[dict], start: int, t_ms: int, home_view: bool) -> tuple[str, int] | None:
    """Like :func:`outcome`, with the time of the event that showed it: the
    rule and its ``ts_ms``, or ``None``."""
    end_ms = t_ms + int(HORIZON_S * 1000)
    scrolled = 0.0
    on_home = home_view
    for e in events[start:]:
        ts = e["ts_ms"]
        if ts > end_ms:
            break
        kind = e["type"]
        if kind == "click":
            return None
        if kind == "app_background":
            if home_view and on_home and ts - t_ms <= QUICK_EXIT_S * 1000:
                return "quick_exit", ts
            return None
        if kind == "pull_to_refresh" and e.get("page") == "home":
            return "pull_to_refresh", ts
        if kind == "feedback" and e.get("kind") == "dislike":
            return "dislike", ts
        if kind == "scroll" and e.get("page") == "home":
            scrolled += abs(float(e.get("dy_px", 0.0)))
            if scrolled >= LONG_SCROLL_PX:
                return "long_scroll", ts
        if kind == "page_view":
            if e.get("page") != "home" and on_home and home_view and ts - t_ms <= QUICK_EXIT_S * 1000:
                return "quick_exit", ts
            on_home = e.get("page") == "home"
    return None


def label_trace(events: list[dict], ts_ms, points) -> tuple[np.ndarray, list[str | None]]:
    """Labels (0/1) and the rule behind each positive, for decision points at
    ``ts_ms`` of kinds ``points`` (``featurize``'s ``point`` column)."""
    ordered = sorted(events, key=lambda e: e["ts_ms"])
    times = [e["ts_ms"] for e in ordered]
    y = np.zeros(len(ts_ms), dtype=np.int64)
    why: list[str | None] = []
    for i, (t, p) in enumerate(zip(ts_ms, points)):
        t = int(t)
        reason = outcome(ordered, bisect_right(times, t), t, p == "home_view")
        why.append(reason)
        y[i] = reason is not None
    return y, why
