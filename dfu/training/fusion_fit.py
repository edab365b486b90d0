"""Fusion weights refitted after training: how a useless input comes to weigh 0.

After stages 1 and 2 the fusion layer's few numbers, one weight per source and one bias per
class, are refitted by class-weighted log loss with a small L2 penalty, each weight >= 0
(L-BFGS-B), and the fused output reduces to its useful members. Where they are fitted and
where the fit is judged are two different questions:

- Fitted on inner-train + inner-val rows (``training.fusion_fit_rows``, default "train+val").
  Inner validation alone is ~50-60 assessments on the demo: weights fitted there were noisy,
  and the cross-validated check below sent a demo fusion worth 0.25 kappa on test back to
  metadata alone. On inner-train rows the forest's probabilities are out-of-fold; an
  early-stopped branch's are optimistic but not memorised (measured on the demo: inner-train
  log loss 0.0-0.1 below test for the maps, 0.1-0.3 for the RGB branches). With ~5x the rows
  the all-modality demo fusion went from 0.67 to 0.82 of the oracle.
- The image branches' trust corrected on inner-val rows: weights fitted where a branch has
  seen the rows trust it more than rows it has not seen warrant (diagnosed on the test rows of
  a finished demo run: its all-modality fusion scored higher with its image weights halved).
  So one number, the scale ``s`` in [0, 1] of every optimistic source's weight (an image
  branch's; metadata's inner-train predictions are out-of-fold), is fitted on the inner-val
  rows, where every source is held out, with the rest of the fit fixed: the many rows choose
  how the sources combine, the honest rows how far the images are believed. Measured on the
  demo with the defaults (5 folds): ``s`` 0.58-0.84, all five sources 0.552 -> 0.574 kappa
  (0.84 -> 0.87 of the oracle), the cross-validated inner-val gain over metadata up in every
  fold.
- Judged on inner-val rows only, where every source is held out. A branch that memorised
  noise looks reliable on its own training rows, and a fusion fitted there trusts it (the
  clinic's old "fusion kappa 0.02", seed analysis 004; measured: with images shuffled across
  assessments a noise branch got weight 1.0 on train+val; judged on inner-val rows, 4 of 6
  such fusions went back to metadata, 2 were kept on gains of 0.3-1.4 standard errors, and
  the fusions scored 0.000-0.023 below metadata on test). So the fitted fusion is kept only
  if, cross-validated by patient (weights fitted without the patient's rows), its log loss on
  the inner-val rows beats that of a reference source alone, fitted the same way (so
  recalibration alone cannot win), by more than ``MIN_GAIN``; otherwise the fusion becomes the
  reference exactly (its weight 1, the others 0, no bias).

The reference is metadata when the fusion has it: its inner-val predictions are honest, an
image branch's are not quite (early stopping chose its epoch on those rows), and it asks the
clinic's question: do the images add anything to the clinical data? Without metadata, the
reference is the best branch. Log loss, not kappa: on ~55 assessments a kappa comparison
picked single members over fusions worth 0.2 more on test. Every choice is made on inner
rows, never on the test fold.

``pool`` mirrors ``dfu.models.fusion.SourceWeights.call`` in numpy: the same formula, no
TensorFlow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize, minimize_scalar

EPS = 1e-7
# A cross-validated gain below this (nats per weighted row) changes no prediction worth keeping.
MIN_GAIN = 1e-3
HONEST = "metadata"  # the source whose inner-val predictions no choice was made on
# Patient-grouped folds within the fit rows for the cross-validated comparison (5 leave ~10
# of ~50-60 inner-val assessments out each).
CV_FOLDS = 5


@dataclass(frozen=True)
class FusionRows:
    """Rows the fusion is fitted on: one (N, classes) probability array per source, the
    labels, each row's assessment and patient, and which rows every source predicted without
    having seen them (``honest``; the last three needed by ``choose_fusion`` only)."""

    probabilities: list[np.ndarray]
    labels: np.ndarray
    assessments: np.ndarray | None = None
    patients: np.ndarray | None = None
    # Rows whose image predictions are out-of-sample (inner validation); None = all rows.
    honest: np.ndarray | None = None

    @classmethod
    def concat(cls, parts: Sequence[FusionRows]) -> FusionRows:
        """The rows of several parts, one after another."""
        if len(parts) == 1:
            return parts[0]
        sources = range(len(parts[0].probabilities))

        def joined(values):  # an optional field: kept only if every part has it
            if any(v is None for v in values):
                return None
            return np.concatenate([np.asarray(v) for v in values])

        return cls(
            [np.concatenate([p.probabilities[k] for p in parts]) for k in sources],
            np.concatenate([np.asarray(p.labels) for p in parts]),
            joined([p.assessments for p in parts]),
            joined([p.patients for p in parts]),
            np.concatenate([p.honest_rows() for p in parts]),
        )

    def honest_rows(self) -> np.ndarray:
        if self.honest is None:
            return np.ones(len(self.labels), dtype=bool)
        return np.asarray(self.honest, dtype=bool)

    def rows(self, index) -> FusionRows:
        """The rows at ``index`` (a boolean mask or positions), every field kept."""

        def pick(values):
            return None if values is None else np.asarray(values)[index]

        return FusionRows(
            [p[index] for p in self.probabilities],
            np.asarray(self.labels, dtype=int)[index],
            pick(self.assessments),
            pick(self.patients),
            pick(self.honest),
        )

    def source(self, k: int) -> FusionRows:
        """Source ``k`` alone, on the same rows."""
        return dataclasses.replace(self, probabilities=[self.probabilities[k]])


@dataclass(frozen=True)
class FusionStart:
    """What a fit weighs and starts from: the class weights of the log loss, the trained
    layer's source weights ``w0`` and class bias ``b0``, the pooling mode (``log`` or
    ``linear``) and the L2 penalty on the weights (``training.fusion_l2``)."""

    class_weights: Sequence[float]
    w0: Sequence[float]
    b0: Sequence[float]
    mode: str = "log"
    l2: float = 1e-3
    # Per source: are its predictions on the non-honest rows flattering (a branch on the rows it
    # trained on)? Their weights get the honest-rows scale; None = no source is.
    optimistic: Sequence[bool] | None = None


@dataclass
class FusionFit:
    weights: list[float]  # per source, in the fusion layer's order
    bias: list[float]  # per class
    fit_loss_before: float  # class-weighted log loss of the trained fusion on the fit rows
    fit_loss_after: float
    chosen: str = "fusion"  # "fusion", or the one source the fusion reduces to
    honest_scale: float | None = None  # the optimistic sources' weight scale fitted on inner val
    fit_rows: int = 0  # image-set rows the weights were fitted on
    judged_rows: int = 0  # of which held out for every source (the keep-or-revert check's)
    cv_loss: dict | None = None  # cross-validated, judged on inner val: gain over the reference
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


def fit_fusion(rows: FusionRows, start: FusionStart) -> FusionFit:
    """Weights (>= 0) and class bias minimising the class-weighted log loss of ``pool`` on
    ``rows``, starting from the trained layer's ``start.w0``, ``start.b0``; then the
    ``start.optimistic`` sources' weights scaled on the honest rows (``_honest_scale``)."""
    probabilities, l2, mode = rows.probabilities, start.l2, start.mode
    labels = np.asarray(rows.labels, dtype=int)
    n_sources = len(probabilities)

    def loss(x: np.ndarray) -> float:
        w, b = x[:n_sources], x[n_sources:]
        fused = pool(probabilities, w, b, mode)
        return weighted_log_loss(fused, labels, start.class_weights) + l2 * float(w @ w)

    w0 = np.maximum(np.asarray(start.w0, dtype=float), 0.0)
    x0 = np.concatenate([w0, np.asarray(start.b0, float)])
    before = loss(x0) - l2 * float(x0[:n_sources] @ x0[:n_sources])
    bounds = [(0.0, None)] * n_sources + [(None, None)] * (len(x0) - n_sources)
    found = minimize(loss, x0, method="L-BFGS-B", bounds=bounds)
    w, b = found.x[:n_sources], found.x[n_sources:]
    scale = _honest_scale(rows, w, b, start)
    if scale is not None:
        w = np.where(start.optimistic, scale * w, w)
    after = weighted_log_loss(pool(probabilities, w, b, mode), labels, start.class_weights)
    honest_scale = None if scale is None else round(scale, 4)
    return FusionFit(
        w.tolist(), b.tolist(), round(before, 6), round(after, 6), honest_scale=honest_scale
    )


def _honest_scale(rows: FusionRows, w: np.ndarray, b: np.ndarray, start: FusionStart):
    """The scale in [0, 1] of the optimistic sources' weights that minimises the loss on the
    honest rows, the rest of the fit fixed; None where there is nothing to correct (no
    optimistic source, or every row honest) or nothing to correct it on (no honest row)."""
    honest = rows.honest_rows()
    if not start.optimistic or not any(start.optimistic) or honest.all() or not honest.any():
        return None
    held = rows.rows(honest)
    labels = np.asarray(held.labels, dtype=int)

    def loss(scale: float) -> float:
        scaled = np.where(start.optimistic, scale * w, w)
        fused = pool(held.probabilities, scaled, b, start.mode)
        return weighted_log_loss(fused, labels, start.class_weights)

    return float(minimize_scalar(loss, bounds=(0.0, 1.0), method="bounded").x)


def choose_fusion(
    rows: FusionRows, sources: list[str], start: FusionStart, folds: int = CV_FOLDS
) -> FusionFit:
    """``fit_fusion`` on all ``rows``, kept only if the other sources add information to
    the reference one (see the module docstring); otherwise the fusion is that source exactly,
    as its own trial scores it."""
    start = dataclasses.replace(start, optimistic=[s != HONEST for s in sources])
    fitted = fit_fusion(rows, start)
    judged = rows.honest_rows()
    honest = rows.rows(judged)
    fitted.fit_rows, fitted.judged_rows = len(judged), int(judged.sum())
    fitted.source_kappas = {
        s: _kappa(p, honest.labels, honest.assessments)
        for s, p in zip(sources, honest.probabilities, strict=True)
    }
    if len(np.unique(np.asarray(rows.patients))) < 2:
        return fitted
    alone = {s: _cv_losses(rows.source(k), _alone(start, k), folds) for k, s in enumerate(sources)}
    fused = _cv_losses(rows, start, folds)
    # The reference whose held-out evidence is honest: metadata (the forest never saw these
    # rows). An image branch's inner-val predictions are optimistic (its early stopping chose
    # an epoch on these rows), and against one a fusion could not show what it adds.
    best = HONEST if HONEST in alone else min(alone, key=lambda s: alone[s][judged].sum())
    gain, se = _paired_gain(
        alone[best][judged], fused[judged], honest.patients, start.class_weights, honest.labels
    )
    fitted.cv_loss = {"gain_over_" + best: round(gain, 5), "standard_error": round(se, 5)}
    if gain <= MIN_GAIN:  # the reference alone, unless the fusion does better held out
        fitted.weights = [1.0 if s == best else 0.0 for s in sources]
        fitted.bias = [0.0] * len(fitted.bias)
        fitted.chosen, fitted.honest_scale = best, None  # the fitted weights are not used
    return fitted


def _alone(start: FusionStart, k: int) -> FusionStart:
    """The fit of source ``k`` alone: its weight from 1, its optimism kept."""
    return dataclasses.replace(start, w0=[1.0], optimistic=[start.optimistic[k]])


def _cv_losses(rows: FusionRows, start: FusionStart, folds: int) -> np.ndarray:
    """Per row: the class-weighted log loss of its fused probabilities, from weights fitted
    without its patient's rows."""
    from sklearn.model_selection import GroupKFold

    labels = np.asarray(rows.labels, dtype=int)
    patients = np.asarray(rows.patients)
    splits = min(folds, len(np.unique(patients)))
    out = np.zeros_like(rows.probabilities[0], dtype=float)
    for fit_rows, held in GroupKFold(splits).split(labels, groups=patients):
        part = fit_fusion(rows.rows(fit_rows), start)
        weights, bias = np.asarray(part.weights), np.asarray(part.bias)
        out[held] = pool(rows.rows(held).probabilities, weights, bias, start.mode)
    picked = np.clip(out[np.arange(len(labels)), labels], EPS, 1.0)
    return -np.asarray(start.class_weights, dtype=float)[labels] * np.log(picked)


def _paired_gain(simple: np.ndarray, fused: np.ndarray, patients, class_weights, labels):
    """(mean weighted log-loss gain of the fusion, its standard error over patients)."""
    total = np.asarray(class_weights, dtype=float)[np.asarray(labels, dtype=int)].sum()
    per_patient = pd.Series(simple - fused).groupby(np.asarray(patients)).sum().to_numpy()
    gain = per_patient.sum() / total
    se = np.sqrt(len(per_patient)) * per_patient.std(ddof=1) / total
    return float(gain), float(se)


def _kappa(proba: np.ndarray, labels: np.ndarray, assessments) -> float:
    """Assessment-level Cohen's kappa (image sets' probabilities averaged), as trials are scored."""
    from dfu.constants import PROBA_COLUMNS
    from dfu.evaluation.metrics import assessment_probabilities, classification_metrics

    frame = pd.DataFrame({"assessment_id": np.asarray(assessments), "y_true": labels})
    frame[PROBA_COLUMNS] = proba
    per = assessment_probabilities(frame)
    return classification_metrics(per["y_true"].to_numpy(), per[PROBA_COLUMNS].to_numpy())["kappa"]
