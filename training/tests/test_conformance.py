"""training/conformance.py: the onnx package's backend node tests for our
operator set, run with our importer and plain tract's."""

from __future__ import annotations

from conftest import TRAINING  # noqa: F401  (puts training/ on the path)


def test_the_backend_tests_run_and_every_ai_onnx_ml_one_passes(edgeintent_bin, tmp_path):
    import conformance

    ops = conformance.generate(tmp_path)
    assert {o for o in ops.values() if o.startswith("ai.onnx.ml.")} >= {
        "ai.onnx.ml.ArrayFeatureExtractor", "ai.onnx.ml.Binarizer", "ai.onnx.ml.LabelEncoder", "ai.onnx.ml.TreeEnsemble"}
    assert {"Gemm", "GRU", "LSTM", "Softmax", "TopK"} <= set(ops.values())
    ours = conformance.run(edgeintent_bin, tmp_path, plain=False)
    plain = conformance.run(edgeintent_bin, tmp_path, plain=True)
    assert len(ours["cases"]) == len(ops)
    ml = [c for c in ours["cases"] if ops[c["name"]].startswith("ai.onnx.ml.")]
    assert ml and all(c["outcome"] == "pass" for c in ml), [c for c in ml if c["outcome"] != "pass"]
    assert ours["passed"] > plain["passed"]
    for c in ours["cases"]:
        assert c["outcome"] in ("pass", "fail", "unsupported")
        assert c["outcome"] == "pass" or c["detail"]
