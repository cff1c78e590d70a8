"""What `fit` learns from an app's logs besides the model: which of the app's
own events announce stale content, and an observed stand-in for the truth a
simulator would have, so that a policy can be calibrated on the same metric
it is judged by. Both come from observable behaviour only (the labels of
``observed_labels.py``); nothing here reads a simulator's truth.

* **Rules.** For each kind of event an app records that a rule can match
  (a ``search``; a ``custom`` event, by name; a ``notification``, by topic;
  a ``page_view`` of a page other than home, by page), the share of its
  occurrences whose next home view (within ``RULE_WINDOW_S``) was labelled
  stale, against the share of all home views labelled stale (the *lift*).
  Kinds seen at least ``MIN_SUPPORT`` times whose stale share is above the
  base share by at least ``MIN_Z`` binomial standard errors (so a lift that
  chance would give on that many occurrences is not taken) become
  ``mark_stale`` candidates, best lift first, at most ``MAX_RULES``, each
  one announcing home views the ones before it do not. The base config's own
  ``mark_stale`` rules are checked the same way, and one the logs contradict
  (the views after its events are stale *less* often than views in general,
  by ``MIN_Z`` standard errors) is dropped: an a-priori rule gives way to
  the app's evidence.
* **Observed truth.** Each run of consecutive positive decision points
  (broken by a negative one or a gap over the labels' horizon) becomes one
  ``interest_shift`` and a ``want_fresh`` interval: the records
  ``edgeintent evaluate --truth`` reads. Behaviour does not say when the
  need began, only bounds it: the run's first point is as early as it can
  be (the label looks up to its horizon ahead), the event that made that
  point positive (a dislike, a long scroll...) as late. Recall placed at the
  early end favours policies that refresh ahead of the evidence (rules on
  the app's own events), at the late end policies that react to it (the
  model); ``fit`` scores every setting at both ends and takes the mean.
  Either is an estimate of the judged figure, not the figure itself.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from pathlib import Path

from observed_labels import HORIZON_S, evidence

RULE_WINDOW_S = 600.0
MIN_SUPPORT = 20
MIN_Z = 3.0
MAX_RULES = 6
MAX_OVERLAP = 0.8


def rule_key(e: dict) -> tuple[str, str, str] | None:
    """(event type, `when` field, value) of an event a learned rule could match."""
    t = e.get("type")
    if t == "search":
        return ("search", "", "")
    if t == "custom" and isinstance(e.get("name"), str):
        return ("custom", "name", e["name"])
    if t == "notification" and isinstance(e.get("topic"), str):
        return ("notification", "topic", e["topic"])
    if t == "page_view" and isinstance(e.get("page"), str) and e["page"] != "home":
        return ("page_view", "page", e["page"])
    return None


def rule_stats(users: list[dict]) -> tuple[float, list[dict]]:
    """(share of home views labelled stale, one entry per event kind with
    its support, stale share and lift), over users with ``events``, ``ts``,
    ``points`` and ``y``."""
    views = stale = 0
    seen: dict[tuple[str, str, str], list[int]] = {}
    for u in users:
        home = [(int(t), int(y)) for t, p, y in zip(u["ts"], u["points"], u["y"]) if p == "home_view"]
        times = [t for t, _ in home]
        views += len(home)
        stale += sum(y for _, y in home)
        for e in u["events"]:
            key = rule_key(e)
            if key is None:
                continue
            i = bisect_right(times, int(e["ts_ms"]))
            if i < len(home) and times[i] - e["ts_ms"] <= RULE_WINDOW_S * 1000:
                seen.setdefault(key, []).append((home[i][1], (str(u["trace"]), i)))
    base = stale / views if views else 0.0
    stats = []
    for (ty, field, value), hits in seen.items():
        ys = [y for y, _ in hits]
        rate = sum(ys) / len(ys)
        se = math.sqrt(base * (1 - base) / len(ys))
        stats.append({"event": ty, "field": field, "value": value, "support": len(ys),
                      "stale_share": round(rate, 4), "lift": round(rate / base, 3) if base > 0 else 0.0,
                      "z": round((rate - base) / se, 2) if se > 0 else 0.0,
                      "views": {v for _, v in hits}})
    stats.sort(key=lambda s: (-s["lift"], -s["support"], s["event"], s["value"]))
    return base, stats


def rule_matches(rule: dict, e: dict) -> bool | None:
    """Whether a trigger rule matches an event; ``None`` for rules this cannot
    judge (a numeric ``min``/``max``)."""
    when = rule.get("when", {})
    if set(when) - {"page", "kind", "name", "topic"}:
        return None
    return e.get("type") == rule.get("event") and all(e.get(k) == v for k, v in when.items())


def contradicted(rules: list[dict], users: list[dict], base: float) -> list[dict]:
    """The base config's ``mark_stale`` rules that the logs contradict: the
    home views after the events they match were stale *less* often than home
    views in general, by ``MIN_Z`` standard errors, over at least
    ``MIN_SUPPORT`` occurrences. Each entry: the rule and its figures."""
    out = []
    for rule in rules:
        if rule.get("action") != "mark_stale":
            continue
        ys = []
        for u in users:
            home = [(int(t), int(y)) for t, p, y in zip(u["ts"], u["points"], u["y"]) if p == "home_view"]
            times = [t for t, _ in home]
            for e in u["events"]:
                if not rule_matches(rule, e):
                    continue
                i = bisect_right(times, int(e["ts_ms"]))
                if i < len(home) and times[i] - e["ts_ms"] <= RULE_WINDOW_S * 1000:
                    ys.append(home[i][1])
        if len(ys) < MIN_SUPPORT or not 0 < base < 1:
            continue
        rate = sum(ys) / len(ys)
        z = (rate - base) / math.sqrt(base * (1 - base) / len(ys))
        if z <= -MIN_Z:
            out.append({"rule": rule, "support": len(ys), "stale_share": round(rate, 4), "z": round(z, 2)})
    return out


def learned_rules(stats: list[dict]) -> list[dict]:
    """The ``mark_stale`` trigger rules worth trying, best first. A kind whose
    next home views are mostly (``MAX_OVERLAP``) those of kinds already kept
    adds nothing (a payment page and the payment made on it) and is skipped."""
    keep, covered = [], set()
    for s in stats:
        if len(keep) == MAX_RULES:
            break
        if s["support"] < MIN_SUPPORT or s["z"] < MIN_Z or len(s["views"] & covered) > MAX_OVERLAP * len(s["views"]):
            continue
        keep.append(s)
        covered |= s["views"]
    return [
        {"event": s["event"], **({"when": {s["field"]: s["value"]}} if s["field"] else {}), "action": "mark_stale", "debounce_s": 0}
        for s in keep
    ]


def observed_truth(user: dict, at: str) -> list[dict]:
    """Truth records (``interest_shift``, ``want_fresh``) from the runs of
    positive decision points of one user (``events``, ``ts``, ``points``,
    ``y``). Each run is one shift, placed ``at`` its ``"start"`` (the first
    positive decision point: no later than the real shift's first view can
    be, as the label looks ahead) or at its ``"evidence"`` (the event that
    made that point positive: no earlier than the user noticed)."""
    events = sorted(user["events"], key=lambda e: e["ts_ms"])
    times = [e["ts_ms"] for e in events]
    out: list[dict] = []
    gap = int(HORIZON_S * 1000)
    run: list[tuple[int, str]] = []

    def close() -> None:
        if not run:
            return
        first, point = run[0]
        shift = first
        if at == "evidence":
            found = evidence(events, bisect_right(times, first), first, point == "home_view")
            shift = found[1] if found else first
        out.append({"kind": "interest_shift", "ts_ms": shift})
        out.append({"kind": "want_fresh", "start_ms": shift, "end_ms": max(shift, run[-1][0])})
        run.clear()

    for t, point, label in zip(user["ts"], user["points"], user["y"]):
        t = int(t)
        if label and run and t - run[-1][0] > gap:
            close()
        if label:
            run.append((t, point))
        else:
            close()
    close()
    out.sort(key=lambda r: r.get("ts_ms", r.get("start_ms")))
    return out


def write_observed_truth(user: dict, folder: Path) -> tuple[Path, Path]:
    """The user's observed truth at both ends (``start``, ``evidence``), as
    files ``edgeintent evaluate --truth`` reads."""
    paths = []
    for at in ("start", "evidence"):
        path = folder / f"{Path(user['trace']).stem}.observed-{at}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in observed_truth(user, at)))
        paths.append(path)
    return paths[0], paths[1]
