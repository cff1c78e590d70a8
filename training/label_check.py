"""How good are labels from observable behaviour? Measured against the truth
that only a simulator has, on both simulators.

For each simulator: featurize training users and held-out users with the Rust
featurizer, label every decision point twice (by ``observed_labels.py``, from
the trace alone, and by the simulator's ``want_fresh`` truth), then

* compare the two labellings (how often an observed positive is a true one,
  and how many true positives it finds), and
* train the same LightGBM on each labelling and score both against the truth
  of the held-out users (ROC AUC): what a model learns from an app's own logs,
  against what it would learn from a truth no app has.

The truth is read here to *evaluate* the rule; the rule never sees it.

    python training/label_check.py [--bin target/release/edgeintent] [--users 8 --days 4]

writes ``evaluation/labels.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate import make_traces  # noqa: E402
from labels import label, load_truth  # noqa: E402
from observed_labels import REASONS, label_trace, read_trace  # noqa: E402
from pipeline import candidates, featurize  # noqa: E402
from train import fit_normalization  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Held-out seeds of each simulator (training and validation seeds stay unused here).
SEEDS = {"a": (9300, 9400), "b": (9600, 9700)}


def rows(binary: Path, simulator: str, seeds: range, days: int, folder: Path):
    """Features, observed labels (and their reasons), truth labels, for `seeds`."""
    xs, obs, why, tru = [], [], [], []
    for trace, truth_path in zip(*make_traces(seeds, days, folder, simulator)):
        d, _ = featurize(ROOT / "models" / "config.json", trace, truth_path)
        y, reasons = label_trace(read_trace(trace), d.ts_ms, d.points)
        xs.append(d.x)
        obs.append(y)
        why += reasons
        tru.append(label(d.ts_ms, load_truth(truth_path)))
    return np.concatenate(xs), np.concatenate(obs), why, np.concatenate(tru)


def model_auc(x_train, y_train, x_test, y_test) -> float:
    from sklearn.metrics import roc_auc_score

    mean, scale = fit_normalization(x_train)
    clf = candidates()["lightgbm"]()  # the shipped model's family and settings
    clf.fit((x_train - mean) / scale, y_train)
    return float(roc_auc_score(y_test, clf.predict_proba((x_test - mean) / scale)[:, 1]))


def check(binary: Path, simulator: str, users: int, days: int, folder: Path) -> dict:
    train0, test0 = SEEDS[simulator]
    xt, ot, why_t, tt = rows(binary, simulator, range(train0, train0 + users), days, folder)
    xv, ov, _, tv = rows(binary, simulator, range(test0, test0 + users), days, folder)
    both = int(((ot == 1) & (tt == 1)).sum())
    return {
        "rows": int(len(tt)),
        "truth_positive_rate": float(tt.mean()),
        "observed_positive_rate": float(ot.mean()),
        "observed_precision_vs_truth": both / max(1, int(ot.sum())),
        "observed_recall_vs_truth": both / max(1, int(tt.sum())),
        "observed_reasons": {r: sum(w == r for w in why_t) for r in REASONS},
        "auc_vs_truth_trained_on_observed": model_auc(xt, ot, xv, tv),
        "auc_vs_truth_trained_on_truth": model_auc(xt, tt, xv, tv),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "edgeintent")
    ap.add_argument("--users", type=int, default=8, help="training users and held-out users per simulator")
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--traces", type=Path, default=ROOT / "target" / "label_check")
    ap.add_argument("--out", type=Path, default=ROOT / "evaluation" / "labels.json")
    a = ap.parse_args()
    if not a.bin.exists():
        ap.error(f"{a.bin} is missing: run `cargo build --release` first")
    a.traces.mkdir(parents=True, exist_ok=True)
    report = {s: check(a.bin, s, a.users, a.days, a.traces) for s in ("a", "b")}
    report["command"] = f"python training/label_check.py --users {a.users} --days {a.days}"
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'simulator':<10} {'rows':>6} {'truth+':>7} {'obs+':>6} {'obs prec':>9} {'obs rec':>8} {'AUC obs':>8} {'AUC truth':>10}")
    for s in ("a", "b"):
        r = report[s]
        print(f"{s:<10} {r['rows']:>6} {r['truth_positive_rate']:>7.3f} {r['observed_positive_rate']:>6.3f} {r['observed_precision_vs_truth']:>9.3f} {r['observed_recall_vs_truth']:>8.3f} {r['auc_vs_truth_trained_on_observed']:>8.3f} {r['auc_vs_truth_trained_on_truth']:>10.3f}")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
