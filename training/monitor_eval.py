"""How fast the on-device monitors see a broken stream, and how often they
cry wolf on normal users, on both simulators.

Normal users: population A (``generate.py``) and population B
(``simulate_b.py``), validation seeds (7000.., 7100..) for choosing settings
and held-out seeds (7200.., 7300..) for the figures. Injected breaks, from the
first app foreground after the middle of a user's trace (by events; the
last foreground when none follows it):

- ``zeros``: every scroll reports ``dy_px`` 0 (a broken producer);
- ``stop``: exposures stop arriving (a producer removed);
- ``shift``: the user's behaviour is replaced by that of an extreme
  population (sessions of 30 min, an interest shift every 30 s, a
  notification every 20 s), re-timed to continue the trace.

The delay is foreground time from the break to the first alert of the
expected kind. ``--fallback`` also checks that with ``monitor.fallback``
covering the kind, the rules decide (``fallback:monitor``) after the alert.

    .venv/bin/python training/monitor_eval.py [--binary target/debug/edgeintent] [--held-out] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))

from generate import Params, generate  # noqa: E402
from simulate_b import simulate  # noqa: E402

VALID = {"A": range(7000, 7010), "B": range(7100, 7110), "C": range(9650, 9660)}
HELD_OUT = {"A": range(7200, 7210), "B": range(7300, 7310), "C": range(9800, 9810)}
# The alert each break should raise (a reason prefix); another population
# shows in the features, the score or the event mix.
EXPECTED = {
    "zeros": ("monitor:drift:scroll.dy_px",),
    "stop": ("monitor:event_rate:exposure",),
    "shift": ("monitor:drift:", "monitor:score_drift:", "monitor:event_rate:"),
}
EXTREME = Params(days=10, session_mean_s=1800.0, shift_every_s=30.0, notification_every_s=20.0)


DAYS = 10
# Population C (simulate_c.py) is neither trained nor tuned on: its users
# differ from the profile's and from each other; three days each.
DAYS_C = 3


def events_of(pop: str, seed: int) -> list[dict]:
    from simulate_b import PopulationB
    from simulate_c import simulate as simulate_c

    if pop == "C":
        return simulate_c(seed, DAYS_C)[0]
    ev, _ = generate(seed, Params(days=DAYS)) if pop == "A" else simulate(seed, PopulationB(days=DAYS))
    return ev


def break_at(ev: list[dict]) -> int:
    mid = ev[len(ev) // 2]["ts_ms"]
    starts = [e["ts_ms"] for e in ev if e["type"] == "app_foreground"]
    # A light user's last session may hold the middle event: then it breaks there.
    return next((t for t in starts if t >= mid), starts[-1])


def inject(ev: list[dict], kind: str, seed: int) -> tuple[list[dict], int]:
    t = break_at(ev)
    before = [e for e in ev if e["ts_ms"] < t]
    after = [e for e in ev if e["ts_ms"] >= t]
    if kind == "zeros":
        after = [{**e, "dy_px": 0.0} if e["type"] == "scroll" else e for e in after]
    elif kind == "stop":
        after = [e for e in after if e["type"] != "exposure"]
    elif kind == "shift":
        other, _ = generate(seed + 50_000, EXTREME)
        first = next(e["ts_ms"] for e in other if e["type"] == "app_foreground")
        after = [{**e, "ts_ms": e["ts_ms"] - first + t} for e in other if e["ts_ms"] >= first]
    return before + after, t


def foreground_ms(ev: list[dict], start: int, end: int) -> int:
    """Foreground time between two instants."""
    total, since = 0, None
    for e in ev:
        ts = e["ts_ms"]
        if e["type"] == "app_foreground":
            since = ts
        elif e["type"] == "app_background" and since is not None:
            total += max(0, min(ts, end) - max(since, start))
            since = None
        if ts > end:
            break
    if since is not None and since < end:
        total += end - max(since, start)
    return total


def replay(binary: Path, config: Path, ev: list[dict], tmp: Path) -> list[dict]:
    trace = tmp / "t.jsonl"
    trace.write_text("".join(json.dumps(e) + "\n" for e in ev))
    out = subprocess.run([str(binary), "replay", "--config", str(config), str(trace)], capture_output=True, text=True, check=True)
    return [json.loads(l) for l in out.stdout.splitlines()]


def config_with(tmp: Path, fallback: list[str] | None, overrides: dict) -> Path:
    c = json.loads((ROOT / "models" / "config.json").read_text())
    c["monitor"].update(overrides)
    c["model"]["path"] = str(ROOT / "models" / c["model"]["path"])
    c["features"] = str(ROOT / "models" / c["features"])
    if fallback is not None:
        c["monitor"]["fallback"] = fallback
    p = tmp / ("config_fallback.json" if fallback else "config.json")
    p.write_text(json.dumps(c))
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", type=Path, default=ROOT / "target" / "debug" / "edgeintent")
    ap.add_argument("--held-out", action="store_true", help="report the held-out seeds (default: validation)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--monitor", default="{}", help="JSON merged into the config's monitor section (for tuning on the validation seeds)")
    ap.add_argument("--populations", default="ABC", help="which populations to run (letters of A, B, C)")
    ap.add_argument("--normal-only", action="store_true", help="only the normal users (no injected breaks)")
    a = ap.parse_args()
    seeds = {k: v for k, v in (HELD_OUT if a.held_out else VALID).items() if k in a.populations}
    report: dict = {"seeds": {k: [v.start, v.stop] for k, v in seeds.items()}, "normal": {}, "breaks": {}}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        overrides = json.loads(a.monitor)
        report["monitor"] = overrides
        cfg = config_with(tmp, None, overrides)
        cfg_fb = config_with(tmp, ["drift", "score_drift", "event_rate", "model_errors"], overrides)
        for pop, rng in seeds.items():
            alerts: Counter[str] = Counter()
            users = 0
            for seed in rng:
                ds = replay(a.binary, cfg, events_of(pop, seed), tmp)
                hit = [x["reason"] for x in ds if x["action"] == "alert"]
                alerts.update(hit)
                users += bool(hit)
            report["normal"][pop] = {"users": len(rng), "users_with_alerts": users, "alerts": dict(alerts)}
            print(f"normal {pop}: {users}/{len(rng)} users with an alert {dict(alerts)}")
        for kind in [] if a.normal_only else EXPECTED:
            for pop, rng in seeds.items():
                delays, missed, fallback_ok = [], 0, 0
                for seed in rng:
                    ev, t = inject(events_of(pop, seed), kind, seed)
                    ds = replay(a.binary, cfg, ev, tmp)
                    hit = next((x for x in ds if x["action"] == "alert" and x["ts_ms"] >= t and x["reason"].startswith(EXPECTED[kind])), None)
                    if hit is None:
                        missed += 1
                        continue
                    delays.append(foreground_ms(ev, t, hit["ts_ms"]) / 60_000)
                    fb = replay(a.binary, cfg_fb, ev, tmp)
                    fallback_ok += any(x["reason"] == "fallback:monitor" and x["ts_ms"] >= hit["ts_ms"] for x in fb)
                delays.sort()
                row = {
                    "users": len(rng),
                    "detected": len(delays),
                    "missed": missed,
                    "median_delay_fg_min": round(delays[len(delays) // 2], 2) if delays else None,
                    "max_delay_fg_min": round(delays[-1], 2) if delays else None,
                    "fallback_engaged": fallback_ok,
                }
                report["breaks"][f"{kind}/{pop}"] = row
                print(f"break {kind} on {pop}: {row}")
    if a.json:
        a.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
