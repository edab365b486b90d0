"""Fusion weights fitted on held-out rows: how a useless input comes to weigh 0.

Stages 1 and 2 train every weight on inner-train rows, where an image branch's predictions are
in-sample: a branch that memorised noise looks reliable there, and a fusion trained on it
trusts it (the clinic's old "fusion kappa 0.02", seed analysis 004). On inner-validation rows
every source's predictions are held out (the random forest's too), so after training the
fusion layer's few numbers, one weight per source and one bias per class, are fitted there by
class-weighted log loss with a small L2 penalty, each weight >= 0 (L-BFGS-B). A source that
does not help on held-out rows ends near 0, and the fused output reduces to its useful members.

Inner validation is small (~50-60 assessments on the demo), so a weight fitted there can
still catch noise: on the demo with shuffled images, pure-noise branches got weights up to
0.9 and cost the fusion 0.05 kappa against metadata alone. So the fitted fusion is kept only
if the other sources add information to the best one: cross-validated by patient within the
inner-validation rows, the log loss of the fusion must beat that of the best source alone,
fitted the same way (so recalibration alone cannot win), by more than one standard error of
the paired difference over patients (Breiman's one-standard-error rule: the simpler model
unless clearly beaten); otherwise the fusion becomes that source exactly (its weight 1, the
others 0, no bias). Log loss, not kappa: on ~55 assessments a kappa comparison picked single
members over fusions worth 0.2 more on test. Every choice is made on inner validation, never
on the test fold.

``pool`` mirrors ``dfu.models.SourceWeights.call`` in numpy: the same formula, no TensorFlow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize

EPS = 1e-7
# A cross-validated gain below this (nats per weighted row) changes no prediction worth keeping.
MIN_GAIN = 1e-3


@dataclass
class FusionFit:
    weights: list[float]  # per source, in the fusion layer's order
    bias: list[float]  # per class
    val_loss_before: float  # class-weighted log loss of the trained fusion on inner-val rows
    val_loss_after: float
    chosen: str = "fusion"  # "fusion", or the one source the fusion reduces to
    cv_loss: dict | None = None  # cross-validated within inner val: gain over the best source
    source_kappas: dict | None = None  # each source alone on inner val (as it is)

    def to_dict(self, sources: list[str]) -> dict:
        return {**asdict(self), "weights": dict(zip(sources, self.weights, strict=True))}


def pool(probabilities: list[np.ndarray], w: np.ndarray, b: np.ndarray, mode: str) -> np.ndarray:
    """(N, classes) fused probabilities of per-source (N, classes) probabilities."""
    p = np.clip(np.stack(probabilities, axis=1), EPS, 1.0)  # (N, sources, classes)
    if mode == "log":
        z = np.einsum("s,nsk->nk", w, np.log(p))
    else:
        z = np.log(np.maximum(np.einsum("s,nsk->nk", w, p) / max(w.sum(), EPS), EPS))
    z = z + b
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def weighted_log_loss(proba: np.ndarray, labels: np.ndarray, class_weights) -> float:
    weights = np.asarray(class_weights, dtype=float)[labels]
    picked = np.clip(proba[np.arange(len(labels)), labels], EPS, 1.0)
    return float(-(weights * np.log(picked)).sum() / weights.sum())


def fit_fusion(probabilities: list[np.ndarray], labels: np.ndarray, class_weights,
               w0, b0, mode: str = "log", l2: float = 1e-3) -> FusionFit:  # fmt: skip
    """Weights (>= 0) and class bias minimising the class-weighted log loss of ``pool``.

    ``probabilities``: one (N, classes) array per source, on held-out rows; starts from the
    trained layer's ``w0``, ``b0``.
    """
    labels = np.asarray(labels, dtype=int)
    n_sources = len(probabilities)

    def loss(x: np.ndarray) -> float:
        w, b = x[:n_sources], x[n_sources:]
        fused = pool(probabilities, w, b, mode)
        return weighted_log_loss(fused, labels, class_weights) + l2 * float(w @ w)

    x0 = np.concatenate([np.maximum(np.asarray(w0, dtype=float), 0.0), np.asarray(b0, float)])
    before = loss(x0) - l2 * float(x0[:n_sources] @ x0[:n_sources])
    bounds = [(0.0, None)] * n_sources + [(None, None)] * (len(x0) - n_sources)
    found = minimize(loss, x0, method="L-BFGS-B", bounds=bounds)
    w, b = found.x[:n_sources], found.x[n_sources:]
    after = weighted_log_loss(pool(probabilities, w, b, mode), labels, class_weights)
    return FusionFit(w.tolist(), b.tolist(), round(before, 6), round(after, 6))


def choose_fusion(probabilities: list[np.ndarray], labels: np.ndarray, assessments, patients,
                  sources: list[str], class_weights, w0, b0, mode: str = "log",
                  l2: float = 1e-3, folds: int = 5) -> FusionFit:  # fmt: skip
    """``fit_fusion`` on all inner-val rows, kept only if the other sources add information to
    the best one (see the module docstring); otherwise the fusion is that source exactly, as
    its own trial scores it."""
    fitted = fit_fusion(probabilities, labels, class_weights, w0, b0, mode, l2)
    fitted.source_kappas = {s: _kappa(p, labels, assessments)
                            for s, p in zip(sources, probabilities, strict=True)}  # fmt: skip
    patients = np.asarray(patients)
    if len(np.unique(patients)) < 2:
        return fitted
    args = (labels, patients, class_weights, b0, mode, l2, folds)
    alone = {s: _cv_losses([p], [1.0], *args) for s, p in zip(sources, probabilities, strict=True)}
    fused = _cv_losses(probabilities, w0, *args)
    best = min(alone, key=lambda s: alone[s].sum())
    gain, se = _paired_gain(alone[best], fused, patients, class_weights, labels)
    fitted.cv_loss = {"gain_over_" + best: round(gain, 5), "standard_error": round(se, 5)}
    if gain <= max(se, MIN_GAIN):  # one-standard-error rule: the simpler model unless beaten
        fitted.weights = [1.0 if s == best else 0.0 for s in sources]
        fitted.bias = [0.0] * len(fitted.bias)
        fitted.chosen = best
    return fitted


def _cv_losses(probabilities, w0, labels, patients, class_weights, b0, mode, l2, folds) -> np.ndarray:
    """Per row: the class-weighted log loss of its fused probabilities, from weights fitted
    without its patient's rows."""
    from sklearn.model_selection import GroupKFold

    labels = np.asarray(labels, dtype=int)
    splits = min(folds, len(np.unique(patients)))
    out = np.zeros_like(probabilities[0], dtype=float)
    for fit_rows, held in GroupKFold(splits).split(labels, groups=patients):
        part = fit_fusion([p[fit_rows] for p in probabilities], labels[fit_rows], class_weights,
                          w0, b0, mode, l2)  # fmt: skip
        out[held] = pool([p[held] for p in probabilities], np.asarray(part.weights),
                         np.asarray(part.bias), mode)  # fmt: skip
    picked = np.clip(out[np.arange(len(labels)), labels], EPS, 1.0)
    return -np.asarray(class_weights, dtype=float)[labels] * np.log(picked)


def _paired_gain(simple: np.ndarray, fused: np.ndarray, patients, class_weights, labels):
    """(mean weighted log-loss gain of the fusion, its standard error over patients)."""
    total = np.asarray(class_weights, dtype=float)[np.asarray(labels, dtype=int)].sum()
    per_patient = pd.Series(simple - fused).groupby(np.asarray(patients)).sum().to_numpy()
    gain = per_patient.sum() / total
    se = np.sqrt(len(per_patient)) * per_patient.std(ddof=1) / total
    return float(gain), float(se)


def _kappa(proba: np.ndarray, labels: np.ndarray, assessments) -> float:
    """Assessment-level Cohen's kappa (image sets' probabilities averaged), as trials are scored."""
    from dfu.metrics import PROBA_COLUMNS, assessment_probabilities, classification_metrics

    frame = pd.DataFrame({"assessment_id": np.asarray(assessments), "y_true": labels})
    frame[PROBA_COLUMNS] = proba
    per = assessment_probabilities(frame)
    return classification_metrics(per["y_true"].to_numpy(), per[PROBA_COLUMNS].to_numpy())["kappa"]
