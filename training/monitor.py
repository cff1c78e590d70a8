"""Fleet view of the on-device monitors: many devices' live histograms
(``stats.monitor.histograms``, as ``edgeintent replay --summary`` or
``edgeintent monitor --json`` writes them, or as a server collects them)
summed per feature (with each device's own history where the stats carry
it), and the fleet's PSI against the model package's reference profile, per
feature and for the score. This is where a population that differs from the
training data shows: the devices' own alerts judge each device against its
own history too, so they stay quiet about it.

    .venv/bin/python training/monitor.py --model models/intent.onnx STATS.json... [--plot OUT.png] [--json OUT]

A single device's window is one user, who is not the population (the
runtime judges it against how far training users strayed); summed over a
fleet, the histograms are a sample of the population again, so the plain
PSI thresholds (0.1 watch, 0.25 act) apply.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx

KEY = "edgeintent.reference_profile"
FLOOR = 1e-4


def reference(model: Path) -> dict:
    props = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    if KEY not in props:
        raise SystemExit(f"{model}: no {KEY} in its metadata (export it with training/ref_profile.py)")
    return json.loads(props[KEY])


def histograms_of(path: Path) -> list[dict]:
    """The live histograms in one stats file (a replay summary, `monitor --json`, or bare stats)."""
    doc = json.loads(path.read_text())
    found = []
    for d in doc if isinstance(doc, list) else [doc]:
        mon = d.get("monitor") or d.get("runtime", {}).get("monitor")
        if mon:
            found.append(mon["histograms"])
    return found


def psi(counts: np.ndarray, freq: np.ndarray) -> float:
    a = np.maximum(counts / max(counts.sum(), 1), FLOOR)
    e = np.maximum(freq, FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def fleet_psi(profile: dict, devices: list[list[dict]]) -> dict[str, float]:
    refs = {f["name"]: np.asarray(f["freq"]) for f in profile["features"]}
    if profile.get("score"):
        refs["score"] = np.asarray(profile["score"]["freq"])
    sums = {n: np.zeros(len(f)) for n, f in refs.items()}
    for hists in devices:
        for h in hists:
            if h["name"] in sums and len(h["counts"]) == len(sums[h["name"]]):
                sums[h["name"]] += np.asarray(h["counts"], dtype=float)
                # The device's own history (decayed counts of points that
                # left its window): a longer sample of the same device.
                if len(h.get("history", ())) == len(sums[h["name"]]):
                    sums[h["name"]] += np.asarray(h["history"], dtype=float)
    return {n: round(psi(sums[n], refs[n]), 4) for n in refs if sums[n].sum() > 0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "intent.onnx")
    ap.add_argument("--plot", type=Path, help="bar chart of the fleet PSI per feature (PNG or SVG)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("stats", type=Path, nargs="+")
    a = ap.parse_args()
    devices = [h for p in a.stats for h in histograms_of(p)]
    if not devices:
        raise SystemExit("no device stats with monitor histograms (is monitor.enabled on?)")
    result = fleet_psi(reference(a.model), devices)
    for name, v in sorted(result.items(), key=lambda kv: -kv[1]):
        flag = "ACT" if v >= 0.25 else "watch" if v >= 0.1 else ""
        print(f"{name:<32} {v:8.4f} {flag}")
    print(f"{len(devices)} devices")
    if a.json:
        a.json.write_text(json.dumps({"devices": len(devices), "psi": result}, indent=2) + "\n")
    if a.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = sorted(result, key=lambda n: -result[n])
        fig, ax = plt.subplots(figsize=(10, 0.25 * len(names) + 1))
        ax.barh(names[::-1], [result[n] for n in names[::-1]], color="#4a7ab7")
        for x, style in ((0.1, ":"), (0.25, "--")):
            ax.axvline(x, color="#b44", linestyle=style, linewidth=1)
        ax.set_xlabel(f"fleet PSI against the reference ({len(devices)} devices)")
        fig.tight_layout()
        fig.savefig(a.plot)
        print(f"plot: {a.plot}")


if __name__ == "__main__":
    main()
