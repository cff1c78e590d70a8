"""The cross-population table: fit on one simulator's users, test on held-out
users of both, next to the shipped config.

* fit users (traces only, no truth): A seeds 3100.., B seeds 6100.. (training
  and validation range of each simulator), ``--fit-users`` of each, 5 days;
* test users (with truth, for scoring only): A seeds 9000..9009 (10 days),
  B seeds 9500..9509 (7 days), the held-out sets of ``evaluate.py``;
* every config is scored by ``edgeintent evaluate`` against the fixed-interval
  curve at equal recall (open loop), the same config with its model switched
  off next to it, and again in the closed loop (``closed_loop.py``: the test
  users react to each policy's refreshes, the fixed curve re-run likewise).

    python training/cross_population.py [--bin target/release/edgeintent] [--fit-users 40]
        [--base-config models/generic/config.json --out evaluation/cross_population_generic.json]

writes ``evaluation/cross_population.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from closed_loop import closed_loop_table, load_library, saved_at_equal_recall  # noqa: E402
from evaluate import evaluate_json, make_traces, requests_saved, simulated  # noqa: E402
from fit import fit  # noqa: E402
from generate import write_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIT_SEED0 = {"a": 3100, "b": 6100}
TEST = {"a": (9000, 10, 10), "b": (9500, 10, 7)}  # first seed, users, days


def fit_users(sim: str, n: int, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in folder.glob("*.jsonl"):
        f.unlink()
    for s in range(FIT_SEED0[sim], FIT_SEED0[sim] + n):
        events, _truth = simulated(sim, s, 5)
        write_jsonl(folder / f"user{s}.jsonl", events)


def score(binary: Path, config: Path, traces: list[Path], truths: list[Path]) -> dict:
    """Open-loop figures of one config: ours, and ours without the model."""
    r = evaluate_json(config, traces, truths)
    ours = r["policies"][0]
    fixed = [p for p in r["policies"] if p["kind"] == "fixed_interval"]
    bare = next((p for p in r["policies"] if p["kind"] == "ours_no_model"), None)
    return {
        "requests_per_hour": round(ours["requests_per_hour"], 2),
        "recall": round(ours["recall"], 3),
        "requests_saved_at_equal_recall": requests_saved(r),
        "no_model": None if bare is None else {
            "requests_per_hour": round(bare["requests_per_hour"], 2), "recall": round(bare["recall"], 3),
            "requests_saved_at_equal_recall": saved_at_equal_recall(bare, fixed)},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "edgeintent")
    ap.add_argument("--fit-users", type=int, default=40)
    ap.add_argument("--work", type=Path, default=ROOT / "target" / "cross_population")
    ap.add_argument("--out", type=Path, default=ROOT / "evaluation" / "cross_population.json")
    ap.add_argument("--base-config", type=Path, default=ROOT / "models" / "config.json", help="the base config fit starts from (its feature spec, triggers, policy)")
    a = ap.parse_args()
    if not a.bin.exists():
        ap.error(f"{a.bin} is missing: run `cargo build --release` first")
    configs = {"shipped": ROOT / "models" / "config.json"}
    for sim in ("a", "b"):
        fit_users(sim, a.fit_users, a.work / f"fit_{sim}")
        fit(a.work / f"fit_{sim}", a.work / f"fitted_{sim}", a.bin, a.base_config, None)
        configs[f"fitted on {sim.upper()}"] = a.work / f"fitted_{sim}" / "config.json"
    tests = {}
    for sim, (seed0, users, days) in TEST.items():
        tests[sim] = make_traces(range(seed0, seed0 + users), days, a.work / f"test_{sim}", sim)
    table = {name: {sim: score(a.bin, cfg, *tests[sim]) for sim in TEST} for name, cfg in configs.items()}
    lib = load_library(a.bin.parent / "libedgeintent.so")
    closed = {}
    for sim, (seed0, users, days) in TEST.items():
        t = closed_loop_table(a.bin, lib, configs, sim, range(seed0, seed0 + users), days, a.work / "closed_loop", say=lambda m: None)
        for name, row in t["policies"].items():
            closed.setdefault(name, {})[sim] = {"requests_per_hour": row["requests_per_hour"], "recall": round(row["recall"], 3),
                                                "requests_saved_at_equal_recall": row["requests_saved_at_equal_recall"]}
    base = a.base_config.resolve().relative_to(ROOT) if a.base_config.resolve().is_relative_to(ROOT) else a.base_config
    report = {"table": table, "closed_loop": closed, "fit_users": a.fit_users, "base_config": str(base),
              "command": f"python training/cross_population.py --fit-users {a.fit_users} --base-config {base}"}
    a.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'config':<14} {'test':<5} {'req/h':>7} {'recall':>7} {'saved vs fixed':>15} {'no model: saved':>16} {'closed: req/h':>14} {'recall':>7} {'saved':>8}")
    pct = lambda v: "-" if v is None else f"{v * 100:+.1f}%"  # noqa: E731
    for name, row in table.items():
        for sim, r in row.items():
            c = closed[name][sim]
            bare = pct(r["no_model"]["requests_saved_at_equal_recall"]) + f" @{r['no_model']['recall']:.3f}" if r["no_model"] else "-"
            print(f"{name:<14} {sim.upper():<5} {r['requests_per_hour']:>7.2f} {r['recall']:>7.3f} {pct(r['requests_saved_at_equal_recall']):>15} {bare:>16} "
                  f"{c['requests_per_hour']:>14.2f} {c['recall']:>7.3f} {pct(c['requests_saved_at_equal_recall']):>8}")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
