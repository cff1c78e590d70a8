"""Production-like logs: what an app that already refreshes its homepage
records, for ``fit`` to learn from.

The app refreshes the feed at a random share of home views (30% by default,
decided by a coin at each view, as an exploration policy or an A/B arm
would), and its log records each refresh as a ``recommendations`` event for
the ``feed`` slot, next to everything the user did. The simulated user
reacts (closed loop: a refresh after a need began ends it), so the logs hold
what users did after a refresh and at comparable moments without one.
``fit_worth.py`` fits on them; ``fit`` does not yet learn the uplift they
carry (docs/policy.md).

    python training/app_logs.py --simulator b --seed0 6100 --users 16 --days 5 --out logs/

writes ``<out>/<sim>_<seed>.jsonl`` (the log) and ``.truth.jsonl`` (for
scoring only; ``fit`` skips truth files).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate import simulated  # noqa: E402
from generate import write_jsonl  # noqa: E402

REFRESH_SHARE = 0.3


class LoggingApp:
    """The app's own policy: refresh at a random share of home views."""

    def __init__(self, seed: int, share: float = REFRESH_SHARE):
        self.rng = np.random.default_rng(seed + 31_337)
        self.share = share
        self.refreshed: list[int] = []

    def push(self, event: dict) -> list[dict]:
        if event.get("type") != "page_view" or event.get("page") != "home" or self.rng.random() >= self.share:
            return []
        self.refreshed.append(event["ts_ms"])
        return [{"ts_ms": event["ts_ms"], "action": "refresh"}]


def app_log(simulator: str, seed: int, days: int, share: float = REFRESH_SHARE) -> tuple[list[dict], list[dict]]:
    """One user's log and truth: the simulator with the app in the loop, a
    ``recommendations`` record right after each home view it refreshed."""
    app = LoggingApp(seed, share)
    events, truth = simulated(simulator, seed, days, app)
    pending = list(reversed(app.refreshed))
    out = []
    for e in events:
        out.append(e)
        if pending and e.get("type") == "page_view" and e.get("page") == "home" and e["ts_ms"] == pending[-1]:
            pending.pop()
            out.append({"ts_ms": e["ts_ms"], "type": "recommendations", "slot": "feed",
                        "items": [{"id": f"r{e['ts_ms']}-{k}"} for k in range(5)]})
    return out, truth


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--simulator", choices=["a", "b", "c"], required=True)
    ap.add_argument("--seed0", type=int, required=True)
    ap.add_argument("--users", type=int, default=16)
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--share", type=float, default=REFRESH_SHARE)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    for s in range(a.seed0, a.seed0 + a.users):
        events, truth = app_log(a.simulator, s, a.days, a.share)
        write_jsonl(a.out / f"{a.simulator}_{s}.jsonl", events)
        write_jsonl(a.out / f"{a.simulator}_{s}.truth.jsonl", truth)
    print(f"app_logs: {a.users} users of simulator {a.simulator.upper()} -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
