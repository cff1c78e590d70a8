"""Training step: featurized rows + labels -> a fitted, normalised classifier.

Features come only from the edgeintent featurizer (the serving code), so training
and serving cannot drift. Normalisation (mean, scale) is fitted here and shipped
inside the model's metadata, where the runtime applies it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score


@dataclass
class Dataset:
    """Rows of one or more featurized traces."""

    ts_ms: np.ndarray
    points: list[str]
    x: np.ndarray
    y: np.ndarray
    names: list[str]


def feature_matrix(table, names: list[str]) -> np.ndarray:
    """The feature columns of a featurized Arrow table (``edgeintent.featurize``)
    as a float32 matrix ``[rows, features]``, the runtime's values exactly."""
    cols = [table.column(n).to_numpy() for n in names]
    return np.column_stack(cols).astype(np.float32).reshape(table.num_rows, len(names))


def concat(parts: list[Dataset]) -> Dataset:
    """Joins datasets with the same columns."""
    names = parts[0].names
    assert all(p.names == names for p in parts), "datasets were featurized with different specs"
    return Dataset(
        np.concatenate([p.ts_ms for p in parts]),
        sum((p.points for p in parts), []),
        np.concatenate([p.x for p in parts]),
        np.concatenate([p.y for p in parts]),
        names,
    )


def fit_normalization(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale (std, 1 where a feature is constant)."""
    mean = x.mean(axis=0).astype(np.float32)
    scale = x.std(axis=0).astype(np.float32)
    scale[scale < 1e-6] = 1.0
    return mean, scale


def fit_logistic(x: np.ndarray, y: np.ndarray, seed: int = 0) -> LogisticRegression:
    """L2 logistic regression on normalised features."""
    return LogisticRegression(C=1.0, max_iter=2000, random_state=seed).fit(x, y)


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Mean |predicted - observed| over equal-width probability bins, weighted by count."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(ece)


def metrics(p: np.ndarray, y: np.ndarray) -> dict:
    """Validation metrics quoted in the model card and stored in the model."""
    return {
        "auc": round(float(roc_auc_score(y, p)), 4),
        "log_loss": round(float(log_loss(y, p, labels=[0, 1])), 4),
        "brier": round(float(brier_score_loss(y, p)), 4),
        "ece": round(expected_calibration_error(p, y), 4),
        "positive_rate": round(float(y.mean()), 4),
        "rows": int(len(y)),
    }
