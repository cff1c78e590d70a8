"""Export attaches the package metadata, and ONNX Runtime agrees with scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
from sklearn.linear_model import LogisticRegression

from export import to_onnx
from train import expected_calibration_error, fit_normalization, metrics


def test_exported_model_carries_metadata_and_matches_sklearn():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    mean, scale = fit_normalization(x)
    clf = LogisticRegression().fit((x - mean) / scale, y)
    identity = {"feature_spec_hash": "fnv1a64:0123456789abcdef", "feature_spec_version": "t", "feature_names": list("abcde")}
    onx = to_onnx(clf, identity, mean, scale, "m-1", {"auc": 1.0})
    props = {p.key: p.value for p in onx.metadata_props}
    assert props["edgeintent.feature_spec_hash"] == "fnv1a64:0123456789abcdef"
    assert json.loads(props["edgeintent.feature_names"]) == list("abcde")
    norm = json.loads(props["edgeintent.normalization"])
    assert np.allclose(norm["mean"], mean) and np.allclose(norm["scale"], scale)
    assert [o.name for o in onx.graph.output] == ["label", "probabilities"]
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    xn = ((x - mean) / scale).astype(np.float32)
    probs = sess.run(["probabilities"], {"features": xn})[0]
    assert np.allclose(probs[:, 1], clf.predict_proba(xn)[:, 1], atol=1e-5)


def test_constant_features_get_unit_scale():
    x = np.array([[1.0, 2.0], [1.0, 4.0]], dtype=np.float32)
    mean, scale = fit_normalization(x)
    assert scale[0] == 1.0 and mean[1] == 3.0


def test_metrics_of_a_perfect_and_a_calibrated_predictor():
    y = np.array([0, 0, 1, 1])
    m = metrics(np.array([0.01, 0.02, 0.98, 0.99]), y)
    assert m["auc"] == 1.0 and m["rows"] == 4
    p = np.full(1000, 0.3)
    yy = (np.arange(1000) < 300).astype(int)
    assert expected_calibration_error(p, yy) < 1e-9
