"""Uncertainty of a score: the cluster (patient) bootstrap, vectorised over resamples.

Assessments of one patient are not independent (same foot, same clinician, often the
same phase), so resampling rows would understate the uncertainty. Instead each resample
draws *patients* with replacement and keeps all their rows. Every score used here is a
function of the 3x3 confusion matrix, so a resample is just a weighted sum of per-patient
confusion matrices: ``counts (B, patients) @ per_patient (patients, 9)``. 2000 resamples
of every combination then cost milliseconds, and resampling the same patients for two
combinations gives a *paired* comparison for free.

Scores computed from a confusion matrix match ``dfu.evaluation.metrics`` (scikit-learn) exactly,
including their conventions: kappa 0 when undefined, F1 0 for a class neither true nor
predicted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dfu.config import ReportConfig
from dfu.constants import CLASSES

K = len(CLASSES)
SCORES = ["kappa", "qwk", "accuracy", "f1_macro", *(f"f1_{c}" for c in CLASSES)]
_I, _J = np.indices((K, K))
_WEIGHTS = {"kappa": (_I != _J).astype(float), "qwk": (_I - _J).astype(float) ** 2}


def confusion(y_true, y_pred) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted class."""
    table = np.zeros((K, K))
    np.add.at(table, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1.0)
    return table


def scores_from_confusion(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Every score of ``SCORES`` from confusion matrices of shape (..., K, K), rows = truth."""
    c = np.asarray(confusion, dtype=float)
    n = c.sum(axis=(-2, -1))
    diag = np.diagonal(c, axis1=-2, axis2=-1)
    truth, predicted = c.sum(axis=-1), c.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = truth[..., :, None] * predicted[..., None, :] / n[..., None, None]
        out = {name: _kappa(c, expected, w) for name, w in _WEIGHTS.items()}
        out["accuracy"] = diag.sum(axis=-1) / n
        denominator = truth + predicted
        f1 = np.where(denominator > 0, 2 * diag / np.where(denominator > 0, denominator, 1), 0.0)
    out["f1_macro"] = f1.mean(axis=-1)
    out.update({f"f1_{c}": f1[..., k] for k, c in enumerate(CLASSES)})
    return out


def _kappa(observed: np.ndarray, expected: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """1 - sum(w * observed) / sum(w * expected), 0 where undefined (as scikit-learn with
    ``replace_undefined_by=0``): observed and expected both normalised to the same total."""
    disagreement = (weights * observed).sum(axis=(-2, -1))
    chance = (weights * expected).sum(axis=(-2, -1))
    defined = chance > 0
    return np.where(defined, 1 - disagreement / np.where(defined, chance, 1), 0.0)


@dataclass
class Estimate:
    """A score on all the data, with the spread and percentile interval of its resamples."""

    value: float
    low: float
    high: float
    sd: float

    def to_dict(self) -> dict:
        return {k: finite_or_none(v) for k, v in vars(self).items()}


@dataclass
class Difference:
    """A paired difference (this minus reference) and how often a resample had it above 0."""

    value: float
    low: float
    high: float
    above_zero: float  # fraction of resamples with a difference > 0
    n: int = 0  # rows compared (the rows both sides scored)

    def to_dict(self) -> dict:
        out = {k: finite_or_none(v) for k, v in vars(self).items() if k != "n"}
        return {**out, "n": self.n}


def finite_or_none(value: float) -> float | None:
    """JSON-ready: NaN and infinities (undefined scores) become None."""
    return None if not np.isfinite(value) else round(float(value), 6)


def interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval; resamples where a score is undefined (NaN) are left out."""
    tail = 100 * (1 - level) / 2
    low, high = np.nanpercentile(samples, [tail, 100 - tail])
    return float(low), float(high)


class PatientBootstrap:
    """One fixed set of patient resamples, shared by every score and every combination.

    ``patients``: every patient of the study (the unit drawn). Rows of a patient absent
    from a scored table simply contribute nothing to any resample. ``settings``: the
    resamples, their seed and the intervals' level (the config's ``report`` section).
    """

    def __init__(self, patients, settings: ReportConfig):
        n_boot, seed, self.level = settings.resamples, settings.seed, settings.level
        self.patients = np.unique(np.asarray(patients))
        n = len(self.patients)
        if n == 0:
            raise ValueError("no patients to resample")
        rng = np.random.default_rng(seed)
        # Drawing n patients with replacement = one multinomial count vector per resample.
        self.counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)

    def confusions(self, patients, y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
        """(confusion on all rows (K, K), confusion of every resample (B, K, K))."""
        per_patient = self._per_patient(patients, y_true, y_pred)
        full = per_patient.sum(axis=0).reshape(K, K)
        return full, (self.counts @ per_patient).reshape(-1, K, K)

    def _per_patient(self, patients, y_true, y_pred) -> np.ndarray:
        patients = np.asarray(patients)
        where = np.searchsorted(self.patients, patients)
        where = np.minimum(where, len(self.patients) - 1)
        unknown = self.patients[where] != patients
        if unknown.any():
            raise ValueError(f"patient {patients[unknown][0]!r} is not among the resampled")
        cell = np.asarray(y_true, dtype=int) * K + np.asarray(y_pred, dtype=int)
        table = np.zeros((len(self.patients), K * K))
        np.add.at(table, (where, cell), 1.0)
        return table

    def samples(self, patients, y_true, y_pred) -> tuple[dict, dict]:
        """(score on all rows, score per resample) for every score of ``SCORES``."""
        full, resampled = self.confusions(patients, y_true, y_pred)
        return scores_from_confusion(full), scores_from_confusion(resampled)

    def estimates(self, patients, y_true, y_pred) -> dict[str, Estimate]:
        full, resampled = self.samples(patients, y_true, y_pred)
        return {name: self._estimate(full[name], resampled[name]) for name in SCORES}

    def difference(self, rows_a: tuple, rows_b: tuple, score: str = "kappa") -> Difference:
        """Paired difference a - b of ``score``; each of rows_a / rows_b is
        (patients, y_true, y_pred) over the *same* assessments, in the same order."""
        if len(rows_a[0]) != len(rows_b[0]):
            raise ValueError(f"paired rows differ in number: {len(rows_a[0])} vs {len(rows_b[0])}")
        full_a, samples_a = self.samples(*rows_a)
        full_b, samples_b = self.samples(*rows_b)
        diff = samples_a[score] - samples_b[score]
        low, high = interval(diff, self.level)
        valid = np.isfinite(diff)
        above = float((diff[valid] > 0).mean()) if valid.any() else float("nan")
        return Difference(float(full_a[score] - full_b[score]), low, high, above, len(rows_a[0]))

    def _estimate(self, value, samples: np.ndarray) -> Estimate:
        low, high = interval(samples, self.level)
        return Estimate(float(value), low, high, float(np.nanstd(samples)))
