"""Model families: train one small model per exporter family, export it with
default options, and store ONNX Runtime's outputs as parity fixtures.

    python training/families.py [--out fixtures/families] [--only NAME ...]

Each family gives ``<name>.onnx`` and ``<name>.json`` (``inputs``: rows fed to
both engines; ``outputs``: every graph output as a flat list, ZipMap outputs
turned into one probability column per class in label order; ``shapes``). The
Rust test ``tests/families.rs`` checks tract against them; the pytest
``test_families.py`` re-exports and re-checks.

Data: features from ``edgeintent featurize`` on seeded traces. Targets: the
binary intent label; a 3-class "why fresh content is wanted" (none, interest
shift, long absence); for regressors, the share of the next 3 minutes spent
wanting fresh content.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))

from export import convert  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ROWS = 48


def dataset(binary: Path, seeds: range, data_dir: Path):
    """(x, y_binary, y_multi, y_reg) from featurized seeded traces."""
    from labels import load_truth
    from pipeline import featurize, make_trace

    xs, yb, ym, yr = [], [], [], []
    for s in seeds:
        trace, truth_path = make_trace(s, 4, data_dir, f"fam-{s}")
        d, _ = featurize(ROOT / "models" / "config.json", trace, truth_path)
        truth = load_truth(truth_path)
        iv = [(r["start_ms"], r["end_ms"], r["cause"]) for r in truth if r["kind"] == "want_fresh"]
        multi = np.zeros(len(d.ts_ms), dtype=np.int64)
        reg = np.zeros(len(d.ts_ms), dtype=np.float32)
        for i, t in enumerate(d.ts_ms):
            for a, b, cause in iv:
                if a <= t < b:
                    multi[i] = 1 if cause == "interest_shift" else 2
                overlap = max(0, min(b, t + 180_000) - max(a, t))
                reg[i] += overlap / 180_000
        xs.append(d.x)
        yb.append(d.y)
        ym.append(multi)
        yr.append(np.minimum(reg, 1.0))
    return np.concatenate(xs), np.concatenate(yb), np.concatenate(ym), np.concatenate(yr)


def families() -> list[tuple[str, Callable, str, bool]]:
    """(name, estimator factory, target, zipmap)."""
    from lightgbm import LGBMClassifier, LGBMRegressor
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.decomposition import PCA
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import AdaBoostClassifier, AdaBoostRegressor, IsolationForest
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, SGDClassifier
    from sklearn.naive_bayes import BernoulliNB, GaussianNB
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Binarizer, KBinsDiscretizer, MinMaxScaler, Normalizer, PolynomialFeatures, StandardScaler
    from sklearn.svm import LinearSVC
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    from xgboost import XGBClassifier, XGBRegressor

    lgb = dict(n_estimators=100, num_leaves=31, random_state=0, n_jobs=1, verbose=-1, deterministic=True)
    xg = dict(n_estimators=60, max_depth=4, random_state=0, n_jobs=1, tree_method="exact")
    return [
        ("sklearn_logreg_binary", lambda: LogisticRegression(max_iter=2000), "binary", True),
        ("sklearn_logreg_binary_nozipmap", lambda: LogisticRegression(max_iter=2000), "binary", False),
        ("sklearn_logreg_multi", lambda: LogisticRegression(max_iter=2000), "multi", True),
        ("sklearn_linear_svc", lambda: LinearSVC(max_iter=5000), "binary", True),
        ("sklearn_standard_scaler_logreg", lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), "binary", True),
        ("sklearn_minmax_scaler_logreg", lambda: make_pipeline(MinMaxScaler(), LogisticRegression(max_iter=2000)), "binary", True),
        ("sklearn_normalizer_logreg", lambda: make_pipeline(Normalizer(), LogisticRegression(max_iter=2000)), "binary", True),
        ("sklearn_mlp_binary", lambda: make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=300, random_state=0)), "binary", True),
        ("sklearn_mlp_multi_nozipmap", lambda: make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0)), "multi", False),
        ("sklearn_decision_tree_binary", lambda: DecisionTreeClassifier(max_depth=8, random_state=0), "binary", True),
        ("sklearn_decision_tree_multi", lambda: DecisionTreeClassifier(max_depth=8, random_state=0), "multi", True),
        ("sklearn_decision_tree_regressor", lambda: DecisionTreeRegressor(max_depth=8, random_state=0), "reg", True),
        ("sklearn_random_forest_binary", lambda: RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0), "binary", True),
        ("sklearn_random_forest_multi_nozipmap", lambda: RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0), "multi", False),
        ("sklearn_random_forest_regressor", lambda: RandomForestRegressor(n_estimators=30, max_depth=6, random_state=0), "reg", True),
        ("sklearn_extra_trees_binary", lambda: ExtraTreesClassifier(n_estimators=30, max_depth=6, random_state=0), "binary", True),
        ("sklearn_extra_trees_regressor", lambda: ExtraTreesRegressor(n_estimators=30, max_depth=6, random_state=0), "reg", True),
        ("sklearn_gradient_boosting_binary", lambda: GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0), "binary", True),
        ("sklearn_gradient_boosting_multi", lambda: GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0), "multi", True),
        ("sklearn_gradient_boosting_regressor", lambda: GradientBoostingRegressor(n_estimators=50, max_depth=3, random_state=0), "reg", True),
        ("sklearn_hist_gradient_boosting_binary", lambda: HistGradientBoostingClassifier(max_iter=50, random_state=0), "binary", True),
        ("sklearn_hist_gradient_boosting_regressor", lambda: HistGradientBoostingRegressor(max_iter=50, random_state=0), "reg", True),
        ("lightgbm_binary", lambda: LGBMClassifier(**lgb), "binary", True),
        ("lightgbm_binary_nozipmap", lambda: LGBMClassifier(**lgb), "binary", False),
        ("lightgbm_multi", lambda: LGBMClassifier(**{**lgb, "n_estimators": 40}), "multi", True),
        ("lightgbm_regressor", lambda: LGBMRegressor(**lgb), "reg", True),
        ("xgboost_binary", lambda: XGBClassifier(**xg), "binary", True),
        ("xgboost_multi", lambda: XGBClassifier(**{**xg, "n_estimators": 30}), "multi", True),
        ("xgboost_regressor", lambda: XGBRegressor(**xg), "reg", True),
        # Preprocessing pipelines, neighbours and boosting (issue 18).
        ("sklearn_imputer_logreg", lambda: make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=2000)), "binary", True),
        ("sklearn_imputer_median_forest", lambda: make_pipeline(SimpleImputer(strategy="median"), RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0)), "binary", False),
        ("sklearn_binarizer_bernoulli_nb", lambda: make_pipeline(Binarizer(threshold=0.5), BernoulliNB()), "binary", True),
        ("sklearn_pca_logreg", lambda: make_pipeline(StandardScaler(), PCA(n_components=8, random_state=0), LogisticRegression(max_iter=2000)), "binary", True),
        # PCA first: skl2onnx writes two nodes per product (1,265 for all 34 features).
        ("sklearn_pca_polynomial_logreg", lambda: make_pipeline(StandardScaler(), PCA(n_components=6, random_state=0), PolynomialFeatures(degree=2), LogisticRegression(max_iter=3000)), "binary", True),
        ("sklearn_knn_binary", lambda: make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=5)), "binary", True),
        ("sklearn_adaboost_binary", lambda: AdaBoostClassifier(n_estimators=20, random_state=0), "binary", True),
        ("sklearn_isolation_forest", lambda: IsolationForest(n_estimators=20, random_state=0), "outlier", True),
        ("sklearn_calibrated_linear_svc", lambda: CalibratedClassifierCV(LinearSVC(max_iter=5000), cv=3), "binary", True),
        ("sklearn_kbins_ordinal_logreg", lambda: make_pipeline(KBinsDiscretizer(n_bins=5, encode="ordinal", quantile_method="averaged_inverted_cdf"), LogisticRegression(max_iter=2000)), "binary", True),
        ("sklearn_gaussian_nb", lambda: GaussianNB(), "binary", True),
        ("sklearn_sgd_log_binary", lambda: make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", random_state=0)), "binary", True),
        ("sklearn_ridge_regressor", lambda: Ridge(alpha=1.0), "reg", True),
        ("sklearn_linear_regression", lambda: LinearRegression(), "reg", True),
        ("sklearn_mlp_regressor", lambda: make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, random_state=0)), "reg", True),
        ("sklearn_knn_regressor", lambda: make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=5)), "reg", True),
        ("sklearn_adaboost_regressor", lambda: AdaBoostRegressor(n_estimators=10, random_state=0), "reg", True),
        # Trained on rows with missing values, queried with NaN.
        ("lightgbm_binary_missing", lambda: LGBMClassifier(**lgb), "binary", True),
        ("xgboost_binary_missing", lambda: XGBClassifier(**xg), "binary", True),
    ]


def takes_nan(name: str) -> bool:
    """Whether a family is queried with NaN features: trees (their own
    missing-value routing) and pipelines that impute."""
    return is_tree(name) or "imputer" in name or name.endswith("_missing")


def is_tree(name: str) -> bool:
    """Whether a family is a tree ensemble: trained without floating-point
    reductions whose order a BLAS kernel picks, so it re-exports bit for bit."""
    return any(k in name for k in ("tree", "forest", "boosting", "lightgbm", "xgboost"))


def ort_outputs(onx: onnx.ModelProto, x: np.ndarray) -> tuple[dict, dict]:
    """Every output of the graph, flattened; ZipMap maps become class columns."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(onx.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    res = sess.run(None, {sess.get_inputs()[0].name: x})
    outputs, shapes = {}, {}
    for name, value in zip(names, res):
        if isinstance(value, list):  # ZipMap: list of {label: prob}
            keys = list(value[0].keys())
            value = np.array([[row[k] for k in keys] for row in value], dtype=np.float32)
        value = np.asarray(value)
        shapes[name] = list(value.shape)
        if value.dtype.kind in "iu":
            outputs[name] = [int(v) for v in value.ravel()]
        else:
            outputs[name] = [float(v) for v in value.ravel()]
    return outputs, shapes


def build(names: list[str] | None, out: Path, binary: Path, data_dir: Path) -> dict:
    x, yb, ym, yr = dataset(binary, range(3000, 3012), data_dir)
    x = x.astype(np.float32)
    targets = {"binary": yb, "multi": ym, "reg": yr, "outlier": None}
    rng = np.random.default_rng(1)
    rows = x[rng.choice(len(x), size=ROWS, replace=False)]
    # Tree models route missing values (NaN) by their own rules: feed some.
    rows_nan = rows.copy()
    for r in range(8):
        rows_nan[r, rng.choice(x.shape[1], size=6, replace=False)] = np.nan
    # Training rows with missing values, for the *_missing families.
    x_missing = x.copy()
    x_missing[rng.random(x.shape) < 0.05] = np.nan
    out.mkdir(parents=True, exist_ok=True)
    report = {}
    for name, make, target, zipmap in families():
        if names and name not in names:
            continue
        model = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x_missing if name.endswith("_missing") else x, targets[target])
        try:
            onx = convert(model, x.shape[1], "input", zipmap)
        except Exception as e:  # an exporter limitation, reported not hidden
            report[name] = f"export failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
            print(f"families: {name}: {report[name]}")
            continue
        onx.graph.name = name
        onx.producer_version = onx.producer_version or "unknown"
        onnx.save(onx, str(out / f"{name}.onnx"))
        fed = rows_nan if takes_nan(name) else rows
        outputs, shapes = ort_outputs(onx, fed)
        (out / f"{name}.json").write_text(
            json.dumps({"model": f"{name}.onnx", "engine": f"onnxruntime {ort.__version__}", "inputs": [[None if np.isnan(v) else float(v) for v in r] for r in fed], "input_shape": list(rows.shape), "outputs": outputs, "shapes": shapes}) + "\n"
        )
        report[name] = "ok"
        print(f"families: {name}: ok ({(out / f'{name}.onnx').stat().st_size} bytes)")
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description="Export every model family and its ONNX Runtime outputs.")
    ap.add_argument("--out", type=Path, default=ROOT / "fixtures" / "families")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--binary", type=Path)
    a = ap.parse_args()
    from pipeline import build_binary

    binary = a.binary or build_binary()
    report = build(a.only, a.out, binary, ROOT / "training" / "data")
    path = a.out / "REPORT.json"
    if a.only and path.exists():  # --only: the other families' entries stand
        report = {**json.loads(path.read_text()), **report}
    path.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
