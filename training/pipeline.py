"""One command that regenerates the shipped data, model and fixtures.

    python training/pipeline.py            # from the repository root

Steps: build the ``edgeintent`` binary; generate the example trace (fixture)
and the training/validation traces (seeded, under ``training/data/``, not
committed); featurize them with ``edgeintent featurize`` (the serving feature
code); fit normalisation and a logistic regression; export the model package to
``models/intent_lr.onnx``; write ONNX Runtime parity vectors and test models to
``fixtures/``; replay the example trace with the new model and write the model
card ``models/MODEL_CARD.md`` from measured output.

Seeds: example trace 42; training 1000..; validation 2000..; seeds from 9000 on
are reserved for held-out evaluation and never used here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from export import to_onnx  # noqa: E402
from generate import Params, generate, write_jsonl  # noqa: E402
from parity import write_fixture  # noqa: E402
from train import concat, fit_logistic, fit_normalization, load_rows, metrics  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SEED = 42
TRAIN_SEED0 = 1000
VALID_SEED0 = 2000
MODEL_VERSION = "intent-lr-1"


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def build_binary() -> Path:
    run(["cargo", "build", "--release", "--quiet", "--bin", "edgeintent"], cwd=ROOT)
    return ROOT / "target" / "release" / "edgeintent"


def make_trace(seed: int, days: int, out_dir: Path, stem: str) -> tuple[Path, Path]:
    events, truth = generate(seed, Params(days=days))
    trace, truth_path = out_dir / f"{stem}.jsonl", out_dir / f"{stem}.truth.jsonl"
    write_jsonl(trace, events)
    write_jsonl(truth_path, truth)
    return trace, truth_path


def featurize(binary: Path, config: Path, trace: Path) -> tuple[Path, dict]:
    out = trace.with_suffix(".csv")
    run([str(binary), "featurize", "--config", str(config), "--out", str(out), str(trace)], stderr=subprocess.DEVNULL)
    identity = json.loads(Path(f"{out}.spec.json").read_text())
    return out, identity


def dataset(binary: Path, config: Path, seeds: range, days: int, data_dir: Path, tag: str):
    parts, identity = [], None
    for s in seeds:
        trace, truth = make_trace(s, days, data_dir, f"{tag}-{s}")
        csv_path, identity = featurize(binary, config, trace)
        parts.append(load_rows(csv_path, truth))
    return concat(parts), identity


def derived_test_models(model_path: Path, fixtures: Path) -> None:
    """Small broken packages for the loader's error tests."""
    out = fixtures / "models"
    out.mkdir(parents=True, exist_ok=True)
    m = onnx.load(str(model_path))
    for p in m.metadata_props:
        if p.key == "edgeintent.feature_spec_hash":
            p.value = "fnv1a64:0000000000000000"
    onnx.save(m, str(out / "mismatched_spec.onnx"))
    m = onnx.load(str(model_path))
    del m.metadata_props[:]
    onnx.save(m, str(out / "no_metadata.onnx"))


def derived_layout_models(clf, width: int, seq_len: int, model_path: Path, fixtures: Path) -> None:
    """The trained regression as other exporters lay it out: a single logit, a
    sigmoid probability, and a two-input model (features + sequence). All must
    score exactly like the shipped model."""
    from onnx import TensorProto, helper, numpy_helper

    props = {p.key: p.value for p in onnx.load(str(model_path)).metadata_props}
    w = numpy_helper.from_array(clf.coef_.reshape(width, 1).astype(np.float32), "w")
    b = numpy_helper.from_array(clf.intercept_.reshape(1, 1).astype(np.float32), "b")
    feats = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", width])

    def save(name: str, nodes, inputs, output: str, inits) -> None:
        out = helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", 1])
        graph = helper.make_graph(nodes, name, inputs, [out], initializer=inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgeintent-fixtures")
        m.ir_version = 8
        helper.set_model_props(m, props)
        onnx.checker.check_model(m)
        onnx.save(m, str(fixtures / "models" / f"{name}.onnx"))

    linear = [helper.make_node("MatMul", ["features", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["logit"])]
    save("layout_logit", linear, [feats], "logit", [w, b])
    save("layout_sigmoid", linear + [helper.make_node("Sigmoid", ["logit"], ["probability"])], [feats], "probability", [w, b])
    seq = helper.make_tensor_value_info("sequence", TensorProto.FLOAT, ["N", seq_len])
    zero = numpy_helper.from_array(np.zeros((seq_len, 1), dtype=np.float32), "z")
    nodes = linear + [
        helper.make_node("MatMul", ["sequence", "z"], ["sz"]),
        helper.make_node("Add", ["logit", "sz"], ["logit2"]),
        helper.make_node("Sigmoid", ["logit2"], ["probability"]),
    ]
    save("layout_with_sequence", nodes, [seq, feats], "probability", [w, b, zero])


def model_card(path: Path, val: dict, train_rows: int, size: int, summary: dict, identity: dict) -> None:
    rt = summary["runtime"]
    us = lambda ns: f"{ns / 1000:.1f} µs" if ns is not None else "-"  # noqa: E731
    reasons = ", ".join(f"{k} {v}" for k, v in rt["decisions_by_reason"].items())
    path.write_text(
        f"""# Model card: `intent_lr.onnx` ({MODEL_VERSION})

Generated by `python training/pipeline.py`; every number below is measured by it.

- **Task**: probability that fresh homepage content would be useful now, at a decision
  point (app foreground, homepage view, 30 s tick while the homepage is shown).
- **Model**: logistic regression (scikit-learn, L2, C=1) on {len(identity['feature_names'])} features,
  standardised with mean/scale stored in the model's metadata; exported with skl2onnx
  (`LinearClassifier`, opset 17 / ai.onnx.ml 3, no ZipMap).
- **Features**: spec `{identity['feature_spec_version']}` (`{identity['feature_spec_hash']}`), computed by
  `edgeintent featurize`, the serving code.
- **Data**: synthetic traces from `training/generate.py` (see its docstring for the generative story);
  training seeds {TRAIN_SEED0}.., {train_rows} decision points; validation seeds {VALID_SEED0}.., {val['rows']} decision points.
- **Labels**: a decision point is positive inside a ground-truth `want_fresh` interval
  (after an interest shift or a long absence, until the feed matched again; at most 180 s).

| validation metric | value |
|---|---|
| AUC | {val['auc']} |
| log-loss | {val['log_loss']} |
| Brier score | {val['brier']} |
| expected calibration error (10 bins) | {val['ece']} |
| positive rate | {val['positive_rate']} |
| model file size | {size} bytes |
| decision path latency, example trace replay (p50 / p99, release build) | {us(rt['decision_latency_p50_ns'])} / {us(rt['decision_latency_p99_ns'])} |

Replay of `fixtures/example_trace.jsonl` with this model: {rt['decisions']} decisions ({reasons})
from {rt['decision_points']} decision points, {rt['model_calls']} model calls.

Limits: trained on synthetic behaviour only; the latency above is measured on a shared
2-core machine and includes feature computation and the policy.
"""
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="Regenerate data, model and fixtures.")
    ap.add_argument("--train-users", type=int, default=60)
    ap.add_argument("--valid-users", type=int, default=20)
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--binary", type=Path, help="edgeintent binary (default: cargo build --release)")
    a = ap.parse_args()

    binary = a.binary or build_binary()
    config = ROOT / "models" / "config.json"
    fixtures = ROOT / "fixtures"
    data = ROOT / "training" / "data"
    data.mkdir(parents=True, exist_ok=True)

    trace, truth = make_trace(EXAMPLE_SEED, 10, fixtures, "example_trace")
    truth.rename(fixtures / "example_truth.jsonl")
    print(f"pipeline: example trace {trace}")

    train, identity = dataset(binary, config, range(TRAIN_SEED0, TRAIN_SEED0 + a.train_users), a.days, data, "train")
    valid, _ = dataset(binary, config, range(VALID_SEED0, VALID_SEED0 + a.valid_users), a.days, data, "valid")
    print(f"pipeline: {len(train.y)} training rows ({train.y.mean():.3f} positive), {len(valid.y)} validation rows")

    mean, scale = fit_normalization(train.x)
    clf = fit_logistic((train.x - mean) / scale, train.y)
    p_val = clf.predict_proba((valid.x - mean) / scale)[:, 1]
    val = metrics(p_val, valid.y)
    print(f"pipeline: validation {val}")

    model_path = ROOT / "models" / "intent_lr.onnx"
    onx = to_onnx(clf, identity, mean, scale, MODEL_VERSION, val)
    onnx.save(onx, str(model_path))

    rng = np.random.default_rng(7)
    rows = valid.x[rng.choice(len(valid.x), size=64, replace=False)]
    write_fixture(model_path, rows, fixtures / "parity" / "intent_lr.json", ROOT)
    derived_test_models(model_path, fixtures)
    spec = json.loads(config.with_name("feature_spec.json").read_text())
    derived_layout_models(clf, len(identity["feature_names"]), spec["sequence_length"], model_path, fixtures)

    summary_path = data / "example_summary.json"
    run([str(binary), "replay", "--config", str(config), "--summary", str(summary_path), str(trace)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summary = json.loads(summary_path.read_text())
    model_card(ROOT / "models" / "MODEL_CARD.md", val, len(train.y), model_path.stat().st_size, summary, identity)
    print(f"pipeline: wrote {model_path} and models/MODEL_CARD.md")


if __name__ == "__main__":
    main()
