"""Writes the hostile models of issue 15 into ``fixtures/hostile/``: each is a
reproducer that a test keeps (the runtime must refuse it with a clear error,
without crashing, hanging or allocating what it declares).

    python training/hostile_models.py

* ``one_label_tree.onnx``: a binary tree classifier whose
  ``classlabels_int64s`` is ``[0]`` (it panicked at run time);
* ``gemm_bomb.onnx``: a Gemm weight declared ``[2^40, 2^24]`` with no data
  (the host aborted allocating 4 TB);
* ``regressor_bomb.onnx``: a tree regressor with ``n_targets = 2^40``;
* ``input_bomb.onnx``: a model whose input is declared ``[1, 10^12]``;
* ``bad_transpose.onnx``: a ``Transpose`` with ``perm = [1, 0, 0]`` (tract grew
  memory until the OOM killer).

Each is a few hundred bytes, built from scratch with ``onnx.helper``.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fixtures" / "hostile"
ML = helper.make_opsetid("ai.onnx.ml", 3)
ONNX = helper.make_opsetid("", 17)


def model(nodes, inputs, outputs, initializers=(), opsets=(ONNX,)) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "hostile", inputs, outputs, list(initializers))
    m = helper.make_model(g, opset_imports=list(opsets), producer_name="edgeintent hostile_models.py")
    m.ir_version = 8
    return m


def tree(op: str, **attrs) -> onnx.NodeProto:
    """A one-split tree on feature 0."""
    common = dict(
        nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2], nodes_featureids=[0, 0, 0],
        nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"], nodes_values=[0.5, 0.0, 0.0],
        nodes_truenodeids=[1, 0, 0], nodes_falsenodeids=[2, 0, 0],
    )
    outputs = ["label", "probabilities"] if op == "TreeEnsembleClassifier" else ["variable"]
    return helper.make_node(op, ["x"], outputs, domain="ai.onnx.ml", **common, **attrs)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    models = {
        "one_label_tree.onnx": model(
            [tree("TreeEnsembleClassifier", class_treeids=[0, 0], class_nodeids=[1, 2], class_ids=[0, 0],
                  class_weights=[0.2, 0.8], classlabels_int64s=[0], post_transform="NONE")],
            [x], [helper.make_tensor_value_info("label", TensorProto.INT64, [1]),
                  helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 2])], opsets=(ONNX, ML)),
        "regressor_bomb.onnx": model(
            [tree("TreeEnsembleRegressor", target_treeids=[0, 0], target_nodeids=[1, 2], target_ids=[0, 0],
                  target_weights=[0.2, 0.8], n_targets=1 << 40)],
            [x], [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [1, 1])], opsets=(ONNX, ML)),
    }
    w = TensorProto()
    w.name, w.data_type = "w", TensorProto.FLOAT
    w.dims.extend([1 << 40, 1 << 24])  # and no data at all
    models["gemm_bomb.onnx"] = model(
        [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)],
        [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    models["input_bomb.onnx"] = model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10**12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10**12])])
    models["bad_transpose.onnx"] = model(
        [helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0, 0])],
        [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    for name, m in models.items():
        onnx.save(m, str(OUT / name))
        print(f"hostile_models: {name} ({(OUT / name).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
