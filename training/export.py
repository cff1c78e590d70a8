"""Export step: a fitted scikit-learn classifier -> an edgeintent model package.

The package is one ONNX file whose ``metadata_props`` carry what the runtime
checks before using it: the feature-spec hash and version, the feature names,
the normalisation fitted in training, the model version and validation metrics.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def to_onnx(
    model,
    identity: dict,
    mean: np.ndarray,
    scale: np.ndarray,
    model_version: str,
    validation: dict,
) -> onnx.ModelProto:
    """Converts ``model`` (input: normalised features) and attaches the metadata.

    ``identity`` is the ``<out>.spec.json`` written by ``edgeintent featurize``.
    """
    width = len(identity["feature_names"])
    onx = convert_sklearn(
        model,
        initial_types=[("features", FloatTensorType([None, width]))],
        options={id(model): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    props = {
        "edgeintent.feature_spec_hash": identity["feature_spec_hash"],
        "edgeintent.feature_spec_version": identity["feature_spec_version"],
        "edgeintent.feature_names": json.dumps(identity["feature_names"]),
        "edgeintent.normalization": json.dumps(
            {"mean": [float(v) for v in mean], "scale": [float(v) for v in scale]}
        ),
        "edgeintent.model_version": model_version,
        "edgeintent.validation": json.dumps(validation),
    }
    # skl2onnx names the graph with a random UUID; a fixed name keeps reruns byte-identical.
    onx.graph.name = model_version
    onnx.helper.set_model_props(onx, props)
    onnx.checker.check_model(onx)
    return onx
