"""Simulator C: a third population, written from its own assumptions, that
neither the shipped model nor the shipped policy is trained or tuned on.

Where A and B share one behaviour model for everyone and give most shifts a
visible cause, C assumes:

* **Every user is different.** Each user draws a persona: how often they
  open the app (1 to 12 sessions a day), how long they stay, how fast they
  act, how strongly a stale feed shows in what they do, how long they keep
  looking for something before giving up, and which controls they use at
  all (a dislike button for some, pull-to-refresh for some).
* **Most shifts have no cue.** A user's interest drifts on its own, at a
  personal rate per hour of use and per hour away (the longer away, the
  likelier a change, with no fixed threshold); a search precedes a shift
  only sometimes, and most searches change nothing.
* **Staleness shows in navigation.** With a feed that no longer fits, a user
  spends less time on the homepage, goes looking elsewhere (``browse`` and
  ``category`` pages), scrolls in quick flicks, and clicks less; only users
  who have the controls dislike or pull to refresh. ``custom`` events
  (``video_play``) and most notifications (``promo``) carry no signal.
* **Closed loop** like A and B: with a ``policy`` every event goes to it as
  it happens, and a page refresh after a need began ends that need.

Ground truth uses the same records as A and B (``session``,
``interest_shift``, ``want_fresh`` with ``cause`` ``drift``, ``away`` or
``search`` and ``ended``), so ``edgeintent evaluate`` scores it the same way.

    python training/simulate_c.py --seed 9700 --days 7 --out c.jsonl --truth c.truth.jsonl

What it cannot show: real people. It is one more story, told differently,
so that a figure that holds on A, B and C is less likely to be an artefact of
one of them.
"""

from __future__ import annotations

import argparse
import heapq
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from generate import deliver_live, write_jsonl  # noqa: F401 (shared plumbing)

# 2026-03-09 00:00:00 UTC, another week again.
EPOCH_S = 1_773_014_400.0
TOPICS = 20
PAGES_ELSEWHERE = ("product", "browse", "category", "profile", "cart")


@dataclass
class Persona:
    """One user's habits, drawn once per user."""

    sessions_per_day: float
    session_median_s: float
    pace_s: float  # typical seconds between actions
    tell: float  # 0..1: how strongly a stale feed shows in behaviour
    patience_s: float  # how long an unmet need lasts
    drift_per_use_h: float
    drift_per_away_h: float
    p_search_shift: float
    has_dislike: bool
    pulls: bool
    utc_hours: float  # when the user's day peaks

    @staticmethod
    def draw(rng: np.random.Generator) -> "Persona":
        return Persona(
            sessions_per_day=float(rng.gamma(2.0, 2.5)) + 1.0,
            session_median_s=float(rng.lognormal(math.log(150.0), 0.6)),
            pace_s=float(rng.lognormal(math.log(5.0), 0.4)),
            tell=float(rng.beta(2.0, 2.0)),
            patience_s=float(rng.uniform(120.0, 900.0)),
            drift_per_use_h=float(rng.gamma(2.0, 1.0)),
            drift_per_away_h=float(rng.gamma(1.5, 0.06)),
            p_search_shift=float(rng.uniform(0.05, 0.25)),
            has_dislike=bool(rng.random() < 0.4),
            pulls=bool(rng.random() < 0.35),
            utc_hours=float(rng.uniform(7.0, 22.0)),
        )


@dataclass
class UserC:
    rng: np.random.Generator
    persona: Persona
    policy: object | None = None
    topic: int = 0
    unmet_since: float | None = None
    unmet_cause: str = ""
    feed_seq: int = 0
    events: list[dict] = field(default_factory=list)
    truth: list[dict] = field(default_factory=list)
    pending: list = field(default_factory=list)

    # Plumbing: the trace in time order, or live to a policy.
    def emit(self, t: float, etype: str, **fields) -> None:
        event = {"ts_ms": int(round(t * 1000.0)), "type": etype, **fields}
        if self.policy is None:
            self.events.append(event)
            return
        self.flush(event["ts_ms"])
        self.live(event)

    def emit_at(self, t: float, etype: str, **fields) -> None:
        if self.policy is None:
            self.emit(t, etype, **fields)
        else:
            heapq.heappush(self.pending, (int(round(t * 1000.0)), len(self.pending) + len(self.events),
                                          {"ts_ms": int(round(t * 1000.0)), "type": etype, **fields}))

    def flush(self, upto_ms: int | None) -> None:
        while self.pending and (upto_ms is None or self.pending[0][0] <= upto_ms):
            self.live(heapq.heappop(self.pending)[2])

    def live(self, event: dict) -> None:
        for t in deliver_live(self.events, self.policy, event):
            if self.unmet_since is not None and t >= self.unmet_since:
                self.met(t, "refreshed")

    # The story.
    @property
    def stale(self) -> bool:
        return self.unmet_since is not None

    def shift(self, t: float, cause: str) -> None:
        if self.unmet_since is not None:
            self.met(t, "superseded")
        old = self.topic
        self.topic = int((self.topic + 1 + self.rng.integers(TOPICS - 1)) % TOPICS)
        self.truth.append({"kind": "interest_shift", "ts_ms": int(round(t * 1000.0)), "from": old,
                           "to": self.topic, "cause": cause})
        self.unmet_since, self.unmet_cause = t, cause
        if self.rng.random() < 0.1:
            self.emit_at(t + float(self.rng.uniform(10.0, 120.0)), "notification", topic="for_you")

    def met(self, t: float, how: str) -> None:
        start = self.unmet_since
        if start is None:
            return
        end = min(t, start + self.persona.patience_s)
        if end > start:
            self.truth.append({"kind": "want_fresh", "start_ms": int(round(start * 1000.0)),
                               "end_ms": int(round(end * 1000.0)), "cause": self.unmet_cause, "ended": how})
        self.unmet_since = None

    def give_up(self, t: float) -> None:
        if self.unmet_since is not None and t - self.unmet_since > self.persona.patience_s:
            self.met(t, "expired")

    def feed(self, n: int, old: bool) -> list[str]:
        if old and self.feed_seq >= n:
            return [f"c{self.topic}-{self.feed_seq - n + k}" for k in range(n)]
        out = [f"c{self.topic}-{self.feed_seq + k}" for k in range(n)]
        self.feed_seq += n
        return out

    def wait(self) -> float:
        return float(self.rng.gamma(1.5, self.persona.pace_s / 1.5))


def on_home(u: UserC, t: float, end: float) -> float:
    """A look at the homepage; returns when the user leaves it."""
    p, rng = u.persona, u.rng
    u.emit(t, "page_view", page="home")
    u.emit(t + 0.2, "exposure", slot="feed", items=u.feed(5, old=u.stale))
    # A stale feed shortens the look, by how much depends on the user.
    dwell = float(rng.lognormal(math.log(40.0), 0.7)) * (1.0 - 0.8 * p.tell if u.stale else 1.0)
    leave = min(end, t + max(1.5, dwell))
    while True:
        t += u.wait()
        if t >= leave:
            return leave
        u.give_up(t)
        r = rng.random()
        if u.stale:
            if p.pulls and r < 0.08 * p.tell:
                u.emit(t, "pull_to_refresh", page="home")
                u.met(t, "pull_to_refresh")
                u.emit(t + 0.6, "exposure", slot="feed", items=u.feed(5, old=False))
            elif p.has_dislike and r < 0.2 * p.tell:
                u.emit(t, "feedback", item=u.feed(1, old=True)[0], kind="dislike")
            elif r < 0.6:
                # Quick flicks past what does not fit.
                u.emit(t, "scroll", page="home", dy_px=round(float(rng.lognormal(math.log(1200.0), 0.5)) * (0.5 + p.tell), 1))
                u.emit(t + 0.1, "exposure", slot="feed", items=u.feed(5, old=False))
            elif r < 0.6 + 0.15 * (1.0 - p.tell):
                u.emit(t, "click", slot="feed", item=u.feed(1, old=True)[0])
                return t + 0.2
        else:
            if r < 0.45:
                u.emit(t, "scroll", page="home", dy_px=round(float(rng.lognormal(math.log(500.0), 0.6)), 1))
                u.emit(t + 0.1, "exposure", slot="feed", items=u.feed(3, old=False))
            elif r < 0.7:
                u.emit(t, "click", slot="feed", item=u.feed(1, old=True)[0])
                return t + 0.2


def elsewhere(u: UserC, t: float, end: float) -> float:
    """Off the homepage: an item, a browse, a search, a video."""
    p, rng = u.persona, u.rng
    r = rng.random()
    # Looking for something the feed does not show: browse and categories.
    hunting = u.stale and rng.random() < 0.3 + 0.6 * p.tell
    if hunting:
        for _ in range(int(rng.integers(1, 4))):
            u.emit(t, "page_view", page=str(rng.choice(["browse", "category"])))
            t += u.wait() * 2.0
    elif r < 0.5:
        u.emit(t, "page_view", page="product")
        t += float(rng.exponential(25.0))
    elif r < 0.62:
        u.emit(t, "page_view", page="search")
        u.emit(t + 1.5, "search", query_len=int(rng.integers(3, 25)))
        t += 2.0 + float(rng.exponential(12.0))
        if rng.random() < p.p_search_shift:
            u.shift(t, "search")
    elif r < 0.8:
        u.emit(t, "custom", name="video_play", value=round(float(rng.exponential(30.0)), 1))
        t += float(rng.exponential(40.0))
    else:
        u.emit(t, "page_view", page=str(rng.choice(["profile", "cart"])))
        t += float(rng.exponential(15.0))
    return min(t, end)


def session(u: UserC, start: float, length: float) -> None:
    p, rng = u.persona, u.rng
    end = start + length
    u.give_up(start)
    u.emit(start, "app_foreground")
    t = start + 0.3
    while t < end:
        t = on_home(u, t, end)
        if t >= end:
            break
        t = elsewhere(u, t, end)
        # Drift during use, with no cue in the trace.
        if rng.random() < 1.0 - math.exp(-p.drift_per_use_h * 30.0 / 3600.0):
            u.shift(t, "drift")
        t += 0.4
    u.emit(end, "app_background")


def session_starts(rng: np.random.Generator, p: Persona, days: int) -> list[float]:
    """Opens around the user's own peak hour, a personal number per day."""
    out = []
    for day in range(days):
        n = int(rng.poisson(p.sessions_per_day))
        for _ in range(n):
            h = (p.utc_hours + float(rng.normal(0.0, 3.5))) % 24.0
            out.append(EPOCH_S + day * 86400.0 + h * 3600.0)
    return sorted(out)


def simulate(seed: int, days: int = 7, policy: object | None = None) -> tuple[list[dict], list[dict]]:
    """(events, truth) for one user of population C; with ``policy`` in the loop."""
    rng = np.random.default_rng(seed + 7_000_000)
    u = UserC(rng=rng, persona=Persona.draw(rng), policy=policy)
    u.topic = int(rng.integers(TOPICS))
    last_end = None
    for s in session_starts(rng, u.persona, days):
        if last_end is not None and s < last_end + 20.0:
            continue
        if last_end is not None:
            away_h = (s - last_end) / 3600.0
            if rng.random() < 1.0 - math.exp(-u.persona.drift_per_away_h * away_h):
                u.shift(s - 1.0, "away")
        length = max(20.0, float(rng.lognormal(math.log(u.persona.session_median_s), 0.8)))
        u.truth.append({"kind": "session", "start_ms": int(round(s * 1000.0)), "end_ms": int(round((s + length) * 1000.0))})
        session(u, s, length)
        last_end = s + length
    if policy is not None:
        u.flush(None)
    if u.unmet_since is not None:
        u.met(u.unmet_since + u.persona.patience_s, "expired")
    if policy is None:
        u.events.sort(key=lambda e: e["ts_ms"])
    u.truth.sort(key=lambda r: r.get("ts_ms", r.get("start_ms")))
    return u.events, u.truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--truth", type=Path, required=True)
    a = ap.parse_args()
    events, truth = simulate(a.seed, a.days)
    write_jsonl(a.out, events)
    write_jsonl(a.truth, truth)
    shifts = sum(r["kind"] == "interest_shift" for r in truth)
    print(f"simulate_c: {len(events)} events, {shifts} interest shifts -> {a.out}")


if __name__ == "__main__":
    main()
