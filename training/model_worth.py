"""What the model adds: a config with and without its model, on held-out
users of every simulator, open and closed loop, at equal recall.

    python training/model_worth.py [--config models/config.json] [--simulators a,b,c]
        [--users 10] [--closed/--no-closed] [--out evaluation/model_worth.json]

For each simulator (held-out seeds: A 9000.. 10 days, B 9500.. 7 days, C
9700.. 7 days):

* *open loop*: ``edgeintent evaluate`` on the fixed traces; its report
  carries the policy, the policy without its model, the model's threshold
  sweep and the fixed-interval curve, and ``model_adds_at_equal_recall``;
* *closed loop* (``closed_loop.py``): the policy, the policy without its
  model, the policy at the sweep's thresholds and every fixed interval, each
  in its own run of the same users reacting to it.

"The model adds N points": the requests per hour of the policy without its
model, less those of the model's threshold curve interpolated at the same
recall, as a share of the fixed curve's requests at that recall.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from closed_loop import HELD_OUT, absolute, closed_loop_table, interpolate, load_library, saved_at_equal_recall  # noqa: E402
from evaluate import evaluate_json, make_traces  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SWEEP = (0.2, 0.3, 0.4, 0.5, 0.7, 0.8)


def model_adds(curve: list[dict], without: dict, fixed: list[dict]) -> float | None:
    """Points of requests saved that the model adds at the no-model policy's recall."""
    with_model = interpolate([(p["recall"], p["requests_per_hour"]) for p in curve], without["recall"])
    base = interpolate([(p["recall"], p["requests_per_hour"]) for p in fixed], without["recall"])
    if base is None:
        base = max(fixed, key=lambda p: p["recall"])["requests_per_hour"]
    if with_model is None or not base:
        return None
    return (without["requests_per_hour"] - with_model) / base


def variants(config: Path, folder: Path) -> dict[str, Path]:
    """The config, the same without its model, and the sweep (absolute paths)."""
    base = absolute(json.loads(config.read_text()), config.parent)
    out = {"ours": base}
    no_model = {k: v for k, v in base.items() if k != "model"}
    out["ours, no model"] = no_model
    if base.get("model"):
        for t in SWEEP:
            c = json.loads(json.dumps(base))
            p = c["policy"]
            if abs(t - p["threshold"]) < 1e-6 or t - p.get("hysteresis", 0.0) <= 0.0:
                continue
            p["threshold"] = t
            p.pop("buckets", None)
            out[f"ours@{t}"] = c
    paths = {}
    for name, c in out.items():
        path = folder / (name.replace(" ", "_").replace(",", "").replace("@", "_at_") + ".json")
        path.write_text(json.dumps(c))
        paths[name] = path
    return paths


def open_loop(config: Path, sim: str, users: int, work: Path) -> dict:
    seed0, days = HELD_OUT[sim]
    traces, truths = make_traces(range(seed0, seed0 + users), days, work / f"traces_{sim}", sim)
    r = evaluate_json(config, traces, truths)
    pol = {p["name"]: p for p in r["policies"]}
    fixed = [p for p in r["policies"] if p["kind"] == "fixed_interval"]
    row = {"ours": _brief(pol["ours"], fixed), "model_adds": r["comparison"].get("model_adds_at_equal_recall")}
    if "ours, no model" in pol:
        row["no_model"] = _brief(pol["ours, no model"], fixed)
    row["curve"] = [{"name": p["name"], "recall": round(p["recall"], 4), "requests_per_hour": round(p["requests_per_hour"], 3)}
                    for p in r["policies"] if p["kind"] in ("ours", "ours_sweep")]
    return row


def closed_loop(config: Path, sim: str, users: int, work: Path, lib) -> dict:
    seed0, days = HELD_OUT[sim]
    work.mkdir(parents=True, exist_ok=True)
    paths = variants(config, work)
    t = closed_loop_table(None, lib, paths, sim, range(seed0, seed0 + users), days, work / "closed", say=lambda m: None)
    fixed = t["fixed"]
    rows = t["policies"]
    curve = [r for n, r in rows.items() if n == "ours" or n.startswith("ours@")]
    out = {"ours": _brief(rows["ours"], fixed), "no_model": _brief(rows["ours, no model"], fixed),
           "curve": [{"name": r["name"], "recall": r["recall"], "requests_per_hour": r["requests_per_hour"]} for r in curve]}
    out["model_adds"] = model_adds(curve, rows["ours, no model"], fixed) if len(curve) > 1 else None
    return out


def _brief(p: dict, fixed: list[dict]) -> dict:
    return {"requests_per_hour": round(p["requests_per_hour"], 3), "recall": round(p["recall"], 4),
            "saved": saved_at_equal_recall(p, fixed)}


def pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 100:+.1f}"


def adds_text(row: dict) -> str:
    """The model's worth in words; without a figure, why there is none."""
    if row.get("model_adds") is not None:
        return f"the model adds {pct(row['model_adds'])} points"
    curve = row.get("curve")
    if curve and "no_model" in row:
        top = max(p["recall"] for p in curve)
        if top < row["no_model"]["recall"]:
            return f"no figure: at no threshold does the model reach the rules' recall (best {top:.3f})"
    return "no figure"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=ROOT / "models" / "config.json")
    ap.add_argument("--simulators", default="a,b,c")
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--closed", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--lib", type=Path, default=ROOT / "target" / "release" / "libedgeintent.so")
    ap.add_argument("--out", type=Path, help="JSON report")
    a = ap.parse_args()
    lib = load_library(a.lib) if a.closed else None
    report = {"config": str(a.config), "command": "python training/model_worth.py " + " ".join(sys.argv[1:]), "rows": {}}
    with tempfile.TemporaryDirectory() as d:
        for sim in a.simulators.split(","):
            row = {"open": open_loop(a.config, sim, a.users, Path(d))}
            if lib is not None:
                row["closed"] = closed_loop(a.config, sim, a.users, Path(d) / f"closed_{sim}", lib)
            report["rows"][sim] = row
            o = row["open"]
            line = (f"{sim.upper()}: open: ours {pct(o['ours']['saved'])}% at recall {o['ours']['recall']:.3f}, "
                    f"no model {pct(o.get('no_model', {}).get('saved'))}% at {o.get('no_model', {}).get('recall', 0):.3f}, "
                    + adds_text(o))
            if "closed" in row:
                c = row["closed"]
                line += (f" | closed: ours {pct(c['ours']['saved'])}% at {c['ours']['recall']:.3f}, no model "
                         f"{pct(c['no_model']['saved'])}% at {c['no_model']['recall']:.3f}, {adds_text(c)}")
            print(line, flush=True)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def _pooled(rows: list[list[dict]]) -> list[dict]:
    """Per-user policy rows pooled: requests per foreground hour and recall
    over all of them, by policy name."""
    acc: dict[str, dict] = {}
    for user in rows:
        for p in user:
            a = acc.setdefault(p["name"], {"name": p["name"], "kind": p["kind"], "requests": 0, "hours": 0.0,
                                           "served": 0, "seen": 0})
            a["requests"] += p["requests"]
            a["hours"] += p["foreground_hours"]
            a["served"] += p["shifts_served"]
            a["seen"] += p["shifts_seen"]
    out = []
    for a in acc.values():
        out.append({"name": a["name"], "kind": a["kind"],
                    "requests_per_hour": a["requests"] / a["hours"] if a["hours"] else 0.0,
                    "recall": a["served"] / a["seen"] if a["seen"] else 0.0})
    return out


def adds_from_policies(policies: list[dict]) -> float | None:
    """:func:`model_adds` from one ``evaluate`` report's policies."""
    without = next((p for p in policies if p["kind"] == "ours_no_model"), None)
    curve = [p for p in policies if p["kind"] in ("ours", "ours_sweep")]
    fixed = [p for p in policies if p["kind"] == "fixed_interval"]
    if without is None or len(curve) < 2 or not fixed:
        return None
    return model_adds(curve, without, fixed)


def bootstrap_adds(per_user: list[list[dict]], draws: int = 300, seed: int = 0) -> dict:
    """What the model adds on users, with a bootstrap interval over users:
    ``per_user`` holds each user's ``evaluate`` policy rows."""
    import numpy as np

    point = adds_from_policies(_pooled(per_user))
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(draws):
        pick = rng.integers(len(per_user), size=len(per_user))
        v = adds_from_policies(_pooled([per_user[i] for i in pick]))
        if v is not None:
            samples.append(v)
    lo, hi = (float(np.percentile(samples, 5)), float(np.percentile(samples, 95))) if samples else (None, None)
    return {"adds": point, "ci90": [lo, hi], "draws": len(samples), "users": len(per_user)}
