"""Seeded generator of realistic homepage behaviour traces, with ground truth.

Generative story (one simulated user; every random draw comes from one seeded
``numpy.random.Generator``, so a seed always gives the same trace):

* **Sessions.** Each day the user opens the app several times (Poisson, mean
  ``sessions_per_day``) between 07:00 and 23:30. A session starts with
  ``app_foreground`` and a homepage ``page_view`` and ends with
  ``app_background``. Session length is exponential (mean 4 minutes, at least
  30 s). Gaps between sessions are anything from minutes to a night, so some
  sessions follow *long absences*.
* **Latent interest.** The user has one current interest among ``TOPICS``. The
  feed the user sees was fetched for some interest; while the two match, the
  user browses contentedly: moderate scrolling, regular clicks on exposed items,
  detail pages and back. Interest *shifts* at random (Poisson, one every ~6
  minutes of foreground time) and, with probability 0.6, while the user is away
  for more than 30 minutes.
* **Signals.** After a shift the feed no longer matches: clicks become rare,
  scrolling gets faster and longer (scroll without clicks), the user searches,
  dislikes items, sometimes pulls to refresh, and the feed repeats items already
  seen (exposure novelty drops). These are the signals the features capture.
  A pull-to-refresh or a search-then-home shows the user found fresh content,
  and the feed matches again.
* **Noise.** Server ``notification`` hints arrive at random (they say nothing
  about the user), ``location`` fixes arrive every few minutes, and rare
  ``custom`` events happen, so the model must learn which signals matter.

Ground truth (``--truth``): JSON Lines records:

* ``{"kind": "session", "start_ms", "end_ms"}``
* ``{"kind": "interest_shift", "ts_ms", "from", "to", "while_away"}``
* ``{"kind": "want_fresh", "start_ms", "end_ms", "cause"}`` where ``cause`` is
  ``interest_shift`` or ``long_absence``: the interval during which fresh
  content would have been useful (until the feed matched again, at most
  ``WANT_FRESH_S`` seconds, and never past the session end).

A decision point at time ``t`` is labelled positive when ``t`` lies inside a
``want_fresh`` interval (see ``labels.py``).

Closed loop (``generate(seed, params, policy)``, used by ``closed_loop.py``):
every event goes to a live policy as it happens, and a page refresh it
decides brings the feed to the user's current interest (ending the
``want_fresh`` interval), so the user behaves as with content that fits.

Usage: ``python training/generate.py --seed 7 --days 5 --out trace.jsonl --truth truth.jsonl``
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TOPICS = 8
WANT_FRESH_S = 180.0
LONG_ABSENCE_S = 1800.0
# 2026-01-05 00:00:00 UTC (a Monday).
EPOCH_MS = 1_767_571_200_000


@dataclass
class Params:
    """Knobs of the generative story."""

    days: int = 5
    sessions_per_day: float = 7.0
    session_mean_s: float = 240.0
    shift_every_s: float = 360.0
    notification_every_s: float = 420.0
    location_every_s: float = 150.0


@dataclass
class Sim:
    """State of one simulated user while generating."""

    rng: np.random.Generator
    p: Params
    events: list = field(default_factory=list)
    truth: list = field(default_factory=list)
    interest: int = 0
    feed_topic: int = 0
    seen: list = field(default_factory=list)
    item_counter: int = 0
    want_start: float | None = None
    want_cause: str = ""
    lat: float = 31.2304
    lon: float = 121.4737
    # Closed loop (``closed_loop.py``): the policy that sees each event as it
    # happens; its page refreshes bring the feed to the current interest.
    policy: object | None = None

    def emit(self, t: float, type_: str, **fields) -> None:
        event = {"ts_ms": int(round(t * 1000)), "type": type_, **fields}
        if self.policy is None:
            self.events.append(event)
            return
        for r in deliver_live(self.events, self.policy, event):
            self.fresh_feed(r)

    # -- latent state -------------------------------------------------------
    @property
    def matched(self) -> bool:
        return self.interest == self.feed_topic

    def open_want(self, t: float, cause: str) -> None:
        if self.want_start is None:
            self.want_start, self.want_cause = t, cause

    def close_want(self, t: float) -> None:
        if self.want_start is not None:
            end = min(t, self.want_start + WANT_FRESH_S)
            if end > self.want_start:
                self.truth.append(
                    {
                        "kind": "want_fresh",
                        "start_ms": int(round(self.want_start * 1000)),
                        "end_ms": int(round(end * 1000)),
                        "cause": self.want_cause,
                    }
                )
            self.want_start = None

    def shift(self, t: float, while_away: bool) -> None:
        new = int(self.rng.integers(TOPICS - 1))
        new = new if new < self.interest else new + 1
        self.truth.append(
            {"kind": "interest_shift", "ts_ms": int(round(t * 1000)), "from": self.interest, "to": new, "while_away": while_away}
        )
        self.interest = new
        self.open_want(t, "interest_shift")

    def fresh_feed(self, t: float) -> None:
        """The user got content for the current interest (refresh or search)."""
        self.feed_topic = self.interest
        self.close_want(t)

    # -- items --------------------------------------------------------------
    def new_item(self) -> str:
        self.item_counter += 1
        return f"i{self.feed_topic}-{self.item_counter}"

    def exposure_items(self) -> list[str]:
        n = int(self.rng.integers(3, 6))
        # A stale feed repeats what the user has already seen.
        repeat_p = 0.15 if self.matched else 0.6
        items = []
        for _ in range(n):
            if self.seen and self.rng.random() < repeat_p:
                items.append(self.seen[int(self.rng.integers(len(self.seen)))])
            else:
                items.append(self.new_item())
        self.seen.extend(i for i in items if i not in self.seen[-200:])
        self.seen = self.seen[-200:]
        return items


def session(sim: Sim, start: float, length: float) -> None:
    rng, p = sim.rng, sim.p
    end = start + length
    sim.truth.append({"kind": "session", "start_ms": int(round(start * 1000)), "end_ms": int(round(end * 1000))})
    sim.emit(start, "app_foreground")
    t = start + rng.uniform(0.2, 1.0)
    sim.emit(t, "page_view", page="home")
    next_shift = t + rng.exponential(p.shift_every_s)
    next_note = t + rng.exponential(p.notification_every_s)
    next_loc = t + rng.uniform(0, p.location_every_s)
    last_items: list[str] = []
    while True:
        stale = not sim.matched
        t += rng.exponential(2.0 if stale else 3.5) + 0.3
        if t >= end:
            break
        if t >= next_shift:
            sim.shift(t, while_away=False)
            next_shift = t + rng.exponential(p.shift_every_s)
        if t >= next_note:
            sim.emit(t, "notification", topic=str(rng.choice(["feed", "promo", "coupon"])))
            next_note = t + rng.exponential(p.notification_every_s)
            continue
        if t >= next_loc:
            sim.lat += rng.normal(0, 0.0004)
            sim.lon += rng.normal(0, 0.0004)
            sim.emit(t, "location", lat=round(sim.lat, 6), lon=round(sim.lon, 6),
                     accuracy_m=round(float(rng.uniform(5, 40)), 1), speed_mps=round(float(abs(rng.normal(0.8, 0.6))), 2))
            next_loc = t + rng.exponential(p.location_every_s)
            continue
        u = rng.random()
        if stale:
            probs = {"scroll": 0.50, "exposure": 0.22, "click": 0.04, "search": 0.08, "dislike": 0.07, "ptr": 0.05, "custom": 0.04}
        else:
            probs = {"scroll": 0.40, "exposure": 0.28, "click": 0.22, "search": 0.02, "dislike": 0.01, "ptr": 0.01, "custom": 0.06}
        acc = 0.0
        action = "custom"
        for name, pr in probs.items():
            acc += pr
            if u < acc:
                action = name
                break
        if action == "scroll":
            dy = rng.normal(1400 if stale else 600, 300 if stale else 250)
            sim.emit(t, "scroll", page="home", dy_px=round(float(dy), 1))
        elif action == "exposure":
            last_items = sim.exposure_items()
            sim.emit(t, "exposure", slot="feed", items=last_items)
        elif action == "click" and last_items:
            item = last_items[int(rng.integers(len(last_items)))]
            sim.emit(t, "click", slot="feed", item=item)
            sim.emit(t + 0.3, "page_view", page="detail")
            t += 0.3 + rng.exponential(12.0)
            if t >= end:
                break
            sim.emit(t, "page_view", page="home")
        elif action == "search":
            sim.emit(t, "search", query_len=int(rng.integers(2, 16)))
            sim.emit(t + 0.2, "page_view", page="search")
            t += 0.2 + rng.exponential(15.0)
            if t >= end:
                break
            # Searching often finds what the user now wants.
            if stale and rng.random() < 0.5:
                sim.fresh_feed(t)
            sim.emit(t, "page_view", page="home")
        elif action == "dislike" and last_items:
            item = last_items[int(rng.integers(len(last_items)))]
            sim.emit(t, "feedback", item=item, kind="dislike")
        elif action == "ptr":
            sim.emit(t, "pull_to_refresh", page="home")
            sim.fresh_feed(t)
        else:
            sim.emit(t, "custom", name=str(rng.choice(["cart_add", "share", "coupon_view"])), value=round(float(rng.uniform(0, 5)), 2))
    sim.close_want(end)
    sim.emit(end, "app_background")


def generate(seed: int, params: Params | None = None, policy: object | None = None) -> tuple[list[dict], list[dict]]:
    """Returns (events, truth) for one simulated user; with ``policy`` (an
    object whose ``push(event)`` returns the decisions it caused) the user
    reacts to its page refreshes (closed loop)."""
    p = params or Params()
    rng = np.random.default_rng(seed)
    sim = Sim(rng=rng, p=p, interest=int(rng.integers(TOPICS)), policy=policy)
    sim.feed_topic = sim.interest
    t0 = EPOCH_MS / 1000.0
    last_end = None
    for day in range(p.days):
        n = max(1, int(rng.poisson(p.sessions_per_day)))
        starts = np.sort(rng.uniform(7 * 3600, 23.5 * 3600, size=n)) + t0 + day * 86400
        for s in starts:
            if last_end is not None and s < last_end + 20:
                continue
            length = max(30.0, float(rng.exponential(p.session_mean_s)))
            if last_end is not None and s - last_end >= LONG_ABSENCE_S:
                # While away the world (and the user) moved on.
                if rng.random() < 0.6:
                    sim.shift(s, while_away=True)
                sim.open_want(s, "long_absence")
            session(sim, float(s), length)
            last_end = float(s) + length
    sim.events.sort(key=lambda e: e["ts_ms"])
    sim.truth.sort(key=lambda r: r.get("ts_ms", r.get("start_ms")))
    return sim.events, sim.truth


def deliver_live(events: list[dict], policy, event: dict) -> list[float]:
    """Closed loop: appends `event` to `events` and hands it to `policy`;
    returns the times (s) of the page refreshes it decided. A live policy
    sees time move forward only, so an event the story dates before the last
    one (a session's end before the page visit that overran it) happens then."""
    if events and event["ts_ms"] < events[-1]["ts_ms"]:
        event["ts_ms"] = events[-1]["ts_ms"]
    events.append(event)
    return [d["ts_ms"] / 1000.0 for d in policy.push(event) if d.get("action") == "refresh" and d.get("slot") is None]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for r in rows:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--days", type=int, default=Params.days)
    ap.add_argument("--out", type=Path, required=True, help="trace (JSON Lines)")
    ap.add_argument("--truth", type=Path, required=True, help="ground truth (JSON Lines)")
    a = ap.parse_args()
    events, truth = generate(a.seed, Params(days=a.days))
    write_jsonl(a.out, events)
    write_jsonl(a.truth, truth)
    print(f"generate: seed {a.seed}: {len(events)} events, {sum(r['kind'] == 'want_fresh' for r in truth)} want_fresh intervals -> {a.out}")


if __name__ == "__main__":
    main()
