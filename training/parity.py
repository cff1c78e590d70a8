"""Parity step: reference outputs from ONNX Runtime for the Rust tests.

Writes raw feature rows and ONNX Runtime's positive-class probability for each,
computed on the normalised rows, so the Rust test checks tract, the
normalisation from metadata and the output reading in one go.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort


def ort_positive_proba(model_path: Path, x_raw: np.ndarray) -> np.ndarray:
    """Positive-class probability from ONNX Runtime, normalising as the runtime does."""
    m = onnx.load(str(model_path))
    props = {p.key: p.value for p in m.metadata_props}
    norm = json.loads(props["edgeintent.normalization"])
    x = ((x_raw - np.array(norm["mean"], dtype=np.float32)) / np.array(norm["scale"], dtype=np.float32)).astype(np.float32)
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    out = sess.run(None, {sess.get_inputs()[0].name: x})
    probs = out[names.index("probabilities")]
    return probs[:, 1]


def write_fixture(model_path: Path, x_raw: np.ndarray, out: Path, repo_root: Path) -> None:
    """Stores rows and expected probabilities as JSON."""
    expected = ort_positive_proba(model_path, x_raw)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "model": str(model_path.relative_to(repo_root)),
                "engine": f"onnxruntime {ort.__version__}",
                "rows": [[float(v) for v in r] for r in x_raw],
                "expected": [float(v) for v in expected],
            }
        )
        + "\n"
    )
