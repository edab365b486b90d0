"""The planted signal: class-conditional distributions of every informative latent variable.

One table drives both sampling (the generator) and the exact log-likelihoods (the oracle),
so the recorded Bayes-optimal answer is the answer for the data actually written.
Classes are ordinal I < P < R; every signal is conditionally independent given the class,
so metadata and each image source carry complementary, partly redundant evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_CLASSES = 3


@dataclass(frozen=True)
class Gaussian:
    """x | class ~ Normal(means[class], sd)."""

    means: tuple[float, float, float]
    sd: float

    def sample(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(self.means)[y] + rng.normal(0.0, self.sd, size=len(y))

    def loglik(self, x: np.ndarray) -> np.ndarray:
        """(N, 3) log p(x | class), up to a constant shared by the classes; NaN x -> 0."""
        z = (x[:, None] - np.asarray(self.means)[None, :]) / self.sd
        out = -0.5 * z**2
        return np.where(np.isnan(x)[:, None], 0.0, out)


@dataclass(frozen=True)
class Categorical:
    """x | class ~ Categorical(probs[class]) over values 0..K-1."""

    probs: tuple[tuple[float, ...], ...]

    def sample(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        table = np.asarray(self.probs)
        u = rng.random(len(y))[:, None]
        return (u > np.cumsum(table[y], axis=1)).sum(axis=1).astype(float)

    def loglik(self, x: np.ndarray) -> np.ndarray:
        table = np.log(np.asarray(self.probs))  # (3, K)
        idx = np.nan_to_num(x, nan=0).astype(int)
        out = table[:, idx].T
        return np.where(np.isnan(x)[:, None], 0.0, out)


# Metadata: a few informative clinical variables; every other column is noise.
METADATA_SIGNALS = {
    "peri_temp": Gaussian((1.0, 0.45, 0.0), 0.9),  # normalised peri-ulcer temperature, degC
    "log_onset": Gaussian((3.7, 4.3, 4.7), 0.9),  # log days since onset
    "exudate": Categorical(((0.1, 0.3, 0.4, 0.2), (0.25, 0.4, 0.25, 0.1), (0.5, 0.35, 0.1, 0.05))),
    "erythema": Categorical(((0.45, 0.55), (0.7, 0.3), (0.8, 0.2))),
}

# Images: one latent per physical property; each image modality shows one of them.
IMAGE_SIGNALS = {
    "appearance": Gaussian((-1.0, 0.0, 1.0), 1.0),  # wound-bed colour, seen by both RGB cameras
    "heat": Gaussian((1.05, 0.0, -1.0), 1.0),  # hot-spot amplitude in the thermal map
    "crater": Gaussian((1.0, 0.0, -1.0), 1.0),  # wound depth in the depth map
}
MODALITY_SIGNAL = {
    "depth_rgb": "appearance",
    "thermal_rgb": "appearance",
    "thermal_map": "heat",
    "depth_map": "crater",
}


def posterior(logliks: list[np.ndarray], prior: np.ndarray) -> np.ndarray:
    """Normalised posterior from summed log-likelihoods and a class prior."""
    total = np.log(prior)[None, :] + sum(logliks)
    total -= total.max(axis=1, keepdims=True)
    p = np.exp(total)
    return p / p.sum(axis=1, keepdims=True)
