"""One-step recurrent cells as exporters write them, with ONNX Runtime's
outputs: the oracle for edgeintent's native GRU and LSTM steps.

Each model takes one event vector ``x`` [1, 1, E] and the carried state
(``h_in`` [1, 1, H], and ``c_in`` for an LSTM), runs one ONNX ``GRU`` or
``LSTM`` step, and returns a score from a dense head plus the new state
(``h_out``, ``c_out``): the shape of a PyTorch step export with the state as
an explicit input/output pair. Weights are seeded random numbers, so the
cells need no training and no PyTorch.

* ``gru_reset_after``: ``linear_before_reset = 1`` (PyTorch's form);
* ``gru_reset_before``: ``linear_before_reset = 0`` (the ONNX default);
* ``lstm``: the default activations, no peepholes;
* ``lstm_peepholes``: with the optional ``P`` input;
* ``lstm_step``: an event-type id (``event`` [1, 1], as the runtime feeds
  it) through an embedding lookup into an LSTM and a head: a stepped intent
  model for ``RecurrentModel`` with two carried states.

Fixture JSON: the model's input names and widths, ``rows`` (each a list of
per-input flat values; the state rows are random, as if mid-sequence) and
``outputs`` (ONNX Runtime's, per output name, one flat list per row). The
stepped model's also has ``sequences`` of event ids and ``sequence_scores``,
ONNX Runtime's score after each event, the state carried from zeros.

    python training/recurrent_cells.py --out fixtures/recurrent
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

E, H, N_TYPES, ROWS = 8, 16, 14, 32


def tensor(rng: np.random.Generator, name: str, shape: tuple[int, ...], scale: float = 0.4) -> onnx.TensorProto:
    return numpy_helper.from_array((rng.normal(size=shape) * scale).astype(np.float32), name)


def head(rng: np.random.Generator, state: str) -> tuple[list, list]:
    """Nodes and initializers of score = sigmoid(flatten(state) · w + b)."""
    inits = [
        numpy_helper.from_array(np.array([1, H], dtype=np.int64), "flat"),
        tensor(rng, "head_w", (H, 1)),
        tensor(rng, "head_b", (1,)),
    ]
    nodes = [
        helper.make_node("Reshape", [state, "flat"], ["h_flat"]),
        helper.make_node("MatMul", ["h_flat", "head_w"], ["logit0"]),
        helper.make_node("Add", ["logit0", "head_b"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["score"]),
    ]
    return nodes, inits


def value(name: str, shape: list[int]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def cell(kind: str, seed: int) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    lstm = kind.startswith("lstm")
    gates = 4 if lstm else 3
    stepped = kind == "lstm_step"
    inits = [
        tensor(rng, "W", (1, gates * H, E)),
        tensor(rng, "R", (1, gates * H, H)),
        tensor(rng, "B", (1, 2 * gates * H), 0.2),
    ]
    nodes = []
    if stepped:
        inputs = [value("event", [1, 1])]
        inits.append(tensor(rng, "embed", (N_TYPES, E), 1.0))
        nodes += [
            helper.make_node("Cast", ["event"], ["ids"], to=TensorProto.INT64),
            helper.make_node("Gather", ["embed", "ids"], ["x"]),
        ]
    else:
        inputs = [value("x", [1, 1, E])]
    inputs.append(value("h_in", [1, 1, H]))
    outputs = [value("score", [1, 1]), value("h_out", [1, 1, H])]
    if lstm:
        inputs.append(value("c_in", [1, 1, H]))
        outputs.append(value("c_out", [1, 1, H]))
        cell_inputs = ["x", "W", "R", "B", "", "h_in", "c_in"]
        if kind == "lstm_peepholes":
            inits.append(tensor(rng, "P", (1, 3 * H)))
            cell_inputs.append("P")
        nodes.append(helper.make_node("LSTM", cell_inputs, ["Y", "Y_h", "Y_c"], hidden_size=H))
        nodes.append(helper.make_node("Identity", ["Y_c"], ["c_out"]))
    else:
        lbr = 1 if kind == "gru_reset_after" else 0
        nodes.append(helper.make_node("GRU", ["x", "W", "R", "B", "", "h_in"], ["Y", "Y_h"], hidden_size=H, linear_before_reset=lbr))
    nodes.append(helper.make_node("Identity", ["Y_h"], ["h_out"]))
    head_nodes, head_inits = head(rng, "Y_h")
    graph = helper.make_graph(nodes + head_nodes, kind, inputs, outputs, inits + head_inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgeintent-recurrent-cells")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


KINDS = ("gru_reset_after", "gru_reset_before", "lstm", "lstm_peepholes", "lstm_step")


def fixture(model: onnx.ModelProto, seed: int) -> dict:
    rng = np.random.default_rng(seed + 1000)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [i.name for i in model.graph.input]
    widths = [int(np.prod([d.dim_value for d in i.type.tensor_type.shape.dim])) for i in model.graph.input]
    outs = [o.name for o in model.graph.output]
    rows, results = [], {o: [] for o in outs}
    for r in range(ROWS):
        feeds = {}
        for name, inp in zip(names, model.graph.input):
            shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
            if name == "event":
                # Every id, the padding 0 included, and a negative one (from the end).
                feeds[name] = np.full(shape, float(r % N_TYPES if r != ROWS - 1 else -1), dtype=np.float32)
            else:
                feeds[name] = rng.normal(size=shape).astype(np.float32)
        rows.append([[float(v) for v in feeds[n].ravel()] for n in names])
        for o, v in zip(outs, sess.run(outs, feeds)):
            results[o].append([float(x) for x in np.asarray(v).ravel()])
    fx = {"engine": f"onnxruntime {ort.__version__}", "inputs": names, "widths": widths, "rows": rows, "outputs": results}
    if "event" in names:
        fx["sequences"] = [[int(v) for v in rng.integers(0, N_TYPES, size=24)] for _ in range(6)]
        fx["sequence_scores"] = [stepped(sess, seq) for seq in fx["sequences"]]
    return fx


def stepped(sess: ort.InferenceSession, seq: list[int]) -> list[float]:
    """Scores of a stepped model fed `seq`, carrying h and c from zeros."""
    h = np.zeros((1, 1, H), dtype=np.float32)
    c = np.zeros((1, 1, H), dtype=np.float32)
    scores = []
    for ev in seq:
        score, h, c = sess.run(["score", "h_out", "c_out"], {"event": np.array([[ev]], dtype=np.float32), "h_in": h, "c_in": c})
        scores.append(float(score.ravel()[0]))
    return scores


def build(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for seed, kind in enumerate(KINDS):
        model = cell(kind, seed)
        (out / f"{kind}.onnx").write_bytes(model.SerializeToString())
        (out / f"{kind}.json").write_text(json.dumps(fixture(model, seed)) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "fixtures" / "recurrent")
    build(ap.parse_args().out)


if __name__ == "__main__":
    main()
