"""One fold's rows as arrays, and a tf.data source over them (the single-process path).

A *source* is what the training protocol reads: ``source.sizing`` and
``source.dataset(split, columns, shuffle)`` returning batched ``(features dict, one-hot
label)``. This module gives the in-memory source; ``cluster/`` gives one over Ray Dataset
shards with the same interface, so ``dfu.training`` runs unchanged in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dfu.config import CLASSES, IMAGE_MODALITIES
from dfu.metrics import PROBA_COLUMNS
from dfu.sizing import Sizing, plan_sizing

SPLITS = ("train", "val", "test")


@dataclass
class SplitArrays:
    """Rows of one split: ids, integer labels, and model inputs by column name."""

    ids: pd.DataFrame  # set_id, assessment_id, patient
    labels: np.ndarray
    inputs: dict[str, np.ndarray]  # "metadata": (N, 3) float32; modality: (N, S, S, 3) uint8

    def __len__(self) -> int:
        return len(self.labels)


def fold_arrays(cache, split, metadata_proba: pd.DataFrame, permute_train_labels: bool = False,
                seed: int = 0) -> dict[str, SplitArrays]:  # fmt: skip
    """Image-set rows of each part of a ``FoldSplit``, with their assessment's RF probabilities."""
    index = cache.index
    out = {}
    for part, ids in (("train", split.train), ("val", split.val), ("test", split.test)):
        rows = np.flatnonzero(index["assessment_id"].isin(set(ids)).to_numpy())
        sub = index.iloc[rows]
        labels = sub["label_idx"].to_numpy().astype(np.int64)
        if part == "train" and permute_train_labels:
            labels = _permute_by_assessment(sub["assessment_id"].to_numpy(), labels, seed)
        inputs = {m: cache.images[m][rows] for m in IMAGE_MODALITIES if m in cache.images}
        proba = metadata_proba.loc[sub["assessment_id"], PROBA_COLUMNS].to_numpy(np.float32)
        inputs["metadata"] = proba
        out[part] = SplitArrays(sub[["set_id", "assessment_id", "patient"]].reset_index(drop=True),
                                labels, inputs)  # fmt: skip
    return out


def _permute_by_assessment(assessments: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """Shuffle labels between assessments (all image sets of one keep one label): a leak check."""
    keys, first, inverse = np.unique(assessments, return_index=True, return_inverse=True)
    shuffled = np.random.default_rng(seed).permutation(labels[first])
    return shuffled[inverse]


def sizing_for(arrays: dict[str, SplitArrays], batch_size: int, workers: int = 1) -> Sizing:
    counts = np.bincount(arrays["train"].labels, minlength=len(CLASSES)).tolist()
    return plan_sizing({k: len(v) for k, v in arrays.items()}, counts, batch_size, workers)


class ArraySource:
    """In-memory source for one process: tf.data over numpy arrays."""

    def __init__(self, arrays: dict[str, SplitArrays], sizing: Sizing, seed: int = 0):
        self.arrays, self.sizing, self.seed = arrays, sizing, seed

    def dataset(self, split: str, columns, shuffle: bool = False):
        from dfu.keras_setup import tf

        data = self.arrays[split]
        features = {c: data.inputs[c] for c in columns}
        ds = tf.data.Dataset.from_tensor_slices((features, data.labels))
        if shuffle:
            ds = ds.shuffle(len(data), seed=self.seed, reshuffle_each_iteration=True)
        ds = ds.batch(self.sizing.batch_size)
        return ds.map(one_hot, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def labels(self, split: str) -> np.ndarray:
        return self.arrays[split].labels


def one_hot(features, label):
    """(features, int label) -> (features, one-hot float label) for the focal loss."""
    from dfu.keras_setup import tf

    return features, tf.one_hot(tf.cast(tf.reshape(label, [-1]), tf.int32), len(CLASSES))
