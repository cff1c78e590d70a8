"""The reference profile a model package carries for on-device monitoring.

For every feature and for the model's score: a fixed-bin histogram of the
training rows, with edges at the deciles (repeated quantiles merged, so a
feature that is 0 on 70% of rows gets one bin for 0); and each event type's
share of the training events. The runtime compares its rolling window with
these (population stability index, event mix); see the README's
"Monitoring" section.

    python training/ref_profile.py --model models/intent.onnx

recomputes the shipped model's profile from the pipeline's training users
(the same seeds and days as ``pipeline.py``) and stores it in the model's
``metadata_props``; ``pipeline.py`` stores it with every model it exports.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx

KEY = "edgeintent.reference_profile"
VERSION = 1
BINS = 10


def histogram(values: np.ndarray, bins: int = BINS) -> dict:
    """Edges at the quantiles, each bin closed on the right (as the runtime bins)."""
    v = np.asarray(values, dtype=np.float32)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"edges": [], "freq": [1.0]}
    qs = np.quantile(v, [k / bins for k in range(1, bins)]).astype(np.float32)
    top = np.float32(v.max())
    # A last bin above the training maximum (reference share 0): values no
    # training user reached stand out instead of hiding in the top decile.
    edges = np.unique(np.append(qs[qs < top], top))
    idx = np.searchsorted(edges, v, side="left")  # number of edges < x: the runtime's bin
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)
    freq = counts / counts.sum()
    return {"edges": [float(e) for e in edges], "freq": [round(float(f), 6) for f in freq]}


SURPRISE_WINDOW = 30
FIELDS = {"scroll.dy_px": ("scroll", "dy_px"), "custom.value": ("custom", "value"), "search.query_len": ("search", "query_len")}


def event_mix(traces: list[Path]) -> tuple[dict[str, float], dict[str, float]]:
    """Each event type's share of events, and each watched field's share of zeros."""
    counts: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    zeros: Counter[str] = Counter()
    for t in traces:
        with open(t, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                e = json.loads(line)
                counts[e["type"]] += 1
                for name, (ty, key) in FIELDS.items():
                    if e["type"] == ty and e.get(key) is not None:
                        seen[name] += 1
                        zeros[name] += e[key] == 0
    total = sum(counts.values())
    mix = {k: round(v / total, 6) for k, v in sorted(counts.items())}
    fields = {n: round(zeros[n] / seen[n], 6) for n in FIELDS if seen[n]}
    return mix, fields


def surprise_threshold(x_raw: np.ndarray, hists: list[dict], window: int = SURPRISE_WINDOW) -> float:
    """The highest mean surprise of ``window`` consecutive rows of one user:
    the sum over features of -ln(the reference share of the row's bin)."""
    s = np.zeros(x_raw.shape[0])
    for i, h in enumerate(hists):
        s -= np.log(np.maximum(np.asarray(h["freq"])[bins_of(x_raw[:, i], h)], 1e-3))
    if len(s) < window:
        return float(s.max())
    means = np.convolve(s, np.ones(window) / window, mode="valid")
    return round(float(means.max()), 4)


WINDOW_POINTS = 300
EVENT_WINDOW = 120
PSI_FLOOR = 1e-4


def bins_of(col: np.ndarray, h: dict) -> np.ndarray:
    edges = np.asarray(h["edges"], dtype=np.float32)
    col = col.astype(np.float32)
    return np.where(np.isnan(col), len(edges), np.searchsorted(edges, col, side="left"))


def psi(bins: np.ndarray, freq: list[float]) -> float:
    """As the runtime computes it (shares floored at 1e-4)."""
    a = np.maximum(np.bincount(bins, minlength=len(freq)) / max(len(bins), 1), PSI_FLOOR)
    e = np.maximum(np.asarray(freq), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def natural(users: list[np.ndarray], scores: list[np.ndarray] | None, hists: list[dict], score_hist: dict | None,
            names: list[str], traces: list[Path], mix: dict[str, float]) -> dict:
    """The worst window of any training user: the PSI per feature and for the
    score over ``WINDOW_POINTS`` consecutive decision points, and each event
    type's share over ``EVENT_WINDOW`` consecutive events against the mix."""
    worst = {n: 0.0 for n in names}
    worst_score = 0.0
    # The longest run of decision points above each feature's training maximum.
    runs = {n: 0 for n in names}
    for x in users:
        for i, n in enumerate(names):
            if not hists[i]["edges"]:
                continue
            above = x[:, i].astype(np.float32) > np.float32(hists[i]["edges"][-1])
            c = 0
            for v in above:
                c = c + 1 if v else 0
                runs[n] = max(runs[n], c)
    for u, x in enumerate(users):
        for start in range(0, len(x) - WINDOW_POINTS + 1, 5):
            w = x[start:start + WINDOW_POINTS]
            for i, n in enumerate(names):
                worst[n] = max(worst[n], psi(bins_of(w[:, i], hists[i]), hists[i]["freq"]))
            if scores is not None and score_hist is not None:
                sw = scores[u][start:start + WINDOW_POINTS]
                worst_score = max(worst_score, psi(bins_of(sw, score_hist), score_hist["freq"]))
    ranges: dict[str, list[float]] = {}
    gaps: dict[str, int] = {ty: 0 for ty in mix}
    for t in traces:
        types = [json.loads(line)["type"] for line in open(t, encoding="utf-8") if line.strip()]
        # The longest run of events without each type, from the trace's start
        # (as a fresh device counts).
        last = {ty: 0 for ty in mix}
        for k, ty in enumerate(types, start=1):
            for other in mix:
                gaps[other] = max(gaps[other], k - last[other])
            if ty in last:
                last[ty] = k
        for start in range(0, len(types) - EVENT_WINDOW + 1, 5):
            c = Counter(types[start:start + EVENT_WINDOW])
            for ty, share in mix.items():
                r = c.get(ty, 0) / EVENT_WINDOW / share
                lo, hi = ranges.get(ty, [r, r])
                ranges[ty] = [min(lo, r), max(hi, r)]
    psis = {n: round(v, 4) for n, v in worst.items()}
    if scores is not None:
        psis["score"] = round(worst_score, 4)
    return {
        "window_points": WINDOW_POINTS,
        "event_window": EVENT_WINDOW,
        "psi": psis,
        "events": {ty: [round(lo, 4), round(hi, 4)] for ty, (lo, hi) in sorted(ranges.items())},
        "gaps": dict(sorted(gaps.items())),
        "runs": runs,
    }


def reference_profile(users: list[np.ndarray], names: list[str], scores: list[np.ndarray] | None, traces: list[Path],
                      normal: tuple[list[np.ndarray], list[np.ndarray] | None, list[Path]] | None = None) -> dict:
    """The profile of raw training rows, one array per user (columns in
    ``names`` order, rows in time order), with the model's scores per user.
    How far a normal device strays (``natural``, the surprise threshold) is
    measured on ``normal`` users (rows, scores, traces): by default the
    training users themselves."""
    n_users, n_scores, n_traces = normal or (users, scores, traces)
    x_raw = np.concatenate(users)
    hists = [histogram(x_raw[:, i]) for i in range(len(names))]
    mix, fields = event_mix(traces)
    score_hist = histogram(np.concatenate(scores)) if scores is not None else None
    return {
        "version": VERSION,
        "rows": int(x_raw.shape[0]),
        "features": [{"name": n, **h} for n, h in zip(names, hists)],
        "score": score_hist,
        "events": mix,
        "fields": fields,
        "surprise": {"window": SURPRISE_WINDOW, "threshold": max(surprise_threshold(x, hists) for x in n_users if len(x))},
        "natural": natural(n_users, n_scores, hists, score_hist, names, n_traces, mix),
    }


def attach(model: onnx.ModelProto, profile: dict) -> None:
    """Stores (or replaces) the profile in the model's metadata."""
    text = json.dumps(profile, separators=(",", ":"))
    for p in model.metadata_props:
        if p.key == KEY:
            p.value = text
            return
    entry = model.metadata_props.add()
    entry.key, entry.value = KEY, text


# Users whose own windows say how far a normal device strays, besides the
# training users: ten days of each population (A: generate.py, B:
# simulate_b.py), seeds apart from every evaluation's.
NORMAL_SEEDS = {"A": range(1600, 1630), "B": range(1500, 1530)}
NORMAL_DAYS = 10


def profile_model(config: Path, model: Path, data: Path, seeds: range, days: int = 5) -> dict:
    """Featurizes the training traces ``data/train-<seed>.jsonl`` (with the
    edgeintent package) with ``model`` deciding refreshes (as it will when serving), and stores the profile in
    it: histograms and mixes from the training users; how far a normal
    device strays from the training users and users of population B."""
    import edgeintent

    from generate import Params, generate, write_jsonl
    from simulate_b import PopulationB, simulate

    from parity import ort_positive_proba
    from train import feature_matrix

    cfg = json.loads(config.read_text())
    cfg["model"]["path"] = str(model.resolve())
    cfg["features"] = str((config.parent / cfg["features"]).resolve())
    cfg_path = data / "profile.config.json"
    cfg_path.write_text(json.dumps(cfg))
    def served(traces: list[Path]) -> tuple[list[np.ndarray], list[str]]:
        rows, names = [], []
        for t in traces:
            table = edgeintent.featurize(t, cfg_path, under_model=True)
            names = table.column_names[2:]
            rows.append(feature_matrix(table, names))
        return rows, names

    traces = [data / f"train-{s}.jsonl" for s in seeds]
    users, names = served(traces)
    scores = [ort_positive_proba(model, x.astype(np.float32)) for x in users]
    b_traces = []
    for pop, rng in NORMAL_SEEDS.items():
        for s in rng:
            ev, _ = generate(s, Params(days=NORMAL_DAYS)) if pop == "A" else simulate(s, PopulationB(days=NORMAL_DAYS))
            b_traces.append(data / f"normal-{pop}-{s}.jsonl")
            write_jsonl(b_traces[-1], ev)
    b_users, _ = served(b_traces)
    b_scores = [ort_positive_proba(model, x.astype(np.float32)) for x in b_users]
    normal = (users + b_users, scores + b_scores, traces + b_traces)
    profile = reference_profile(users, names, scores, traces, normal)
    m = onnx.load(str(model))
    attach(m, profile)
    onnx.checker.check_model(m)
    onnx.save(m, str(model))
    return profile


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import tempfile

    from pipeline import ROOT, TRAIN_SEED0, make_trace

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "intent.onnx")
    ap.add_argument("--train-users", type=int, default=60)
    ap.add_argument("--days", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        seeds = range(TRAIN_SEED0, TRAIN_SEED0 + a.train_users)
        for s in seeds:
            make_trace(s, a.days, data, f"train-{s}")
        profile = profile_model(ROOT / "models" / "config.json", a.model, data, seeds)
    print(f"profile: {len(profile['features'])} features, {profile['rows']} rows, {len(profile['events'])} event types -> {a.model}")


if __name__ == "__main__":
    main()
