"""Tiny in-memory fold data with a planted (or no) image signal, for fast protocol tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dfu.cv.fold_data import SplitArrays, sizing_for
from dfu.training.source import ArraySource

SIZE = 16


def synthetic_split(n: int, rng: np.random.Generator, signal: bool = True) -> SplitArrays:
    """Images whose centre brightness encodes the class (or not), metadata probabilities likewise."""
    y = rng.choice(3, n, p=[0.3, 0.55, 0.15])
    level = 60 + 60 * y if signal else rng.choice([60, 120, 180], n)
    img = rng.integers(40, 80, size=(n, SIZE, SIZE, 3)).astype(np.int16)
    img[:, 4:12, 4:12, :] += (level[:, None, None, None] + rng.normal(0, 25, (n, 8, 8, 3))).astype(
        np.int16
    )
    meta = np.full((n, 3), 1 / 3) + (0.25 * np.eye(3)[y] if signal else 0)
    meta = meta / meta.sum(1, keepdims=True)
    ids = pd.DataFrame(
        {
            "set_id": [f"s{i}" for i in range(n)],
            "assessment_id": [f"a{i}" for i in range(n)],
            "patient": np.arange(n),
        }
    )
    inputs = {
        "metadata": meta.astype(np.float32),
        "thermal_map": np.clip(img, 0, 255).astype(np.uint8),
    }
    return SplitArrays(ids, y.astype(np.int64), inputs)


def synthetic_source(
    *, n_train=240, n_val=90, n_test=90, batch=32, seed=0, signal=True
) -> ArraySource:
    rng = np.random.default_rng(seed)
    arrays = {
        "train": synthetic_split(n_train, rng, signal),
        "val": synthetic_split(n_val, rng, signal),
        "test": synthetic_split(n_test, rng, signal),
    }
    return ArraySource(arrays, sizing_for(arrays, batch), seed=seed)
