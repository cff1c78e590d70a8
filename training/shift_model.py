"""A candidate intent model on what the user did since the previous home
view, scored for "the user's interest moved since the content was fetched".
It is measured, not shipped: it does not pass the do-no-harm rule on every
simulator (docs/policy.md, "What the model adds").

    python training/shift_model.py --out DIR   # train; DIR/{intent.onnx,feature_spec.json,config.json}
    python training/shift_model.py --check     # print validation AUCs only
    python training/model_worth.py --config DIR/config.json

Target (aligned with what the gate decides and with how recall is judged):
a decision point is positive when an interest shift happened after both the
last refresh and the previous home view, and at or before the point, so the
first home view after a shift is positive and the ones after it (once served)
are not. Labels come from the simulators' truth files (``interest_shift``
records); ``fit`` has no truth and uses observed outcomes instead.

Features: the spec of ``models/feature_spec.json`` (version
``home-intent-2``): the windowed counts, recencies and rates of version 1, plus
the interval since the previous home view (events by type, page views on the
home page and elsewhere, seconds since that view) and the user's pace (mean
gap of the last 8 events). The shipped vocabulary is only ``home``: page
names differ between apps, and ``fit`` learns an app's own.

Data: training seeds 1000.. and validation seeds 2000.. of simulators A and B
(never the held-out seeds from 9000, never simulator C, which stays unseen).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate import simulated  # noqa: E402
from export import to_onnx  # noqa: E402
from generate import write_jsonl  # noqa: E402
from train import feature_matrix, fit_normalization, metrics  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TRAIN_SEED0 = 1000
VALID_SEED0 = 2000
MODEL_VERSION = "intent-3"
# The gate asks the model only while content is younger than max_staleness_s.
ASKED_BELOW_S = 1800.0
SPEC_VERSION = "home-intent-2"

# Event types whose counts over the interval since the previous home view the
# model reads (page views are split into home and everything else below).
INTERVAL_EVENTS = ("scroll", "click", "search", "feedback", "exposure", "pull_to_refresh",
                   "notification", "custom")


def interval_features(pages: list[str]) -> list[dict]:
    """The interval features: counts by type, page views by page (the
    vocabulary, then every other page in one bucket), time since the
    previous home view, and pace."""
    out = [{"name": f"{e}_since_home", "kind": "interval_count", "event": e} for e in INTERVAL_EVENTS]
    out += [{"name": f"views_{p}_since_home", "kind": "interval_count", "event": "page_view", "page": p}
            for p in pages]
    out.append({"name": "views_other_since_home", "kind": "interval_count", "event": "page_view",
                "page": "(other)"})
    out.append({"name": "since_home_view", "kind": "since_home_view", "cap_s": 86400})
    out.append({"name": "since_custom", "kind": "since_last", "event": "custom", "cap_s": 86400})
    out.append({"name": "mean_gap_8", "kind": "mean_gap", "events": 8, "cap_s": 3600})
    return out


def spec_v2(base: dict, pages: list[str], version: str = SPEC_VERSION) -> dict:
    """Version 1's features plus the interval features, with a vocabulary."""
    new = {f["name"] for f in interval_features(pages)}
    old = [f for f in base["features"] if f["kind"] not in ("interval_count", "since_home_view", "mean_gap")
           and f["name"] not in new]
    spec = {k: v for k, v in base.items() if k not in ("features", "pages", "version")}
    spec["version"] = version
    spec["pages"] = list(pages)
    spec["features"] = old + interval_features(pages)
    return spec


def shift_labels(ts: np.ndarray, points: list[str], since_refresh_log: np.ndarray, truth: list[dict]) -> np.ndarray:
    """1 where an interest shift lies after the last refresh and the previous
    home view, and at or before the point."""
    shifts = np.array(sorted(r["ts_ms"] for r in truth if r["kind"] == "interest_shift"), dtype=np.int64)
    home = np.array([t for t, p in zip(ts, points) if p == "home_view"], dtype=np.int64)
    refresh = ts - np.round(np.expm1(since_refresh_log.astype(np.float64)) * 1000).astype(np.int64)
    out = np.zeros(len(ts), dtype=np.int64)
    for i, t in enumerate(ts):
        j = np.searchsorted(home, t, side="left") - 1
        lo = max(int(refresh[i]), int(home[j]) if j >= 0 else -(1 << 62))
        k = np.searchsorted(shifts, t, side="right") - 1
        out[i] = int(k >= 0 and shifts[k] > lo)
    return out


def user_rows(simulator: str, seed: int, days: int, config: Path, folder: Path):
    """Featurized rows (the serving featurizer, under the rules) and labels."""
    import edgeintent

    events, truth = simulated(simulator, seed, days)
    trace = folder / f"{simulator}-{seed}.jsonl"
    write_jsonl(trace, events)
    table = edgeintent.featurize(trace, config)
    names = edgeintent.feature_spec(config)["feature_names"]
    ts = table.column("ts_ms").to_numpy().astype(np.int64)
    points = table.column("point").to_pylist()
    x = feature_matrix(table, names)
    y = shift_labels(ts, points, x[:, names.index("since_refresh")], truth)
    trace.unlink()
    return x, y, names


def residual(x: np.ndarray, names: list[str], no_marks: bool = False) -> np.ndarray:
    """Rows where the gate asks for a score: content younger than
    max_staleness_s; with ``no_marks``, also no search or app event since
    the last refresh (whose stale mark the shipped rules serve anyway)."""
    r = x[:, names.index("since_refresh")]
    ok = r < np.log1p(ASKED_BELOW_S)
    if no_marks:
        for marker in ("since_search", "since_custom"):
            ok &= x[:, names.index(marker)] >= r
    return ok


def dataset(simulators: list[str], seeds: range, days: int, config: Path, folder: Path):
    xs, ys, sims, names = [], [], [], None
    for sim in simulators:
        for s in seeds:
            x, y, names = user_rows(sim, s, days, config, folder)
            xs.append(x)
            ys.append(y)
            sims += [sim] * len(y)
    return np.vstack(xs), np.concatenate(ys), np.array(sims), names


def lightgbm():
    from lightgbm import LGBMClassifier

    return LGBMClassifier(n_estimators=150, num_leaves=15, learning_rate=0.05, min_child_samples=40,
                          subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=0, n_jobs=1,
                          deterministic=True, verbose=-1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-users", type=int, default=40, help="users per simulator")
    ap.add_argument("--valid-users", type=int, default=15, help="users per simulator")
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--check", action="store_true", help="print validation AUCs; write nothing")
    ap.add_argument("--residual", action="store_true",
                    help="train and judge only where the shipped rules leave the answer to the score")
    ap.add_argument("--out", type=Path, help="folder for the model, its spec and a config that runs it")
    a = ap.parse_args()
    if not a.check and a.out is None:
        ap.error("--out is required unless --check")

    base_spec = json.loads((ROOT / "models" / "feature_spec.json").read_text())
    base_config = json.loads((ROOT / "models" / "config.json").read_text())
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        spec = spec_v2(base_spec, ["home"])
        (d / "feature_spec.json").write_text(json.dumps(spec, indent=2) + "\n")
        cfg = dict(base_config)
        cfg.pop("model", None)
        cfg["features"] = str(d / "feature_spec.json")
        cfg.pop("monitor", None)
        # The model reads searches and app events as features and decides
        # itself whether they announce a change: no stale marks for them.
        cfg["triggers"] = [t for t in cfg["triggers"] if t.get("action") != "mark_stale" or t["event"] == "notification"]
        (d / "config.json").write_text(json.dumps(cfg))
        sims = ["a", "b"]
        xt, yt, st, names = dataset(sims, range(TRAIN_SEED0, TRAIN_SEED0 + a.train_users), a.days, d / "config.json", d)
        xv, yv, sv, _ = dataset(sims, range(VALID_SEED0, VALID_SEED0 + a.valid_users), a.days, d / "config.json", d)
        print(f"shift_model: {len(yt)} training rows ({yt.mean():.1%} positive), {len(yv)} validation rows")
        keep = residual(xt, names, a.residual)
        print(f"shift_model: training on the {keep.sum()} rows where the rules leave the answer to the score "
              f"({yt[keep].mean():.1%} positive)")
        mean, scale = fit_normalization(xt)
        clf = lightgbm().fit((xt[keep] - mean) / scale, yt[keep])
        vkeep = residual(xv, names, a.residual)
        xv, yv, sv = xv[vkeep], yv[vkeep], sv[vkeep]
        pv = clf.predict_proba((xv - mean) / scale)[:, 1]
        report = {"all": metrics(pv, yv)}
        for sim in sims:
            m = sv == sim
            report[sim] = metrics(pv[m], yv[m])
            # Zero-shot: trained on the other simulator alone.
            other = st != sim
            mu, sc = fit_normalization(xt[other])
            other &= keep
            alone = lightgbm().fit((xt[other] - mu) / sc, yt[other])
            report[f"{sim}, trained on the other"] = metrics(alone.predict_proba((xv[m] - mu) / sc)[:, 1], yv[m])
        for k, v in report.items():
            rows = yv if k == "all" else yv[sv == k[0]]
            print(f"shift_model: validation {k}: AUC {v['auc']:.3f}, positives {rows.mean():.1%}")
        if a.check:
            xc, yc, _, _ = dataset(["c"], range(VALID_SEED0, VALID_SEED0 + a.valid_users), a.days, d / "config.json", d)
            pc = clf.predict_proba((xc - mean) / scale)[:, 1]
            asked = residual(xc, names, a.residual)
            print(f"shift_model: unseen simulator C: AUC {metrics(pc, yc)['auc']:.3f} ({yc.mean():.1%} positive), "
                  f"where the gate asks: {metrics(pc[asked], yc[asked])['auc']:.3f} ({yc[asked].mean():.1%})")
            return 0
        identity = {"feature_spec_hash": _spec_hash(d / "config.json"), "feature_spec_version": SPEC_VERSION,
                    "feature_names": names}
        onx = to_onnx(clf, identity, mean, scale, MODEL_VERSION,
                      {"auc": report["all"]["auc"], "rows": int(len(yv)), "target": "shift since refresh and previous home view"})
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "feature_spec.json").write_text(json.dumps(spec, indent=2) + "\n")
        onnx.save(onx, str(a.out / "intent.onnx"))
        serving = {**base_config, "model": {"path": "intent.onnx", "required": True}, "features": "feature_spec.json",
                   "triggers": cfg["triggers"]}
        serving.pop("monitor", None)
        (a.out / "config.json").write_text(json.dumps(serving, indent=2) + "\n")
        print(f"shift_model: wrote {a.out}/intent.onnx, feature_spec.json and config.json")
    return 0


def _spec_hash(config: Path) -> str:
    import edgeintent

    return edgeintent.feature_spec(config)["feature_spec_hash"]


if __name__ == "__main__":
    sys.exit(main())
