"""Class weights from training frequencies, capped so no class dominates the loss.

One function serves both the random forest's ``class_weight`` and the focal-loss alpha,
so the metadata and image branches balance classes the same way.
"""

from __future__ import annotations

import numpy as np

from dfu.constants import CLASSES


def class_name(k: int, n_classes: int) -> str:
    """'R (2)' for the three healing phases, plain '2' otherwise."""
    return f"{CLASSES[k]} ({k})" if n_classes == len(CLASSES) else str(k)


def capped_inverse_frequency(
    labels: np.ndarray, n_classes: int = 3, max_ratio: float = 3.0
) -> np.ndarray:
    """Weights proportional to 1/frequency, mean 1, with max/min <= ``max_ratio``.

    Inverse frequency alone gives a rare class (R, ~13%) a weight several times that of
    the common one, which makes small training sets chase a handful of rows; the cap
    bounds that. The large weights are clipped down to ``min * max_ratio`` and then all
    are rescaled to mean 1 (rescaling keeps the ratio bound exact).
    """
    if max_ratio < 1:
        raise ValueError(f"max_ratio must be >= 1, got {max_ratio}")
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must be integers in 0..{n_classes - 1}")
    counts = np.bincount(labels.astype(int), minlength=n_classes)
    absent = [class_name(k, n_classes) for k in np.flatnonzero(counts == 0)]
    if absent:
        raise ValueError(f"class {', '.join(absent)} absent from labels: cannot weight it")
    weights = counts.sum() / counts
    weights = np.minimum(weights, weights.min() * max_ratio)
    return weights / weights.mean()
