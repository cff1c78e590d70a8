"""Tree ensembles timed on three engines side by side, in one run: edgeintent
(its native executor, and tract), ONNX Runtime, and the same model compiled
to C by treelite's tl2cgen (gcc -O3 -march=x86-64-v3, the instruction set
edgeintent is built for), the usual anchor for single-row tree
inference.

Each model is trained on seeded synthetic data, exported to ONNX with the
exporters users use (onnxmltools, skl2onnx, CatBoost's own) and, where
treelite reads the library, to C. All engines cycle the same 256 seeded rows
(never one repeated row: a branch predictor memorises a repeated path and
flatters branchy code), one clock reading around each call. Rounds
alternate the C harness and ``edgeintent bench``; the figure of an engine is
the median of its per-round p50s. Predictions are checked first: tl2cgen's
against ONNX Runtime's (it computes in double, so agreement is to ~1e-6),
and ``edgeintent bench`` checks its own against tract and ONNX Runtime.

    cargo build --release -p edgeintent-offline --features ort-compare --bin edgeintent
    python training/bench_trees.py --ort-lib PATH/libonnxruntime.so \\
        [--models lightgbm,xgboost,random_forest,catboost] [--out FILE.jsonl]

CatBoost has no treelite frontend: its C model is built with treelite's
model builder from the exported ONNX ensemble (``treelite_from_onnx``), so
all engines run the very trees ONNX Runtime runs.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "training"))
from export import convert  # noqa: E402

N_FEATURES = 24
MODELS = ("lightgbm", "xgboost", "random_forest", "catboost")


def data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Features with interactions and thresholds, so that trees grow deep."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    logit = x[:, 0] + x[:, 1] * x[:, 2] - np.abs(x[:, 3]) + 0.5 * np.sin(3 * x[:, 4]) + 0.3 * x[:, 5:12].sum(axis=1)
    y = (logit + rng.normal(scale=0.7, size=n) > 0).astype(np.int64)
    return x, y


def train(kind: str, x: np.ndarray, y: np.ndarray, scale: float):
    """The estimator, and its treelite model where treelite reads it."""
    import treelite

    trees = max(2, int(round(120 * scale)))
    if kind == "lightgbm":
        from lightgbm import LGBMClassifier

        m = LGBMClassifier(n_estimators=trees, num_leaves=31, learning_rate=0.05, verbose=-1, random_state=0).fit(x, y)
        return m, treelite.frontend.from_lightgbm(m.booster_)
    if kind == "xgboost":
        from xgboost import XGBClassifier

        m = XGBClassifier(n_estimators=trees, max_depth=6, learning_rate=0.1, random_state=0).fit(x, y)
        return m, treelite.frontend.from_xgboost(m.get_booster())
    if kind == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        m = RandomForestClassifier(n_estimators=max(2, int(round(100 * scale))), max_depth=8, random_state=0).fit(x, y)
        return m, treelite.sklearn.import_model(m)
    if kind == "catboost":
        from catboost import CatBoostClassifier

        m = CatBoostClassifier(
            iterations=trees, depth=6, verbose=False, random_seed=0, thread_count=1, allow_writing_files=False
        ).fit(x, y)
        return m, "from_onnx"
    raise SystemExit(f"unknown model `{kind}`; choose from {', '.join(MODELS)}")


def treelite_from_onnx(onx: onnx.ModelProto, n_feature: int):
    """A binary ``TreeEnsembleClassifier`` as a treelite model: each tree's
    class-1 votes, the ONNX comparison and missing-value direction per node,
    and the LOGISTIC post-transform as treelite's sigmoid."""
    from onnx import helper
    from treelite.model_builder import Metadata, ModelBuilder, PostProcessorFunc, TreeAnnotation

    (node,) = [n for n in onx.graph.node if n.op_type == "TreeEnsembleClassifier"]
    a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    post = a.get("post_transform", b"NONE").decode()
    if post not in ("LOGISTIC", "NONE") or len(a.get("classlabels_int64s", [])) != 2:
        raise SystemExit(f"treelite_from_onnx: a binary classifier with LOGISTIC or NONE, not {post}")
    ops = {b"BRANCH_GT": ">", b"BRANCH_GTE": ">=", b"BRANCH_LT": "<", b"BRANCH_LEQ": "<="}
    trees: dict[int, dict[int, tuple]] = {}
    for i, t in enumerate(a["nodes_treeids"]):
        mode = a["nodes_modes"][i]
        nid = a["nodes_nodeids"][i]
        if mode == b"LEAF":
            trees.setdefault(t, {})[nid] = ("leaf", 0.0)
        elif mode in ops:
            missing_true = bool(a.get("nodes_missing_value_tracks_true", [0] * (i + 1))[i])
            trees.setdefault(t, {})[nid] = ("test", a["nodes_featureids"][i], a["nodes_values"][i], ops[mode],
                                           a["nodes_truenodeids"][i], a["nodes_falsenodeids"][i], missing_true)
        else:
            raise SystemExit(f"treelite_from_onnx: node mode {mode!r}")
    for t, nid, k, w in zip(a["class_treeids"], a["class_nodeids"], a["class_ids"], a["class_weights"]):
        if k == 1:
            trees[t][nid] = ("leaf", trees[t][nid][1] + w)
    base = list(a.get("base_values", [0.0, 0.0]))
    b = ModelBuilder(
        threshold_type="float32",
        leaf_output_type="float32",
        metadata=Metadata(num_feature=n_feature, task_type="kBinaryClf", average_tree_output=False,
                          num_target=1, num_class=[1], leaf_vector_shape=(1, 1)),
        tree_annotation=TreeAnnotation(num_tree=len(trees), target_id=[0] * len(trees), class_id=[0] * len(trees)),
        postprocessor=PostProcessorFunc(name="sigmoid" if post == "LOGISTIC" else "identity"),
        base_scores=[base[-1]],
    )
    for t in sorted(trees):
        b.start_tree()
        for nid, n in sorted(trees[t].items()):
            b.start_node(nid)
            if n[0] == "leaf":
                b.leaf(n[1])
            else:
                _, f, thr, op, yes, no, missing_true = n
                b.numerical_test(f, thr, default_left=missing_true, opname=op, left_child_key=yes, right_child_key=no)
            b.end_node()
        b.end_tree()
    return b.commit()


def ort_positive(path: Path, rows: np.ndarray) -> np.ndarray:
    """ONNX Runtime's probability of class 1, row by row."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    out = []
    for r in rows:
        res = s.run(None, {name: r[None, :]})
        probs = res[-1]
        # A ZipMap output is a list of {label: probability}.
        out.append(probs[0][max(probs[0])] if isinstance(probs, list) else probs[0, -1])
    return np.array(out)


def build_c(tl_model, work: Path, kind: str) -> Path:
    import tl2cgen

    src = work / f"{kind}_c"
    tl2cgen.generate_c_code(tl_model, str(src), params={})
    exe = work / f"{kind}_harness"
    found = re.search(r"void predict\(union Entry\* data, int pred_margin, (\w+)\* result\)", (src / "header.h").read_text())
    if not found:
        raise SystemExit(f"{src / 'header.h'}: no predict() of the expected form")
    # The same instruction set as edgeintent's own build (.cargo/config.toml).
    cmd = ["gcc", "-O3", "-march=x86-64-v3", f"-DRESULT_T={found.group(1)}", "-I", str(src), str(src / "main.c"), str(ROOT / "training" / "tl2cgen_harness.c"), "-lm", "-o", str(exe)]
    subprocess.run(cmd, check=True)
    return exe


def run_c(exe: Path, rows_bin: Path, iters: int, warmup: int, preds: Path) -> dict:
    out = subprocess.run([str(exe), str(rows_bin), str(N_FEATURES), str(iters), str(warmup), str(preds)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def run_edgeintent(binary: Path, model: Path, rows_csv: Path, iters: int, ort_lib: Path | None) -> dict:
    cmd = [str(binary), "bench", "--model", str(model), "--input", str(rows_csv), "--iters", str(iters), "--json"]
    if ort_lib:
        cmd += ["--ort-lib", str(ort_lib)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def c_positive(preds: Path) -> np.ndarray:
    vals = [list(map(float, line.split())) for line in preds.read_text().splitlines()]
    return np.array([v[-1] for v in vals])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--edgeintent", type=Path, default=ROOT / "target" / "release" / "edgeintent")
    ap.add_argument("--ort-lib", type=Path, help="libonnxruntime.so (edgeintent built with --features ort-compare)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20000)
    ap.add_argument("--scale", type=float, default=1.0, help="tree counts times this (tests use a small one)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", type=Path, help="keep the models, rows and C sources here")
    ap.add_argument("--out", type=Path, help="append one JSON line per model")
    args = ap.parse_args()
    if not args.edgeintent.exists():
        raise SystemExit(f"{args.edgeintent} does not exist: build it with `cargo build --release -p edgeintent-offline --features ort-compare --bin edgeintent`")

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_trees_"))
    work.mkdir(parents=True, exist_ok=True)
    x, y = data(args.seed, 8000)
    rows, _ = data(args.seed + 1, 256)
    rows_csv, rows_bin = work / "rows.csv", work / "rows.bin"
    rows_csv.write_text("".join(",".join(repr(float(v)) for v in r) + "\n" for r in rows))
    rows.astype("<f4").tofile(rows_bin)

    records = []
    for kind in [k.strip() for k in args.models.split(",") if k.strip()]:
        t0 = time.time()
        est, tl_model = train(kind, x, y, args.scale)
        onnx_path = work / f"{kind}.onnx"
        # onnxmltools' XGBoost converter and CatBoost always write a ZipMap.
        onx = convert(est, N_FEATURES, "input", zipmap=kind in ("xgboost", "catboost"))
        onnx.save(onx, str(onnx_path))
        if tl_model == "from_onnx":
            tl_model = treelite_from_onnx(onx, N_FEATURES)
        want = ort_positive(onnx_path, rows)
        exe = build_c(tl_model, work, kind) if tl_model is not None else None
        print(f"{kind}: trained, exported and compiled in {time.time() - t0:.1f} s", file=sys.stderr)

        c_p50, ours, c_diff = [], [], None
        for r in range(args.rounds):
            if exe is not None:
                res = run_c(exe, rows_bin, args.iters, args.iters // 10, work / f"{kind}_pred.txt")
                c_p50.append(res["p50_ns"])
                if r == 0:
                    c_diff = float(np.max(np.abs(c_positive(work / f"{kind}_pred.txt") - want)))
                    if c_diff > 1e-4:
                        raise SystemExit(f"{kind}: tl2cgen's predictions differ from ONNX Runtime's by {c_diff}")
            ours.append(run_edgeintent(args.edgeintent, onnx_path, rows_csv, args.iters, args.ort_lib))
        native = [o["native"]["p50_ns"] for o in ours if o.get("native")]
        rec = {
            "model": kind,
            "trees": est.n_estimators if hasattr(est, "n_estimators") else est.tree_count_,
            "features": N_FEATURES,
            "rows": {"source": "bench_trees.data", "seed": args.seed + 1, "count": len(rows)},
            "rounds": args.rounds,
            "iters": args.iters,
            "native_p50_ns": statistics.median(native) if native else None,
            "native_unavailable": ours[0].get("native_unavailable"),
            "native_allocs_per_run": ours[0]["native"]["allocs_per_run"] if native else None,
            "tract_p50_ns": statistics.median(o["p50_ns"] for o in ours),
            "ort_p50_ns": statistics.median(o["ort_p50_ns"] for o in ours) if args.ort_lib else None,
            "tl2cgen_p50_ns": statistics.median(c_p50) if c_p50 else None,
            "tl2cgen_max_abs_diff_ort": c_diff,
            "native_max_abs_diff_tract": ours[0]["native"]["max_abs_diff_tract"] if native else None,
            "max_abs_diff_ort": ours[0].get("max_abs_diff"),
        }
        for other in ("ort", "tl2cgen"):
            a, b = rec["native_p50_ns"], rec[f"{other}_p50_ns"]
            rec[f"native_over_{other}"] = a / b if a and b else None
        records.append(rec)
        print(json.dumps(rec))
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(rec) + "\n")

    print("\n| model | trees | edgeintent native | tract | ONNX Runtime | tl2cgen C | native / ORT | native / C |", file=sys.stderr)
    print("|---|---|---|---|---|---|---|---|", file=sys.stderr)
    us = lambda v: f"{v / 1000:.2f} µs" if v else "n/a"  # noqa: E731
    ratio = lambda v: f"{v:.2f}" if v else "n/a"  # noqa: E731
    for r in records:
        print(f"| {r['model']} | {r['trees']} | {us(r['native_p50_ns'])} | {us(r['tract_p50_ns'])} | {us(r['ort_p50_ns'])} | "
              f"{us(r['tl2cgen_p50_ns'])} | {ratio(r['native_over_ort'])} | {ratio(r['native_over_tl2cgen'])} |", file=sys.stderr)


if __name__ == "__main__":
    main()
