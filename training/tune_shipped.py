"""How the shipped policy settings (``models/config.json``) are chosen: a grid
scored by ``edgeintent evaluate`` on simulator A's *validation* users only
(seeds 2000..2009, 10 days), never on held-out seeds (9000 and up) and never
on simulator B, so that B stays a population the shipped config was not tuned
on.

The grid: threshold, hysteresis, cooldown, and whether the explicit-action
rules are on (a ``search`` or an app ``custom`` event, such as a completed
payment, marks the content stale; they are chosen a priori, as things a user
does when what they want next changes, not learned from either simulator).
The winner saves the most requests against the fixed-interval curve at equal
recall among the settings reaching ``--min-recall``.

    python training/tune_shipped.py [--write]   # --write updates models/config.json

Prints the top of the grid and the winner; ``--write`` rewrites the policy
and triggers of ``models/config.json`` (everything else stays as it is).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate import evaluate_json, make_traces, requests_saved  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VALID_SEED0 = 2000
THRESHOLDS = (0.3, 0.4, 0.5, 0.6)
HYSTERESES = (None, 0.1, 0.2)
COOLDOWNS_S = (5, 15, 30)
EXPLICIT_ACTIONS = [
    {"event": "search", "action": "mark_stale", "debounce_s": 0},
    {"event": "custom", "action": "mark_stale", "debounce_s": 0},
]


def variant(base: dict, threshold: float, hysteresis: float | None, cooldown_s: float, explicit: bool) -> dict:
    """The shipped config with one grid point's settings (paths absolute)."""
    c = json.loads(json.dumps(base))
    c["model"]["path"] = str(ROOT / "models" / base["model"]["path"])
    c["features"] = str(ROOT / "models" / base["features"])
    p = c["policy"]
    p.update({"threshold": threshold, "cooldown_s": cooldown_s})
    if "buckets" in p:  # the A/B buckets stay centred on the threshold
        spread = [t - base["policy"]["threshold"] for t in p["buckets"]["thresholds"]]
        p["buckets"]["thresholds"] = [round(threshold + d, 3) for d in spread]
    if hysteresis is None:
        p.pop("hysteresis", None)
    else:
        p["hysteresis"] = hysteresis
    rules = [r for r in c["triggers"] if r not in EXPLICIT_ACTIONS]
    c["triggers"] = (EXPLICIT_ACTIONS if explicit else []) + rules
    return c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "edgeintent")
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--min-recall", type=float, default=0.65)
    ap.add_argument("--write", action="store_true", help="update models/config.json with the winner")
    a = ap.parse_args()
    if not a.bin.exists():
        ap.error(f"{a.bin} is missing: run `cargo build --release` first")
    base_path = ROOT / "models" / "config.json"
    base = json.loads(base_path.read_text())
    with tempfile.TemporaryDirectory(prefix="edgeintent-tune-") as tmp:
        work = Path(tmp)
        traces, truths = make_traces(range(VALID_SEED0, VALID_SEED0 + a.users), a.days, work, "a")
        grid = [(t, h, c, x) for x in (False, True) for t in THRESHOLDS for h in HYSTERESES for c in COOLDOWNS_S
                if h is None or h < t]
        rows = []
        for n, (t, h, c, x) in enumerate(grid, 1):
            path = work / "candidate.json"
            path.write_text(json.dumps(variant(base, t, h, c, x)))
            r = evaluate_json(path, traces, truths)
            ours = r["policies"][0]
            rows.append({"threshold": t, "hysteresis": h, "cooldown_s": c, "explicit_actions": x,
                         "requests_per_hour": round(ours["requests_per_hour"], 2), "recall": round(ours["recall"], 4),
                         "saved": requests_saved(r)})
            if n % 20 == 0 or n == len(grid):
                print(f"tune: {n}/{len(grid)} settings", flush=True)
    reaching = [r for r in rows if r["recall"] >= a.min_recall and r["saved"] is not None]
    if not reaching:
        print(f"tune: no setting reaches recall {a.min_recall} on the validation users", file=sys.stderr)
        return 1
    reaching.sort(key=lambda r: (-r["saved"], r["requests_per_hour"]))
    for r in reaching[:8]:
        print(r)
    best = reaching[0]
    print(f"tune: best on validation seeds {VALID_SEED0}-{VALID_SEED0 + a.users - 1}: {best}")
    if a.write:
        c = variant(base, best["threshold"], best["hysteresis"], best["cooldown_s"], best["explicit_actions"])
        c["model"]["path"], c["features"] = base["model"]["path"], base["features"]
        base_path.write_text(json.dumps(c, indent=2) + "\n")
        print(f"tune: wrote {base_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
