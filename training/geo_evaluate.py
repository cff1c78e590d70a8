"""Geofence evaluation: one command from seeds to report.

Generates seeded location trajectories around the airports of
``fixtures/geo/airports.json`` (``geo_traces.py``), then runs
``edgeintent geo-eval --config fixtures/geo/config.json`` on two sets:

* ``mixed``: GPS noise σ drawn from 5 to 50 m per activity (seeds 9100..);
* ``noise20``: σ fixed at 20 m (seeds 9200..), for flapping.

Each set compares adaptive sampling with fixed intervals of 10 s and 60 s. The
tables are printed and the reports written to ``<out>/geofence.json``.

Usage: ``python training/geo_evaluate.py --bin target/release/edgeintent``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from generate import write_jsonl
from geo_traces import generate

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "fixtures" / "geo" / "config.json"
SETS = {"mixed": (9100, None), "noise20": (9200, 20.0)}


def run_set(binary: Path, name: str, seed0: int, noise: float | None, users: int, hours: float, folder: Path) -> tuple[str, dict]:
    traces, truths = [], []
    for s in range(seed0, seed0 + users):
        events, truth = generate(s, hours, noise)
        t, g = folder / f"{name}_{s}.jsonl", folder / f"{name}_{s}.truth.jsonl"
        write_jsonl(t, events)
        write_jsonl(g, truth)
        # Named relative to the folder the binary runs in: the report names no machine's paths.
        traces.append(t.name)
        truths += ["--truth", g.name]
    args = [str(binary.resolve()), "geo-eval", "--config", str(CONFIG), *truths, *traces]
    table = subprocess.run(args, capture_output=True, text=True, check=True, cwd=folder).stdout
    report = json.loads(subprocess.run([*args, "--json"], capture_output=True, text=True, check=True, cwd=folder).stdout)
    report["seeds"] = [seed0, seed0 + users - 1]
    report["hours_per_trace"] = hours
    report["noise_m"] = noise if noise is not None else "5-50"
    return table, report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "edgeintent")
    ap.add_argument("--users", type=int, default=20, help="trajectories per set")
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--traces", type=Path, default=ROOT / "target" / "geo")
    ap.add_argument("--out", type=Path, default=ROOT / "evaluation")
    a = ap.parse_args()
    if not a.bin.exists():
        ap.error(f"{a.bin} is missing: run `cargo build --release` first")
    reports = {}
    for name, (seed0, noise) in SETS.items():
        table, reports[name] = run_set(a.bin, name, seed0, noise, a.users, a.hours, a.traces)
        noise_text = f"{noise:g} m" if noise is not None else "5-50 m"
        print(f"== {name}: {a.users} trajectories x {a.hours:g} h, seeds {seed0}..{seed0 + a.users - 1}, GPS noise {noise_text}")
        print(table)
    reports["command"] = f"python training/geo_evaluate.py --users {a.users} --hours {a.hours:g}"
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "geofence.json").write_text(json.dumps(reports, indent=2) + "\n")
    print(f"wrote {a.out / 'geofence.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
