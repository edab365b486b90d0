"""A *source*: what the training protocol reads, here tf.data over one fold's numpy arrays.

A source has ``sizing`` (``dfu.cv.sizing.Sizing``), ``arrays`` (split -> ``SplitArrays``),
``dataset(split, columns, shuffle, local)`` returning batched ``(features dict, one-hot
label)`` and ``labels(split)``. Both executors build it from the same arrays: the in-process
runner from the loaded cache, a Ray worker from the shared Ray Datasets (``cluster.images``).
TensorFlow is imported when a dataset is first made, not with this module.
"""

from __future__ import annotations

import numpy as np

from dfu.constants import CLASSES
from dfu.cv.fold_data import SplitArrays
from dfu.cv.sizing import Sizing


class ArraySource:
    """In-memory source: tf.data over numpy arrays.

    With several workers (``MultiWorkerMirroredStrategy``) every worker holds the whole split
    and shuffles it with the same seed, and tf.data's DATA auto-shard policy hands worker i
    its part of every global batch: exactly ``ceil(rows / batch)`` steps of the planned global
    batch, every row once per epoch (``dfu.training.callbacks.StepsGuard`` checks it).
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
        # No autotuning: with it, two trainings sharing 2 cores left the CPU ~20% idle and each
        # fit ran ~40% slower (a small Keras fit on 32 px: 8.2-10.1 s in each of two processes
        # with it, 5.5-6.4 s without, 6.0-6.4 s alone; the Ray search's CPU use while units
        # run went from 0.82 to 0.92). The pipeline is in-memory arrays and a one-hot map
        # (augmentation runs in the model): nothing to tune.
        options.autotune.enabled = False
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
