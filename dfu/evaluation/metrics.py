"""Scores of class probabilities, per image set and per assessment.

All metrics come from scikit-learn with the label set fixed to (0, 1, 2) = (I, P, R), so
a fold that lacks a class, or a model that predicts one class, still yields a 3x3
confusion matrix and finite numbers (kappa 0.0 when undefined) instead of NaN.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, f1_score

from dfu.constants import CLASSES, PROBA_COLUMNS

LABELS = list(range(len(CLASSES)))


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict:
    """Kappa (unweighted and quadratic), accuracy, F1 (macro, weighted, per class),
    confusion matrix (rows = true class), count and predicted-class distribution."""
    y_true = np.asarray(y_true).astype(int)
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape != (len(y_true), len(LABELS)):
        raise ValueError(f"proba must have shape ({len(y_true)}, {len(LABELS)}), got {proba.shape}")
    if len(y_true) == 0:
        raise ValueError("no rows to score")
    if y_true.min() < 0 or y_true.max() >= len(LABELS):
        raise ValueError(f"y_true must hold class indices 0..{len(LABELS) - 1}")
    y_pred = proba.argmax(axis=1)
    # Undefined F1 (class neither true nor predicted) counts as 0, with no warning.
    per_class = f1_score(y_true, y_pred, labels=LABELS, average=None, zero_division=0.0)
    return {
        "kappa": _kappa(y_true, y_pred, None),
        "qwk": _kappa(y_true, y_pred, "quadratic"),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(
            f1_score(y_true, y_pred, labels=LABELS, average="macro", zero_division=0.0)
        ),
        "f1_weighted": float(
            f1_score(y_true, y_pred, labels=LABELS, average="weighted", zero_division=0.0)
        ),
        **{f"f1_{c}": float(f) for c, f in zip(CLASSES, per_class, strict=True)},
        "confusion": confusion_matrix(y_true, y_pred, labels=LABELS).tolist(),
        "n": len(y_true),
        "pred_dist": (np.bincount(y_pred, minlength=len(LABELS)) / len(y_pred)).tolist(),
    }


def _kappa(y_true: np.ndarray, y_pred: np.ndarray, weights: str | None) -> float:
    # Undefined (both sides one and the same class): 0.0, i.e. no agreement beyond chance.
    # scikit-learn still warns after replacing; one warning per degenerate fold is noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        kappa = cohen_kappa_score(
            y_true, y_pred, labels=LABELS, weights=weights, replace_undefined_by=0.0
        )
    return float(kappa)


def assessment_probabilities(df: pd.DataFrame) -> pd.DataFrame:
    """Per-image-set rows -> one row per assessment, probabilities averaged.

    Input columns: assessment_id, y_true, p_I, p_P, p_R. Output: the same columns plus
    ``n_sets`` (image sets averaged), sorted by assessment_id.
    """
    groups = df.groupby("assessment_id", sort=True)
    conflicting = groups["y_true"].nunique()
    if (conflicting > 1).any():
        raise ValueError(
            f"assessment {conflicting[conflicting > 1].index[0]!r} has image sets with "
            "different labels"
        )
    out = groups[PROBA_COLUMNS].mean()
    out.insert(0, "y_true", groups["y_true"].first().astype(int))
    out["n_sets"] = groups.size()
    return out.reset_index()


def score_predictions(df: pd.DataFrame) -> dict[str, dict]:
    """Metrics per image set (each row) and per assessment (mean probabilities)."""
    per_assessment = assessment_probabilities(df)
    return {
        "image_set": classification_metrics(df["y_true"].to_numpy(), df[PROBA_COLUMNS].to_numpy()),
        "assessment": classification_metrics(
            per_assessment["y_true"].to_numpy(), per_assessment[PROBA_COLUMNS].to_numpy()
        ),
    }
