"""Writes the `onnx` package's own backend node tests, for the operators
edgeintent's model families use and for every `ai.onnx.ml` operator, in the
backend-test layout (`model.onnx`, `test_data_set_N/input_K.pb`,
`output_K.pb`), then runs `edgeintent conformance` on them with our importer
and with plain tract's, and writes the pass rates per operator.

Usage: python training/conformance.py --out DIR [--binary target/debug/edgeintent]
       [--report evaluation/conformance.json]

The tests come from `onnx.backend.test.case.node.collect_testcases()` (the
pip package generates them in Python; the node test data is not shipped).
A test is taken when every node of its graph is one of the chosen operators
(or Constant); tests with sequence or map inputs or outputs are left out
(the runner compares tensors).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The standard operators the committed model families use (issue 18).
STANDARD = {
    "Gemm", "MatMul", "Add", "Mul", "Sub", "Div", "Relu", "Sigmoid", "Tanh", "Softmax", "Exp", "Log",
    "ArgMax", "TopK", "ReduceSum", "ReduceLogSumExp", "ReduceProd", "Concat", "Gather", "Reshape",
    "Flatten", "Cast", "Where", "Equal", "Less", "Greater", "GRU", "LSTM",
}


def chosen_op(case) -> str | None:
    """The operator a test is about, when it is one of ours: every node is a
    chosen operator (or a Constant), and the first such names the test."""
    nodes = list(case.model.graph.node)
    ops = [n.op_type for n in nodes if n.op_type != "Constant"]
    ml = [n for n in nodes if n.domain == "ai.onnx.ml"]
    if ml:
        return "ai.onnx.ml." + ml[0].op_type
    if ops and all(o in STANDARD for o in ops):
        return ops[0]
    return None


def write_case(case, out: Path) -> bool:
    """Writes one test; False when an input or output is not a tensor."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    graph = case.model.graph
    init = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in init]
    for vi in list(inputs) + list(graph.output):
        if not vi.type.HasField("tensor_type"):
            return False
    def tensor(arr, name: str) -> bytes:
        if isinstance(arr, onnx.TensorProto):
            t = onnx.TensorProto()
            t.CopyFrom(arr)
            t.name = name
            return t.SerializeToString()
        return numpy_helper.from_array(np.asarray(arr), name).SerializeToString()

    files = {}
    try:
        for k, (ins, outs) in enumerate(case.data_sets):
            for j, (vi, arr) in enumerate(zip(inputs, ins)):
                files[f"test_data_set_{k}/input_{j}.pb"] = tensor(arr, vi.name)
            for j, (vi, arr) in enumerate(zip(graph.output, outs)):
                files[f"test_data_set_{k}/output_{j}.pb"] = tensor(arr, vi.name)
    except (NotImplementedError, TypeError, ValueError):
        return False  # a sequence, map or optional value: not a tensor
    d = out / case.name
    d.mkdir(parents=True, exist_ok=True)
    onnx.save(case.model, str(d / "model.onnx"))
    for rel, data in files.items():
        (d / rel).parent.mkdir(exist_ok=True)
        (d / rel).write_bytes(data)
    return True


def generate(out: Path) -> dict[str, str]:
    """Writes the chosen tests under `out`; returns test name → operator."""
    import warnings

    from onnx.backend.test.case import node

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = node.collect_testcases(None)
    picked = {}
    for case in cases:
        op = chosen_op(case)
        if op is not None and case.data_sets and write_case(case, out):
            picked[case.name] = op
    return picked


def run(binary: Path, out: Path, plain: bool) -> dict:
    args = [str(binary), "conformance", "--json", str(out)]
    if plain:
        args.insert(2, "--plain-tract")
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode not in (0, 1) or not r.stdout.startswith("{"):
        raise SystemExit(f"edgeintent conformance failed: {r.stderr}")
    return json.loads(r.stdout)


def per_op(report: dict, ops: dict[str, str]) -> dict[str, list[int]]:
    """Operator → [passed, tests]."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for c in report["cases"]:
        op = ops.get(c["name"], "?")
        counts[op][1] += 1
        counts[op][0] += c["outcome"] == "pass"
    return dict(counts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="where the test folders go")
    ap.add_argument("--binary", type=Path, default=ROOT / "target" / "debug" / "edgeintent")
    ap.add_argument("--report", type=Path, help="write the pass rates here (JSON)")
    a = ap.parse_args()
    ops = generate(a.out)
    ours, plain = run(a.binary, a.out, False), run(a.binary, a.out, True)
    table = {}
    o, p = per_op(ours, ops), per_op(plain, ops)
    for op in sorted(o):
        table[op] = {"tests": o[op][1], "edgeintent": o[op][0], "plain_tract": p.get(op, [0, 0])[0]}
    summary = {
        "command": "python training/conformance.py " + " ".join(sys.argv[1:]),
        "tests": len(ops),
        "edgeintent": {"passed": ours["passed"], "failed": ours["failed"], "unsupported": ours["unsupported"]},
        "plain_tract": {"passed": plain["passed"], "failed": plain["failed"], "unsupported": plain["unsupported"]},
        "by_operator": table,
        "failing": {c["name"]: c["detail"] for c in ours["cases"] if c["outcome"] != "pass"},
    }
    text = json.dumps(summary, indent=2) + "\n"
    if a.report:
        a.report.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
