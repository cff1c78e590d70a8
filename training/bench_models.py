"""Benchmark models that no exporter here produces without PyTorch, built
directly as ONNX graphs with seeded random weights (benchmark fixtures, not
intent models: they are never shipped in models/):

* ``mlp_48_64_32_1.onnx``: Gemm/Relu/Gemm/Relu/Gemm/Sigmoid, input [1, 48];
* ``gru_window.onnx``: input ``sequence`` [1, 32] (event-type ids), embedding,
  GRU (hidden 32, PyTorch's ``linear_before_reset``), head, sigmoid: the whole
  window per call;
* ``gru_step.onnx``: the same weights as one step: inputs ``event`` [1, 1] and
  ``h_in`` [1, 1, 32]; outputs ``score`` [1, 1] and ``h_out`` [1, 1, 32].

``gru.json`` holds ONNX Runtime's window score for some sequences and the
score after stepping through them, which must agree.

    python training/bench_models.py [--out fixtures/bench]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
HIDDEN, EMBED, TYPES, WINDOW = 32, 8, 14, 32


def _save(nodes, inputs, outputs, inits, path: Path, name: str) -> None:
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgeintent-bench")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def mlp(rng: np.random.Generator, out: Path) -> None:
    sizes = [48, 64, 32, 1]
    nodes, inits, prev = [], [], "x"
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        inits += [numpy_helper.from_array((rng.normal(size=(a, b)) / np.sqrt(a)).astype(np.float32), f"w{i}"),
                  numpy_helper.from_array((rng.normal(size=(b,)) * 0.1).astype(np.float32), f"b{i}")]
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"g{i}"]))
        prev = f"g{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [prev], [f"r{i}"]))
            prev = f"r{i}"
    nodes.append(helper.make_node("Sigmoid", [prev], ["probability"]))
    _save(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 48])],
          [helper.make_tensor_value_info("probability", TensorProto.FLOAT, [1, 1])], inits, out / "mlp_48_64_32_1.onnx", "mlp")


def gru(rng: np.random.Generator, out: Path) -> None:
    s = 1 / np.sqrt(HIDDEN)
    weights = {
        "embed": rng.normal(size=(TYPES, EMBED)).astype(np.float32),
        "W": rng.uniform(-s, s, size=(1, 3 * HIDDEN, EMBED)).astype(np.float32),
        "R": rng.uniform(-s, s, size=(1, 3 * HIDDEN, HIDDEN)).astype(np.float32),
        "B": rng.uniform(-s, s, size=(1, 6 * HIDDEN)).astype(np.float32),
        "head_w": rng.normal(size=(HIDDEN, 1)).astype(np.float32) * 0.3,
        "head_b": np.zeros((1,), dtype=np.float32),
        "flat": np.array([1, HIDDEN], dtype=np.int64),
    }
    inits = lambda: [numpy_helper.from_array(v, k) for k, v in weights.items()]  # noqa: E731
    gru_attrs = dict(hidden_size=HIDDEN, linear_before_reset=1)
    head = [
        helper.make_node("Reshape", ["Y_h", "flat"], ["h_flat"]),
        helper.make_node("MatMul", ["h_flat", "head_w"], ["logit0"]),
        helper.make_node("Add", ["logit0", "head_b"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["score"]),
    ]
    score = helper.make_tensor_value_info("score", TensorProto.FLOAT, [1, 1])

    window_nodes = [
        helper.make_node("Cast", ["sequence"], ["ids"], to=TensorProto.INT64),
        helper.make_node("Gather", ["embed", "ids"], ["emb"]),  # [1, N, E]
        helper.make_node("Transpose", ["emb"], ["x"], perm=[1, 0, 2]),  # [N, 1, E]
        helper.make_node("GRU", ["x", "W", "R", "B", "", "h0"], ["Y", "Y_h"], **gru_attrs),
    ] + head
    h0 = numpy_helper.from_array(np.zeros((1, 1, HIDDEN), dtype=np.float32), "h0")
    _save(window_nodes, [helper.make_tensor_value_info("sequence", TensorProto.FLOAT, [1, WINDOW])], [score],
          inits() + [h0], out / "gru_window.onnx", "gru_window")

    step_nodes = [
        helper.make_node("Cast", ["event"], ["ids"], to=TensorProto.INT64),
        helper.make_node("Gather", ["embed", "ids"], ["x"]),  # [1, 1, E] = [seq, batch, E]
        helper.make_node("GRU", ["x", "W", "R", "B", "", "h_in"], ["Y", "Y_h"], **gru_attrs),
        helper.make_node("Identity", ["Y_h"], ["h_out"]),
    ] + head
    _save(step_nodes,
          [helper.make_tensor_value_info("event", TensorProto.FLOAT, [1, 1]), helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, 1, HIDDEN])],
          [score, helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, 1, HIDDEN])],
          inits(), out / "gru_step.onnx", "gru_step")

    # Reference: ONNX Runtime, window vs stepping, on seeded sequences.
    win = ort.InferenceSession(str(out / "gru_window.onnx"), providers=["CPUExecutionProvider"])
    stp = ort.InferenceSession(str(out / "gru_step.onnx"), providers=["CPUExecutionProvider"])
    seqs = rng.integers(1, TYPES, size=(8, WINDOW)).astype(np.float32)
    window_scores, step_scores = [], []
    for seq in seqs:
        window_scores.append(float(win.run(None, {"sequence": seq[None, :]})[0][0, 0]))
        h = np.zeros((1, 1, HIDDEN), dtype=np.float32)
        for v in seq:
            sc, h = stp.run(None, {"event": np.array([[v]], dtype=np.float32), "h_in": h})
        step_scores.append(float(sc[0, 0]))
    assert np.allclose(window_scores, step_scores, atol=1e-5), (window_scores, step_scores)
    (out / "gru.json").write_text(json.dumps({"engine": f"onnxruntime {ort.__version__}", "hidden": HIDDEN, "sequences": seqs.tolist(), "window_scores": window_scores, "step_scores": step_scores}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description="Build the benchmark-only ONNX models.")
    ap.add_argument("--out", type=Path, default=ROOT / "fixtures" / "bench")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    mlp(rng, a.out)
    gru(rng, a.out)
    print(f"bench_models: wrote {sorted(p.name for p in a.out.iterdir())}")


if __name__ == "__main__":
    main()
