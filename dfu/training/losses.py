"""Loss: Keras' categorical focal cross-entropy with capped per-class alpha."""

from __future__ import annotations

import numpy as np

from dfu.config import TrainingConfig
from dfu.constants import CLASSES
from dfu.keras_setup import keras
from dfu.models.class_balance import capped_inverse_frequency


def class_alpha(labels: np.ndarray, cfg: TrainingConfig) -> list[float]:
    """Per-class alpha: configured, or from training frequencies; max/min capped either way.

    An uncapped alpha drove the clinic's old pipeline to predict the rarest class for every
    image (seed analysis RC2), hence the cap.
    """
    if cfg.alpha is not None:
        alpha = np.asarray(cfg.alpha, dtype=float)
        if alpha.max() / alpha.min() > cfg.alpha_max_ratio + 1e-9:
            raise ValueError(
                f"training.alpha {cfg.alpha} has max/min {alpha.max() / alpha.min():.1f} > "
                f"training.alpha_max_ratio {cfg.alpha_max_ratio}"
            )
        return alpha.tolist()
    return capped_inverse_frequency(labels, len(CLASSES), cfg.alpha_max_ratio).tolist()


def focal_loss(alpha: list[float], gamma: float) -> keras.losses.Loss:
    return keras.losses.CategoricalFocalCrossentropy(alpha=list(alpha), gamma=gamma)
