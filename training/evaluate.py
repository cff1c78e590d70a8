"""Held-out evaluation of the refresh policy: one command from seeds to plot.

Generates traces from seeds training never saw (9000 and up; training uses
1000.., validation 2000.., the example 42), runs ``edgeintent evaluate`` on
them with the given config, and writes:

* ``<out>/heldout.json``: the report (``edgeintent evaluate --json``), with the
  seeds and the command added;
* ``<out>/heldout.png``: requests per foreground hour against recall, the
  fixed-interval baselines as a curve, the other baselines and our policy
  (configured threshold and the sweep) as points.

The table is printed as ``edgeintent evaluate`` prints it. ``--simulator b``
evaluates on users of the second, independently written simulator
(``simulate_b.py``) instead, writing ``heldout_b.json`` and ``heldout_b.png``.

Usage: ``python training/evaluate.py --bin target/release/edgeintent [--simulator b]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from generate import Params, generate, write_jsonl
from simulate_b import PopulationB, simulate

ROOT = Path(__file__).resolve().parent.parent
HELD_OUT_SEED0 = 9000
SWEEP = "0.25,0.4,0.5,0.6,0.7"


def simulated(simulator: str, seed: int, days: int, policy: object | None = None) -> tuple[list[dict], list[dict]]:
    """(events, truth) of one user of simulator `a` (generate.py), `b`
    (simulate_b.py) or `c` (simulate_c.py); with `policy` in the loop
    (closed_loop.py), the user reacts to its refreshes."""
    if simulator == "b":
        return simulate(seed, PopulationB(days=days), policy=policy)
    if simulator == "c":
        from simulate_c import simulate as simulate_c

        return simulate_c(seed, days, policy=policy)
    return generate(seed, Params(days=days), policy=policy)


def make_traces(seeds: range, days: int, folder: Path, simulator: str = "a") -> tuple[list[Path], list[Path]]:
    """Writes one trace and truth per seed of simulator `a` or `b`; returns their paths."""
    traces, truths = [], []
    for s in seeds:
        events, truth = simulated(simulator, s, days)
        stem = "heldout" if simulator == "a" else f"heldout_{simulator}"
        t, g = folder / f"{stem}_{s}.jsonl", folder / f"{stem}_{s}.truth.jsonl"
        write_jsonl(t, events)
        write_jsonl(g, truth)
        traces.append(t)
        truths.append(g)
    return traces, truths


def evaluate_json(config: Path, traces: list[Path], truths: list[Path]) -> dict:
    """The report of ``edgeintent evaluate --json`` for `config` on `traces`,
    each scored against the truth file at the same position, computed by the
    edgeintent package. A failure is a ``ValueError`` carrying edgeintent's
    message."""
    import edgeintent

    try:
        return edgeintent.evaluate(traces, truths, config)
    except edgeintent.EdgeIntentError as e:
        raise ValueError(str(e)) from None


def requests_saved(report: dict) -> float | None:
    """Our requests saved against the fixed-interval curve at equal recall;
    above the whole curve, the lower bound against the closest timer."""
    c = report["comparison"]
    saved = c["request_reduction_at_equal_recall"]
    return saved if saved is not None else c["request_reduction_above_the_curve"]


def evaluate_args(config: Path, traces: list[Path], truths: list[Path], sweep: str) -> list[str]:
    """The `evaluate` command line, traces and truths named relative to their
    folder (the binary runs there), so the report names no machine's paths."""
    args = ["evaluate", "--config", str(config.resolve())]
    for g in truths:
        args += ["--truth", g.name]
    if sweep:
        args += ["--sweep-threshold", sweep]
    return args + [t.name for t in traces]


def plot(report: dict, path: Path, title: str) -> None:
    """Requests per hour against recall: baselines as a curve, ours as points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ps = report["policies"]
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120)
    fixed = sorted((p for p in ps if p["kind"] == "fixed_interval"), key=lambda p: p["recall"])
    ax.plot([p["recall"] for p in fixed], [p["requests_per_hour"] for p in fixed], "o-", color="tab:gray", label="fixed interval")
    for p in fixed:
        ax.annotate(f"{p['interval_s']:g} s", (p["recall"], p["requests_per_hour"]), textcoords="offset points", xytext=(6, -10), fontsize=8, color="tab:gray")
    markers = {"every_home_view": ("s", "tab:purple", "every home view"), "per_notification": ("D", "tab:brown", "per notification")}
    for p in ps:
        if p["kind"] in markers:
            m, c, label = markers[p["kind"]]
            ax.plot(p["recall"], p["requests_per_hour"], m, color=c, label=label)
    sweep = [p for p in ps if p["kind"] == "ours_sweep"]
    if sweep:
        ax.plot([p["recall"] for p in sweep], [p["requests_per_hour"] for p in sweep], "^", color="tab:cyan", label="ours, other thresholds")
    for p in ps:
        if p["kind"] == "ours_no_model":
            ax.plot(p["recall"], p["requests_per_hour"], "v", color="tab:olive", label="ours without the model")
    ours = ps[0]
    ax.plot(ours["recall"], ours["requests_per_hour"], "*", markersize=14, color="tab:red", label=f"ours (threshold {ours['threshold']:g})")
    ax.set_xlabel("recall of home views needing fresh content")
    ax.set_ylabel("requests per foreground hour")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "edgeintent", help="the edgeintent binary")
    ap.add_argument("--config", type=Path, default=ROOT / "models" / "config.json")
    ap.add_argument("--seed0", type=int, default=HELD_OUT_SEED0, help="first seed (at least 9000: held out)")
    ap.add_argument("--users", type=int, default=10, help="traces (one simulated user each)")
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--sweep", default=SWEEP, help="extra thresholds for our policy, comma-separated ('' for none)")
    ap.add_argument("--traces", type=Path, default=ROOT / "target" / "heldout", help="where to write the generated traces")
    ap.add_argument("--out", type=Path, default=ROOT / "evaluation", help="where the report and plot go")
    ap.add_argument("--simulator", choices=["a", "b", "c"], default="a", help="a: generate.py (the one the shipped config was tuned on); b: simulate_b.py; c: simulate_c.py")
    a = ap.parse_args()
    if a.seed0 < HELD_OUT_SEED0:
        ap.error(f"--seed0 {a.seed0}: seeds below {HELD_OUT_SEED0} are used by training, validation or the example")
    if not a.bin.exists():
        ap.error(f"{a.bin} is missing: run `cargo build --release` first")
    seeds = range(a.seed0, a.seed0 + a.users)
    traces, truths = make_traces(seeds, a.days, a.traces, a.simulator)
    name = "heldout" if a.simulator == "a" else f"heldout_{a.simulator}"
    args = evaluate_args(a.config, traces, truths, a.sweep)
    folder = a.traces.resolve()
    binary = str(a.bin.resolve())
    table = subprocess.run([binary, *args], capture_output=True, text=True, cwd=folder)
    if table.returncode != 0:
        print(table.stderr, file=sys.stderr)
        return table.returncode
    print(table.stdout, end="")
    raw = subprocess.run([binary, *args, "--json"], capture_output=True, text=True, check=True, cwd=folder)
    report = json.loads(raw.stdout)
    report["seeds"] = [seeds.start, seeds.stop - 1]
    report["days"] = a.days
    report["simulator"] = a.simulator
    report["command"] = f"python training/evaluate.py --simulator {a.simulator} --seed0 {a.seed0} --users {a.users} --days {a.days}"
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    c = report["comparison"]
    title = (
        f"held-out seeds {seeds.start}-{seeds.stop - 1}, {a.days} days each: "
        f"{100 * (c['request_reduction_at_equal_recall'] or 0):.0f}% fewer requests at equal recall"
    )
    plot(report, a.out / f"{name}.png", f"simulator {a.simulator.upper()}, " + title)
    print(f"\nwrote {a.out / (name + '.json')} and {a.out / (name + '.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
