"""Closed-loop evaluation: simulated users (simulator A or B) who react to
what a policy does, so refreshing at the right moment is credited.

In the open loop (the simulators alone, ``edgeintent evaluate``) the trace
is fixed: the user pulls to refresh, scrolls on and dislikes stale content
whatever the policy did. Here the policy runs *inside* the simulation, through
the C ABI of ``libedgeintent.so`` (``ctypes``; the same runtime an app
embeds): every event the user makes is pushed to the runtime as it happens,
and a page refresh it decides after a need began ends that need, so from then
on the user sees content that fits (clicks instead of dislikes, no
pull-to-refresh of their own). Each policy, ours and every fixed interval,
gets its own run of the same seeds; the traces it produced are then scored by
``edgeintent evaluate`` (recall over interest shifts, requests per foreground
hour) and ours is compared with the fixed-interval curve at equal recall.

    python training/closed_loop.py [--simulator a|b] [--config models/config.json ...]

Users: the held-out seeds of ``evaluate.py`` and ``cross_population.py`` (A:
9000.., 10 days; B: 9500.., 7 days). Writes ``evaluation/closed_loop_<sim>.json``.

What it cannot show: users whose habits change over weeks because the feed
got better, a server whose fresh content is sometimes no better, and network
latency (a refresh's content is shown at once).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate import evaluate_json, simulated  # noqa: E402
from generate import write_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# First seed and days of the held-out users of evaluate.py and cross_population.py.
HELD_OUT = {"a": (9000, 10), "b": (9500, 7), "c": (9700, 7)}
FIXED_INTERVALS_S = (5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)


class LivePolicy:
    """One runtime behind the C ABI: push an event, get the decisions it caused."""

    def __init__(self, lib: ctypes.CDLL, config: dict):
        self.lib = lib
        self.rt = lib.ei_runtime_new(json.dumps(config).encode())
        if not self.rt:
            raise RuntimeError(f"ei_runtime_new: {lib.ei_last_error().decode()}")
        self.buf = ctypes.create_string_buffer(4096)

    def push(self, event: dict) -> list[dict]:
        r = self.lib.ei_push_json(self.rt, json.dumps(event).encode())
        if r < 0:
            raise RuntimeError(f"ei_push_json: {self.lib.ei_last_error().decode()}")
        out = []
        while (r := self.lib.ei_poll_decision(self.rt, self.buf, len(self.buf))) != 0:
            if r <= -16:
                self.buf = ctypes.create_string_buffer(-r)
                continue
            if r < 0:
                raise RuntimeError(f"ei_poll_decision: {self.lib.ei_last_error().decode()}")
            out.append(json.loads(self.buf.value))
        return out

    def close(self) -> None:
        self.lib.ei_runtime_free(self.rt)
        self.rt = None


def load_library(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    lib.ei_runtime_new.restype = ctypes.c_void_p
    lib.ei_runtime_new.argtypes = [ctypes.c_char_p]
    lib.ei_push_json.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.ei_poll_decision.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.ei_runtime_free.argtypes = [ctypes.c_void_p]
    lib.ei_last_error.restype = ctypes.c_char_p
    return lib


def absolute(config: dict, folder: Path) -> dict:
    """The config with its model and feature-spec paths made absolute."""
    c = json.loads(json.dumps(config))
    if c.get("model"):
        c["model"]["path"] = str((folder / c["model"]["path"]).resolve())
    if isinstance(c.get("features"), str):
        c["features"] = str((folder / c["features"]).resolve())
    return c


def fixed_interval(config: dict, interval_s: float) -> dict:
    """The fixed-interval baseline of ``edgeintent evaluate`` (``Config::rules_baseline``):
    no model, refresh at any decision point once content is ``interval_s`` old,
    pull-to-refresh honoured, ticks as in ``config``."""
    c = {k: v for k, v in config.items() if k not in ("model", "triggers", "policy")}
    c["policy"] = {"threshold": 1.0, "cooldown_s": 0.0, "max_staleness_s": min(max(interval_s, 1.0) * 1000.0, 315_360_000.0),
                   "tick_interval_s": config.get("policy", {}).get("tick_interval_s", 30.0),
                   "fallback_interval_s": interval_s, "budget_per_hour": 0}
    c["triggers"] = [{"event": "pull_to_refresh", "action": "refresh", "debounce_s": 2.0}]
    return c


def run_policy(binary: Path, lib: ctypes.CDLL, name: str, config: dict, simulator: str, seeds: range, days: int,
               work: Path) -> dict:
    """Simulates every seed with the policy in the loop, then scores the
    traces it produced with ``edgeintent evaluate``: our row of that report."""
    folder = work / simulator / name.replace(" ", "_")
    folder.mkdir(parents=True, exist_ok=True)
    traces, truths = [], []
    for s in seeds:
        policy = LivePolicy(lib, config)
        try:
            events, truth = simulated(simulator, s, days, policy)
        finally:
            policy.close()
        t, g = folder / f"{simulator}_{s}.jsonl", folder / f"{simulator}_{s}.truth.jsonl"
        write_jsonl(t, events)
        write_jsonl(g, truth)
        traces.append(t)
        truths.append(g)
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    ours = evaluate_json(path, traces, truths)["policies"][0]
    return {"name": name, "requests_per_hour": round(ours["requests_per_hour"], 2), "recall": round(ours["recall"], 4),
            "shifts_seen": ours["shifts_seen"], "requests": ours["requests"], "by_reason": ours["by_reason"]}


def interpolate(points: list[tuple[float, float]], x: float) -> float | None:
    """``y`` at ``x`` on the piecewise-linear curve through ``points`` (any
    order); ``None`` outside it."""
    pts = sorted(points)
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    if len(pts) == 1 and pts[0][0] == x:
        return pts[0][1]
    return None


def saved_at_equal_recall(ours: dict, fixed: list[dict]) -> float | None:
    """``1 - ours / fixed`` requests, the fixed curve interpolated at our recall,
    as ``edgeintent evaluate`` computes it; above the whole curve, against the
    fixed interval with the highest recall (a lower bound, as
    ``request_reduction_above_the_curve``); ``None`` below it."""
    pts = sorted((p["recall"], p["requests_per_hour"]) for p in fixed)
    q = interpolate(pts, ours["recall"])
    if q is not None:
        return None if q <= 0 else 1.0 - ours["requests_per_hour"] / q
    if pts and ours["recall"] > pts[-1][0] and pts[-1][1] > 0:
        return 1.0 - ours["requests_per_hour"] / pts[-1][1]
    return None


def closed_loop_table(binary: Path, lib: ctypes.CDLL, configs: dict[str, Path], simulator: str, seeds: range, days: int,
                      work: Path, say=print) -> dict:
    """Every config and the fixed-interval curve (ticks of the first config),
    each with its own closed-loop run of the same users."""
    first = absolute(json.loads(next(iter(configs.values())).read_text()), next(iter(configs.values())).parent)
    fixed = []
    for s in FIXED_INTERVALS_S:
        fixed.append({**run_policy(binary, lib, f"fixed {s}s", fixed_interval(first, s), simulator, seeds, days, work), "interval_s": s})
        say(f"closed loop {simulator.upper()}: fixed {s} s: {fixed[-1]['requests_per_hour']} req/h, recall {fixed[-1]['recall']}")
    rows = {}
    for name, path in configs.items():
        cfg = absolute(json.loads(path.read_text()), path.parent)
        row = run_policy(binary, lib, name, cfg, simulator, seeds, days, work)
        row["config"] = str(path.resolve().relative_to(ROOT)) if path.resolve().is_relative_to(ROOT) else str(path)
        row["requests_saved_at_equal_recall"] = saved_at_equal_recall(row, fixed)
        rows[name] = row
        s = row["requests_saved_at_equal_recall"]
        say(f"closed loop {simulator.upper()}: {name}: {row['requests_per_hour']} req/h, recall {row['recall']}, "
            f"{'outside the fixed curve' if s is None else f'{s * 100:+.1f}% requests vs the fixed curve at equal recall'}")
    return {"simulator": simulator, "seeds": [seeds.start, seeds.stop - 1], "days": days, "fixed": fixed, "policies": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--simulator", choices=["a", "b", "c"], default="b")
    ap.add_argument("--config", type=Path, action="append", help="configs to evaluate (repeatable; default: the shipped one)")
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "edgeintent")
    ap.add_argument("--lib", type=Path, default=ROOT / "target" / "release" / "libedgeintent.so")
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--work", type=Path, default=ROOT / "target" / "closed_loop")
    ap.add_argument("--out", type=Path, help="report (default: evaluation/closed_loop_<sim>.json)")
    a = ap.parse_args()
    for p in (a.bin, a.lib):
        if not p.exists():
            ap.error(f"{p} is missing: run `cargo build --release` first")
    seed0, days = HELD_OUT[a.simulator]
    paths = a.config or [ROOT / "models" / "config.json"]
    configs = {f"{p.parent.name}/{p.name}": p for p in paths}
    report = closed_loop_table(a.bin, load_library(a.lib), configs, a.simulator, range(seed0, seed0 + a.users), days, a.work)
    report["command"] = "python training/closed_loop.py " + " ".join(sys.argv[1:])
    out = a.out or ROOT / "evaluation" / f"closed_loop_{a.simulator}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
