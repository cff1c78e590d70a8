"""Geofence evaluation: one command from seeds to report.

Generates seeded location trajectories around the airports of
``fixtures/geo/airports.json`` (``geo_traces.py``), then runs
``edgeintent geo-eval --config fixtures/geo/config.json`` on two sets:

* ``mixed``: GPS noise σ drawn from 5 to 50 m per activity (seeds 9100..);
* ``noise20``: σ fixed at 20 m (seeds 9200..), for flapping;

and with ``fixtures/geo/city_config.json`` on days in a dense city
(``city_traces.py``: 24 small fences, walking, cycling, buses, metro tunnels,
long stationary spells, urban-canyon multipath):

* ``city_validation``: seeds 9300..9309, the ones the sampling defaults were
  tuned on;
* ``city``: seeds 9310.., held out.

Each set compares adaptive sampling with fixed intervals of 10 s and 60 s. On
the held-out city set it also sweeps ``sampling.max_fixes_per_hour`` (the
entry delay a fix budget costs). The tables are printed and the reports
written to ``<out>/geofence.json``.

Usage: ``python training/geo_evaluate.py --bin target/release/edgeintent``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from generate import write_jsonl
import city_traces
from geo_traces import generate

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "fixtures" / "geo" / "config.json"
CITY_CONFIG = ROOT / "fixtures" / "geo" / "city_config.json"
# name: (first seed, GPS noise or "city")
SETS = {
    "mixed": (9100, None),
    "noise20": (9200, 20.0),
    "city_validation": (9300, "city"),
    "city": (9310, "city"),
}


def run_set(binary: Path, name: str, seed0: int, noise, users: int, hours: float, folder: Path) -> tuple[str, dict]:
    traces, truths = [], []
    city = noise == "city"
    for s in range(seed0, seed0 + users):
        events, truth = city_traces.generate(s, hours) if city else generate(s, hours, noise)
        t, g = folder / f"{name}_{s}.jsonl", folder / f"{name}_{s}.truth.jsonl"
        write_jsonl(t, events)
        write_jsonl(g, truth)
        # Named relative to the folder the binary runs in: the report names no machine's paths.
        traces.append(t.name)
        truths += ["--truth", g.name]
    args = [str(binary.resolve()), "geo-eval", "--config", str(CITY_CONFIG if city else CONFIG), *truths, *traces]
    table = subprocess.run(args, capture_output=True, text=True, check=True, cwd=folder).stdout
    report = json.loads(subprocess.run([*args, "--json"], capture_output=True, text=True, check=True, cwd=folder).stdout)
    report["seeds"] = [seed0, seed0 + users - 1]
    report["hours_per_trace"] = hours
    report["noise_m"] = "4-14 m and multipath" if city else (noise if noise is not None else "5-50")
    return table, report


BUDGETS = [None, 60, 45, 30, 20]


def budget_sweep(binary: Path, report: dict, folder: Path) -> tuple[str, list[dict]]:
    """The held-out city traces again under each fix budget."""
    traces = report["traces"]
    truths = [t.replace(".jsonl", ".truth.jsonl") for t in traces]
    rows, text = [], ["budget/hour  fixes/hour  delay p50  delay p95  missed ≥60s  false ENTER  false EXIT"]
    base = json.loads(CITY_CONFIG.read_text())
    base["features"] = str((CITY_CONFIG.parent / base["features"]).resolve())
    for b in BUDGETS:
        cfg = json.loads(json.dumps(base))
        if b is not None:
            cfg["geofence"].setdefault("sampling", {})["max_fixes_per_hour"] = b
        path = folder / f"city_budget_{b}.json"
        path.write_text(json.dumps(cfg))
        args = [str(binary.resolve()), "geo-eval", "--config", str(path), "--fixed", "10", "--json"]
        for t in truths:
            args += ["--truth", t]
        out = json.loads(subprocess.run([*args, *traces], capture_output=True, text=True, check=True, cwd=folder).stdout)
        a = out["samplers"][0]
        rows.append({"max_fixes_per_hour": b, **{k: a[k] for k in ("fixes_per_hour", "entry_delay_p50_s", "entry_delay_p95_s", "missed_60s", "visits_60s", "false_enters", "false_exits")}})
        sec = lambda v: "      -  " if v is None else f"{v:7.1f} s"  # noqa: E731 (no visits: no delay)
        text.append(f"{str(b or 'none'):>11}  {a['fixes_per_hour']:10.1f}  {sec(a['entry_delay_p50_s'])}  {sec(a['entry_delay_p95_s'])}  "
                    f"{a['missed_60s']:>5}/{a['visits_60s']:<5}  {a['false_enters']:>11}  {a['false_exits']:>10}")
    return "\n".join(text), rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "edgeintent")
    ap.add_argument("--users", type=int, default=20, help="trajectories per set")
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--city-hours", type=float, default=12.0, help="hours per city day")
    ap.add_argument("--traces", type=Path, default=ROOT / "target" / "geo")
    ap.add_argument("--out", type=Path, default=ROOT / "evaluation")
    a = ap.parse_args()
    if not a.bin.exists():
        ap.error(f"{a.bin} is missing: run `cargo build --release` first")
    reports = {}
    for name, (seed0, noise) in SETS.items():
        city = noise == "city"
        # The city's validation seeds are half as many as its held-out ones.
        users = max(1, a.users // 2) if name == "city_validation" else a.users
        hours = a.city_hours if city else a.hours
        table, reports[name] = run_set(a.bin, name, seed0, noise, users, hours, a.traces)
        noise_text = reports[name]["noise_m"]
        noise_text = f"{noise_text:g} m" if isinstance(noise_text, float) else noise_text
        print(f"== {name}: {users} trajectories x {hours:g} h, seeds {seed0}..{seed0 + users - 1}, GPS noise {noise_text}")
        print(table)
    table, reports["city_budget_sweep"] = budget_sweep(a.bin, reports["city"], a.traces)
    print("== city, held out, under a fix budget (sampling.max_fixes_per_hour)")
    print(table)
    reports["command"] = f"python training/geo_evaluate.py --users {a.users} --hours {a.hours:g} --city-hours {a.city_hours:g}"
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "geofence.json").write_text(json.dumps(reports, indent=2) + "\n")
    print(f"wrote {a.out / 'geofence.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
