"""Simulator B: a second, independently written population of homepage users.

It exists so that a policy is never judged only on the story it was tuned on
(``generate.py``, simulator A). Its assumptions differ on purpose:

* **Sessions come in bursts.** App opens follow a self-exciting process: a day
  has a few spontaneous opens, concentrated around a morning and an evening
  peak, and each open raises the chance of another within the next ~20
  minutes (people come back to finish something). Session lengths are
  log-normal (median ~90 s, a long tail of browsing sessions). Some users
  disappear for days at a time.
* **Needs have visible causes.** The user's need changes mostly right *after*
  something the trace records: a completed payment (``custom``
  ``payment_done``), a claimed coupon (``custom`` ``coupon_claimed``) or a
  search, each followed by a need shift with a high probability; spontaneous
  drift is rare. A return after more than 6 hours away is a shift too.
* **Staleness shows differently.** While the feed no longer fits, the user
  scrolls far (heavy-tailed distances), clicks seldom, dislikes what is shown,
  sometimes pulls to refresh, and often leaves the homepage within seconds.
  While it fits, scrolling is short and clicks are frequent.
* **Some server hints mean something.** ``notification`` events with topic
  ``feed`` announce that the server has content for the user's new need (they
  arrive shortly after a need shift, one time in three); other topics are noise.
* **Open loop** by default, like A: the user's need ends when the user pulls
  to refresh, when a new need replaces it, or after ``NEED_TTL_S`` (it
  survives a short absence), whatever a policy did. **Closed loop** with a
  ``policy`` (``closed_loop.py``): every event goes to the policy as it
  happens, and a page refresh it decides after the need began ends the need
  (``ended``: ``refreshed``), so the user then behaves as with content that
  fits. The trace is then written in the order the policy saw it (a
  notification announced for later waits until its time).

The trace follows the trace contract (docs/contracts.md). Ground truth uses the same
records as A (``session``, ``interest_shift``, ``want_fresh`` with ``cause``:
here ``payment``, ``coupon``, ``search``, ``long_absence`` or ``drift``, and
``ended``: ``pull_to_refresh``, ``superseded`` or ``expired``), so
``edgeintent evaluate --truth`` scores both populations the same way.

    python training/simulate_b.py --seed 5000 --days 7 --out b.jsonl --truth b.truth.jsonl
"""

from __future__ import annotations

import argparse
import heapq
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# The JSON Lines writer is shared plumbing, not part of either story.
from generate import deliver_live, write_jsonl  # noqa: F401 (write_jsonl re-exported for callers)

# 2026-02-02 00:00:00 UTC (a Monday), a different week from simulator A.
EPOCH_MS = 1_769_990_400_000
NEEDS = 12
# A need stays unmet at most this long (then the user gives up on it).
NEED_TTL_S = 300.0
AWAY_SHIFT_S = 6 * 3600.0


def ms(t: float) -> int:
    """Seconds to the trace's integer milliseconds (events and truth alike)."""
    return int(round(t * 1000))


@dataclass
class PopulationB:
    """Knobs of population B (per user, drawn around these means)."""

    days: int = 7
    spontaneous_opens_per_day: float = 4.0
    burst_gain: float = 0.45
    burst_decay_s: float = 1200.0
    median_session_s: float = 90.0
    session_sigma: float = 0.9
    p_shift_after_payment: float = 0.85
    p_shift_after_coupon: float = 0.7
    p_shift_after_search: float = 0.5
    drift_per_hour: float = 1.5
    p_meaningful_hint: float = 0.33
    p_vanish_day: float = 0.08


@dataclass
class UserB:
    rng: np.random.Generator
    pop: PopulationB
    need: int
    fits: bool = True
    need_open_since: float | None = None
    need_cause: str = ""
    events: list[dict] = field(default_factory=list)
    truth: list[dict] = field(default_factory=list)
    item_seq: int = 0
    # Closed loop: the policy that sees each event as it happens, and events
    # announced for later (heap of (ts_ms, seq, event)).
    policy: object | None = None
    later: list = field(default_factory=list)

    def emit(self, t: float, event_type: str, **fields) -> None:
        event = {"ts_ms": ms(t), "type": event_type, **fields}
        if self.policy is None:
            self.events.append(event)
            return
        self.release(event["ts_ms"])
        self.deliver(event)

    def emit_later(self, t: float, event_type: str, **fields) -> None:
        """An event that happens at ``t``, after what the user does next."""
        if self.policy is None:
            self.emit(t, event_type, **fields)
            return
        heapq.heappush(self.later, (ms(t), len(self.events) + len(self.later), {"ts_ms": ms(t), "type": event_type, **fields}))

    def release(self, upto_ms: int | None) -> None:
        while self.later and (upto_ms is None or self.later[0][0] <= upto_ms):
            self.deliver(heapq.heappop(self.later)[2])

    def deliver(self, event: dict) -> None:
        for r in deliver_live(self.events, self.policy, event):
            self.shown_fresh(r)

    def shown_fresh(self, t: float) -> None:
        """The policy refreshed the page: content for the current need."""
        if self.need_open_since is not None and t >= self.need_open_since:
            self.close_need(t, "refreshed")
            self.fits = True

    def shift_need(self, t: float, cause: str) -> None:
        # A new need replaces one still unmet.
        self.close_need(t, "superseded")
        old = self.need
        self.need = int((self.need + 1 + self.rng.integers(NEEDS - 1)) % NEEDS)
        self.truth.append({"kind": "interest_shift", "ts_ms": ms(t), "from": old, "to": self.need, "cause": cause})
        self.fits = False
        self.need_open_since = t
        self.need_cause = cause
        if self.rng.random() < self.pop.p_meaningful_hint:
            self.emit_later(t + float(self.rng.uniform(5, 60)), "notification", topic="feed")

    def close_need(self, t: float, ended: str) -> None:
        if self.need_open_since is None:
            return
        start = self.need_open_since
        end = min(t, start + NEED_TTL_S)
        if end > start:
            self.truth.append({"kind": "want_fresh", "start_ms": ms(start), "end_ms": ms(end), "cause": self.need_cause, "ended": ended})
        self.need_open_since = None

    def refreshed(self, t: float, cause: str) -> None:
        """The feed now fits the need (the user found fresh content)."""
        self.close_need(t, cause)
        self.fits = True

    def items(self, n: int, repeat: bool) -> list[str]:
        if repeat and self.item_seq > n:
            base = self.item_seq - n
            return [f"b{base + k}" for k in range(n)]
        out = [f"b{self.item_seq + k}" for k in range(n)]
        self.item_seq += n
        return out


def opens_for_day(rng: np.random.Generator, pop: PopulationB, day_start: float) -> list[float]:
    """Self-exciting app opens over one day (Ogata thinning)."""
    peaks = [(8.5 * 3600, 3600.0), (19.5 * 3600, 5400.0), (13 * 3600, 7200.0)]

    def base(t: float) -> float:
        tod = t - day_start
        w = sum(math.exp(-0.5 * ((tod - mu) / sd) ** 2) for mu, sd in peaks)
        return pop.spontaneous_opens_per_day / 86400.0 * 3.0 * w / len(peaks) * 2.0

    opens: list[float] = []
    t = day_start + 6 * 3600
    end = day_start + 24 * 3600
    bound = 5 * pop.spontaneous_opens_per_day / 86400.0 + pop.burst_gain / pop.burst_decay_s * 10
    while t < end:
        t += float(rng.exponential(1.0 / bound))
        excite = sum(pop.burst_gain / pop.burst_decay_s * math.exp(-(t - s) / pop.burst_decay_s) for s in opens[-8:])
        if t < end and rng.random() * bound < base(t) + excite:
            opens.append(t)
    return opens


def home_visit(u: UserB, t: float, until: float) -> float:
    """One stretch on the homepage: exposures, scrolls, clicks or signs of staleness."""
    rng = u.rng
    u.emit(t, "page_view", page="home")
    stale = not u.fits
    u.emit(t + 0.3, "exposure", slot="feed", items=u.items(6, repeat=stale))
    t += 0.5
    stay = float(rng.exponential(8.0 if stale else 35.0))
    leave = min(until, t + max(2.0, stay))
    while t < leave:
        t += float(rng.exponential(3.0 if stale else 6.0))
        if t >= leave:
            break
        stale = not u.fits  # a policy's refresh (closed loop) shows content that fits
        r = rng.random()
        if stale:
            if r < 0.45:
                u.emit(t, "scroll", page="home", dy_px=round(float(rng.pareto(1.6) + 1) * 900.0, 1))
            elif r < 0.55:
                shown = u.items(6, repeat=True)
                u.emit(t, "feedback", item=shown[int(rng.integers(len(shown)))], kind="dislike")
            elif r < 0.62:
                u.emit(t, "pull_to_refresh", page="home")
                u.refreshed(t, "pull_to_refresh")
                stale = False
                u.emit(t + 0.8, "exposure", slot="feed", items=u.items(6, repeat=False))
            elif r < 0.66:
                u.emit(t, "click", slot="feed", item=u.items(1, repeat=True)[0])
            # else: the user just looks
        else:
            if r < 0.4:
                u.emit(t, "scroll", page="home", dy_px=round(float(rng.gamma(2.0, 250.0)), 1))
                u.emit(t + 0.2, "exposure", slot="feed", items=u.items(4, repeat=False))
            elif r < 0.75:
                item = u.items(1, repeat=True)[0]
                u.emit(t, "click", slot="feed", item=item)
                return t + 0.1  # off to the item's page
    return leave


def session(u: UserB, start: float, length: float) -> None:
    rng, pop = u.rng, u.pop
    end = start + length
    if u.need_open_since is not None and start - u.need_open_since > NEED_TTL_S:
        u.close_need(start, "expired")
    u.emit(start, "app_foreground")
    t = start + 0.2
    while t < end:
        t = home_visit(u, t, end)
        if t >= end:
            break
        # Somewhere else in the app: an item page, a search, a payment, a coupon.
        r = rng.random()
        if r < 0.5:
            u.emit(t, "page_view", page="item")
            t += float(rng.exponential(20.0))
        elif r < 0.7:
            u.emit(t, "page_view", page="search")
            u.emit(t + 1.0, "search", query_len=int(rng.integers(2, 20)))
            t += 1.0 + float(rng.exponential(15.0))
            if rng.random() < pop.p_shift_after_search:
                u.shift_need(t, "search")
        elif r < 0.85:
            u.emit(t, "page_view", page="pay")
            t += float(rng.exponential(25.0))
            u.emit(t, "custom", name="payment_done", value=round(float(rng.lognormal(3.0, 1.0)), 2))
            if rng.random() < pop.p_shift_after_payment:
                u.shift_need(t, "payment")
        else:
            u.emit(t, "page_view", page="coupons")
            t += float(rng.exponential(10.0))
            u.emit(t, "custom", name="coupon_claimed", value=1.0)
            if rng.random() < pop.p_shift_after_coupon:
                u.shift_need(t, "coupon")
        # Spontaneous drift, rare.
        if u.fits and rng.random() < pop.drift_per_hour * 30.0 / 3600.0:
            u.shift_need(t, "drift")
        t += 0.5
    u.emit(end, "app_background")


def simulate(seed: int, pop: PopulationB | None = None, policy: object | None = None) -> tuple[list[dict], list[dict]]:
    """Returns (events, truth) for one user of population B; with ``policy``
    (an object whose ``push(event)`` returns the decisions it caused) the
    user reacts to its refreshes (closed loop)."""
    pop = pop or PopulationB()
    rng = np.random.default_rng(seed)
    u = UserB(rng=rng, pop=pop, need=int(rng.integers(NEEDS)), policy=policy)
    t0 = EPOCH_MS / 1000.0
    last_end: float | None = None
    for day in range(pop.days):
        if rng.random() < pop.p_vanish_day:
            continue
        for s in opens_for_day(rng, pop, t0 + day * 86400.0):
            if last_end is not None and s < last_end + 10:
                continue
            length = max(15.0, float(rng.lognormal(math.log(pop.median_session_s), pop.session_sigma)))
            if last_end is not None and s - last_end >= AWAY_SHIFT_S:
                u.shift_need(s, "long_absence")
            u.truth.append({"kind": "session", "start_ms": ms(s), "end_ms": ms((s + length))})
            session(u, s, length)
            last_end = s + length
    if policy is not None:
        u.release(None)
    if u.need_open_since is not None:
        u.close_need(u.need_open_since + NEED_TTL_S, "expired")
    if policy is None:
        u.events.sort(key=lambda e: e["ts_ms"])
    u.truth.sort(key=lambda r: r.get("ts_ms", r.get("start_ms")))
    return u.events, u.truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--days", type=int, default=PopulationB.days)
    ap.add_argument("--out", type=Path, required=True, help="trace (JSON Lines)")
    ap.add_argument("--truth", type=Path, required=True, help="ground truth (JSON Lines)")
    a = ap.parse_args()
    events, truth = simulate(a.seed, PopulationB(days=a.days))
    write_jsonl(a.out, events)
    write_jsonl(a.truth, truth)
    shifts = sum(r["kind"] == "interest_shift" for r in truth)
    print(f"simulate_b: seed {a.seed}: {len(events)} events, {shifts} need shifts -> {a.out}")


if __name__ == "__main__":
    main()
