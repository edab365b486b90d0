"""The linear baseline of an image modality: logistic regression on the crop's pixels.

A network must beat a linear model on the same pixels, or the report must say it does not.
So every search fits, per fold and image modality, a scikit-learn pipeline (standardised
pixels -> multinomial logistic regression, classes weighted like the random forest's) on the
inner-training image sets, picks its regularisation ``C`` on inner-validation assessment
kappa (ties: the stronger regularisation), and scores the outer test fold once, like any
combination. Crops larger than ``baseline.image_size`` are average-pooled down first (the
report says so): at 128 px a pixel model would have 49,152 features per modality.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from dfu.config import BaselineConfig
from dfu.constants import CLASSES, PROBA_COLUMNS
from dfu.evaluation.metrics import assessment_probabilities, classification_metrics
from dfu.models.class_balance import capped_inverse_frequency


@dataclass
class BaselineFit:
    """The chosen model's probabilities on inner-val and test, and how it was chosen."""

    modality: str
    C: float
    image_size: int  # pixels per side the model saw
    downscaled: bool
    val_kappa: float  # inner-val assessment kappa at the chosen C
    val_kappas: dict[float, float]  # every C tried
    val_proba: np.ndarray
    test_proba: np.ndarray

    def record(self) -> dict:
        return {
            "C": self.C,
            "image_size": self.image_size,
            "downscaled": self.downscaled,
            "val_kappa": self.val_kappa,
            "val_kappas": {str(c): k for c, k in self.val_kappas.items()},
        }


def pixels(images: np.ndarray, size: int) -> np.ndarray:
    """(N, S, S, 3) uint8 -> (N, s*s*3) float32, average-pooled to ``size`` when S > size."""
    n, side = images.shape[0], images.shape[1]
    x = images.astype(np.float32)
    if side > size:
        factor = -(-side // size)  # ceil: pad to a multiple, then pool factor x factor blocks
        pad = factor * size - side
        x = np.pad(x, ((0, 0), (0, pad), (0, pad), (0, 0)))
        x = x.reshape(n, size, factor, size, factor, 3).mean(axis=(2, 4))
    return x.reshape(n, -1)


def fit_linear_baseline(
    arrays: dict,
    modality: str,
    cfg: BaselineConfig,
    class_weight_max_ratio: float = 3.0,
    threads: int = 1,
) -> BaselineFit:
    """Fit on ``arrays["train"]``, choose C on ``arrays["val"]``, predict ``arrays["test"]``.

    ``arrays``: split -> ``dfu.cv.fold_data.SplitArrays`` (ids, labels, inputs[modality]).
    ``threads``: BLAS threads, as many as CPUs reserved (more oversubscribe a busy machine).
    """
    with threadpool_limits(threads):
        return _fit(arrays, modality, cfg, class_weight_max_ratio)


def _fit(arrays: dict, modality: str, cfg: BaselineConfig, max_ratio: float) -> BaselineFit:
    train, val = arrays["train"], arrays["val"]
    side = train.inputs[modality].shape[1]
    size = min(side, cfg.image_size)
    x = {s: pixels(arrays[s].inputs[modality], size) for s in ("train", "val", "test")}
    weights = capped_inverse_frequency(train.labels, len(CLASSES), max_ratio)
    scaler = StandardScaler().fit(x["train"])
    x = {s: scaler.transform(v) for s, v in x.items()}
    # One model along the C path, strongest regularisation first: each fit starts from the last.
    model = LogisticRegression(
        class_weight=dict(enumerate(weights.tolist())),
        solver="newton-cg",
        max_iter=cfg.max_iter,
        warm_start=True,
    )
    best, kappas = None, {}
    for c in sorted(cfg.c_grid):
        with warnings.catch_warnings():  # weak regularisation may stop at max_iter: still a fit
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.set_params(C=c).fit(x["train"], train.labels)
        proba = _proba(model, x["val"])
        kappas[c] = assessment_kappa(val.ids, val.labels, proba)
        if best is None or kappas[c] > kappas[best[0]]:
            best = (c, proba, _proba(model, x["test"]))
    c, val_proba, test_proba = best
    return BaselineFit(
        modality, float(c), size, size < side, kappas[c], kappas, val_proba, test_proba
    )


def _proba(model, x: np.ndarray) -> np.ndarray:
    out = np.zeros((len(x), len(CLASSES)))
    out[:, model.classes_] = model.predict_proba(x)
    return out


def assessment_kappa(ids: pd.DataFrame, labels: np.ndarray, proba: np.ndarray) -> float:
    """Cohen's kappa of image-set probabilities averaged per assessment (how trials are scored)."""
    frame = pd.DataFrame({"assessment_id": ids["assessment_id"].to_numpy(), "y_true": labels})
    frame[PROBA_COLUMNS] = proba
    per = assessment_probabilities(frame)
    return classification_metrics(per["y_true"].to_numpy(), per[PROBA_COLUMNS].to_numpy())["kappa"]
