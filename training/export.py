"""Export step: a fitted classifier -> an edgeintent model package.

The package is one ONNX file whose ``metadata_props`` carry what the runtime
checks before using it: the feature-spec hash and version, the feature names,
the normalisation fitted in training, the model version and validation metrics.
Supported here: scikit-learn (skl2onnx), LightGBM and XGBoost (onnxmltools),
CatBoost (its own ONNX export);
the intent model is exported without ZipMap so the probabilities stay a plain tensor.
"""

from __future__ import annotations

import json

import numpy as np
import onnx

SKL_OPSET = {"": 17, "ai.onnx.ml": 3}
MLTOOLS_OPSET = 15


def canonical_opsets(onx: onnx.ModelProto) -> onnx.ModelProto:
    """Sorts ``opset_import`` by domain, one entry per domain (the highest version).

    skl2onnx collects the domains it used in a set, so their order follows
    Python's per-process string hashing (PYTHONHASHSEED) and sometimes lists a
    domain twice: two exports of the same model then differ in bytes only here.
    """
    versions: dict[str, int] = {}
    for o in onx.opset_import:
        versions[o.domain] = max(o.version, versions.get(o.domain, 0))
    del onx.opset_import[:]
    for domain in sorted(versions):
        onx.opset_import.append(onnx.helper.make_opsetid(domain, versions[domain]))
    return onx


def convert(model, width: int, input_name: str = "features", zipmap: bool = False) -> onnx.ModelProto:
    """ONNX graph of a scikit-learn, LightGBM, XGBoost or CatBoost model, input ``input_name`` [N, width].

    With ``zipmap`` false, classifiers give their probabilities as a plain tensor
    (``label``, ``probabilities``); with it true, as the exporters' default map.
    The opset list is canonical, so the same fitted model always gives the same bytes.
    """
    return canonical_opsets(_convert(model, width, input_name, zipmap))


def _convert(model, width: int, input_name: str, zipmap: bool) -> onnx.ModelProto:
    module = type(model).__module__
    if module.startswith("catboost"):
        return _convert_catboost(model, input_name, zipmap)
    if module.startswith(("lightgbm", "xgboost")):
        from onnxmltools import convert_lightgbm, convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType

        types = [(input_name, FloatTensorType([None, width]))]
        if module.startswith("lightgbm"):
            return convert_lightgbm(model, initial_types=types, target_opset=MLTOOLS_OPSET, zipmap=zipmap)
        if not zipmap:
            raise ValueError("convert_xgboost has no zipmap switch")
        return convert_xgboost(model, initial_types=types, target_opset=MLTOOLS_OPSET)
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    # The zipmap option exists only for classifiers.
    is_classifier = hasattr(model, "predict_proba") or hasattr(model, "decision_function")
    options = {id(model): {"zipmap": False}} if not zipmap and is_classifier else None
    return convert_sklearn(
        model,
        initial_types=[(input_name, FloatTensorType([None, width]))],
        options=options,
        target_opset=SKL_OPSET,
    )


def _convert_catboost(model, input_name: str, zipmap: bool) -> onnx.ModelProto:
    """CatBoost's own export (ai.onnx.ml opset 2, a symbolic batch named ``N``),
    with its input renamed to ``input_name``. Its classifiers always end in a
    ZipMap; ``zipmap`` false is refused rather than silently ignored."""
    import tempfile
    from pathlib import Path

    if not zipmap and hasattr(model, "predict_proba"):
        raise ValueError("CatBoost's ONNX export has no zipmap switch")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.onnx"
        model.save_model(str(path), format="onnx", export_parameters={"onnx_graph_name": "catboost"})
        onx = onnx.load(str(path))
    # CatBoost stamps each export with its time and a random id: drop them so
    # the same fitted model always gives the same bytes.
    keep = [p for p in onx.metadata_props if p.key not in ("train_finish_time", "model_guid")]
    del onx.metadata_props[:]
    onx.metadata_props.extend(keep)
    old = onx.graph.input[0].name
    onx.graph.input[0].name = input_name
    for node in onx.graph.node:
        node.input[:] = [input_name if i == old else i for i in node.input]
    return onx


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
    onx = convert(model, len(identity["feature_names"]))
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
    # Exporters name the graph with a random UUID; a fixed name keeps reruns byte-identical.
    onx.graph.name = model_version
    onnx.helper.set_model_props(onx, props)
    onnx.checker.check_model(onx)
    return onx
