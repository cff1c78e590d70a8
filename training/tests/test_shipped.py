"""The shipped model package and fixtures are consistent with the runtime."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnx

from parity import ort_positive_proba

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_model_was_trained_on_the_shipped_feature_spec(edgeintent_bin):
    spec = json.loads(subprocess.run([str(edgeintent_bin), "spec"], capture_output=True, text=True, check=True).stdout)
    model = onnx.load(str(ROOT / "models" / "intent.onnx"))
    props = {p.key: p.value for p in model.metadata_props}
    assert props["edgeintent.feature_spec_hash"] == spec["feature_spec_hash"]
    assert json.loads(props["edgeintent.feature_names"]) == spec["feature_names"]
    validation = json.loads(props["edgeintent.validation"])
    assert validation["auc"] > 0.75, validation


def test_parity_vectors_match_onnx_runtime_today():
    fx = json.loads((ROOT / "fixtures" / "parity" / "intent.json").read_text())
    got = ort_positive_proba(ROOT / fx["model"], np.array(fx["rows"], dtype=np.float32))
    assert np.allclose(got, fx["expected"], atol=1e-6)


def test_model_card_quotes_the_shipped_models_metrics():
    card = (ROOT / "models" / "MODEL_CARD.md").read_text()
    props = {p.key: p.value for p in onnx.load(str(ROOT / "models" / "intent.onnx")).metadata_props}
    auc = json.loads(props["edgeintent.validation"])["auc"]
    chosen = props["edgeintent.model_version"].rsplit("-", 1)[-1]
    assert f"| **{chosen}** | {auc} |" in card
