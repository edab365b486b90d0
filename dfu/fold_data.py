"""One fold's rows as arrays, and a tf.data source over them (the single-process path).

A *source* is what the training protocol reads: ``source.sizing`` and
``source.dataset(split, columns, shuffle)`` returning batched ``(features dict, one-hot
label)``. Both executors build it from the same arrays: the in-process runner from the
loaded cache, a Ray worker from the shared Ray Datasets (``cluster.images``).
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


def fold_arrays(index: pd.DataFrame, images: dict[str, np.ndarray], split,
                metadata_proba: pd.DataFrame | None = None, permute_train_labels: bool = False,
                seed: int = 0) -> dict[str, SplitArrays]:  # fmt: skip
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
        out[part] = SplitArrays(sub[["set_id", "assessment_id", "patient"]].reset_index(drop=True),
                                labels, inputs)  # fmt: skip
    return out


def split_rows(index: pd.DataFrame, split) -> dict[str, int]:
    """Image sets per part of a split: what ``Sizing`` plans batches from."""
    return {part: int(index["assessment_id"].isin(set(ids)).sum())
            for part, ids in (("train", split.train), ("val", split.val), ("test", split.test))}  # fmt: skip


def _permute_by_assessment(assessments: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """Shuffle labels between assessments (all image sets of one keep one label): a leak check."""
    keys, first, inverse = np.unique(assessments, return_index=True, return_inverse=True)
    shuffled = np.random.default_rng(seed).permutation(labels[first])
    return shuffled[inverse]


def sizing_for(arrays: dict[str, SplitArrays], batch_size: int, workers: int = 1) -> Sizing:
    counts = np.bincount(arrays["train"].labels, minlength=len(CLASSES)).tolist()
    return plan_sizing({k: len(v) for k, v in arrays.items()}, counts, batch_size, workers)


class ArraySource:
    """In-memory source: tf.data over numpy arrays.

    With several workers (``MultiWorkerMirroredStrategy``) every worker holds the whole split
    and shuffles it with the same seed, and tf.data's DATA auto-shard policy hands worker i
    its part of every global batch: exactly ``ceil(rows / batch)`` steps of the planned global
    batch, every row once per epoch (``dfu.training.StepsGuard`` checks it).
    """

    def __init__(self, arrays: dict[str, SplitArrays], sizing: Sizing, seed: int = 0):
        self.arrays, self.sizing, self.seed = arrays, sizing, seed

    def dataset(self, split: str, columns, shuffle: bool = False, local: bool = False):
        """Batched ``(features, one-hot label)``; ``local``: this worker's own copy, unsharded
        (to predict outside the strategy)."""
        from dfu.keras_setup import tf

        data = self.arrays[split]
        features = {c: data.inputs[c] for c in columns}
        ds = tf.data.Dataset.from_tensor_slices((features, data.labels))
        if shuffle:
            ds = ds.shuffle(len(data), seed=self.seed, reshuffle_each_iteration=True)
        ds = ds.batch(self.sizing.batch_size)
        ds = ds.map(one_hot, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
        options = tf.data.Options()
        policy = tf.data.experimental.AutoShardPolicy
        sharded = self.sizing.workers > 1 and not local
        options.experimental_distribute.auto_shard_policy = policy.DATA if sharded else policy.OFF
        return ds.with_options(options)

    def labels(self, split: str) -> np.ndarray:
        return self.arrays[split].labels


def one_hot(features, label):
    """(features, int label) -> (features, one-hot float label) for the focal loss."""
    from dfu.keras_setup import tf

    return features, tf.one_hot(tf.cast(tf.reshape(label, [-1]), tf.int32), len(CLASSES))
