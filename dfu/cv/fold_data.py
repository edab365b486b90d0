"""One fold's rows as numpy arrays: ids, labels and model inputs of each part of a split.

Both executors build them the same way: the in-process runner from the loaded cache, a Ray
worker from the shared Ray Datasets (``cluster.images``); ``dfu.training.source.ArraySource``
serves them to the training protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dfu.constants import CLASSES, IMAGE_MODALITIES, PROBA_COLUMNS
from dfu.cv.sizing import Sizing, plan_sizing

SPLITS = ("train", "val", "test")


@dataclass
class SplitArrays:
    """Rows of one split: ids, integer labels, and model inputs by column name."""

    ids: pd.DataFrame  # set_id, assessment_id, patient
    labels: np.ndarray
    inputs: dict[str, np.ndarray]  # "metadata": (N, 3) float32; modality: (N, S, S, 3) uint8

    def __len__(self) -> int:
        return len(self.labels)


def fold_arrays(
    index: pd.DataFrame,
    images: dict[str, np.ndarray],
    split,
    metadata_proba: pd.DataFrame | None = None,
    *,
    permute_train_labels: bool = False,
    seed: int = 0,
) -> dict[str, SplitArrays]:
    """Image-set rows of each part of a ``FoldSplit``: ids, labels, the given modalities' crops
    and (when given) their assessment's metadata probabilities.

    ``index``: one row per image set (the cache's), row i of every ``images`` array.
    """
    out = {}
    for part, ids in (("train", split.train), ("val", split.val), ("test", split.test)):
        rows = np.flatnonzero(index["assessment_id"].isin(set(ids)).to_numpy())
        sub = index.iloc[rows]
        labels = sub["label_idx"].to_numpy().astype(np.int64)
        if part == "train" and permute_train_labels:
            labels = _permute_by_assessment(sub["assessment_id"].to_numpy(), labels, seed)
        inputs = {m: images[m][rows] for m in IMAGE_MODALITIES if m in images}
        if metadata_proba is not None:
            proba = metadata_proba.loc[sub["assessment_id"], PROBA_COLUMNS].to_numpy(np.float32)
            inputs["metadata"] = proba
        out[part] = SplitArrays(
            sub[["set_id", "assessment_id", "patient"]].reset_index(drop=True), labels, inputs
        )
    return out


def split_rows(index: pd.DataFrame, split) -> dict[str, int]:
    """Image sets per part of a split: what ``Sizing`` plans batches from."""
    return {
        part: int(index["assessment_id"].isin(set(ids)).sum())
        for part, ids in (("train", split.train), ("val", split.val), ("test", split.test))
    }


def _permute_by_assessment(assessments: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """Shuffle labels between assessments (all image sets of one keep one label): a leak check."""
    keys, first, inverse = np.unique(assessments, return_index=True, return_inverse=True)
    shuffled = np.random.default_rng(seed).permutation(labels[first])
    return shuffled[inverse]


def sizing_for(arrays: dict[str, SplitArrays], batch_size: int, workers: int = 1) -> Sizing:
    counts = np.bincount(arrays["train"].labels, minlength=len(CLASSES)).tolist()
    return plan_sizing({k: len(v) for k, v in arrays.items()}, counts, batch_size, workers)
