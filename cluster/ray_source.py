"""The training protocol's *source* (see ``dfu.fold_data``) over a Train worker's Ray Datasets.

Same interface as ``dfu.fold_data.ArraySource``: ``.sizing`` and ``.dataset(split, columns,
shuffle)`` -> batched ``(features dict, one-hot label)``, so ``dfu.training`` runs unchanged.
Every epoch must run exactly ``sizing.steps[split]`` batches of ``sizing.batch_size`` rows
(``dfu.training.StepsGuard`` checks it). How that holds:

- One worker: the whole split, batched ``batch_size``, ``ceil(rows / batch)`` batches, asserted.
- n workers (``MultiWorkerMirroredStrategy``): if Ray split the rows (``equal=True``) and
  tf.data auto-sharding were OFF, tf.distribute would still cut every per-worker batch into n
  pieces and run them all: ``n * ceil(floor(rows / n) / batch)`` steps of uneven size, and up
  to n-1 rows dropped per epoch (measured: 96 rows, batch 32, 2 workers -> 4 steps, not 3).
  So each worker reads the *whole* split in the same order, shuffled with the same seed,
  and tf.distribute's DATA auto-shard policy hands worker i its part of every global batch:
  exactly ``ceil(rows / batch)`` steps of the planned global batch, every row once per epoch
  (verified on 95-97 rows, batches 20 and 32). The Train trainer is told not to split
  (``DATA_CONFIG``).

TensorFlow is imported inside the methods: only Train workers call them.
"""

from __future__ import annotations

import numpy as np
import ray.train
from ray.train import DataConfig

from cluster.columns import ID_COLUMNS, LABEL
from dfu.sizing import Sizing


def data_config() -> DataConfig:
    """No Ray-side split (see above) and a fixed row order, so every worker sees the same stream."""
    options = DataConfig.default_ingest_options()
    options.preserve_order = True
    return DataConfig(datasets_to_split=[], execution_options=options)


class RayShardSource:
    """A Train worker's view of its fold: ``dataset()`` for Keras, ``rows()`` for scoring."""

    def __init__(self, sizing: Sizing, seed: int = 0, workers: int = 1):
        self.sizing, self.seed, self.workers = sizing, seed, workers

    def dataset(self, split: str, columns, shuffle: bool = False):
        from dfu.fold_data import one_hot
        from dfu.keras_setup import tf

        batch = self.sizing.batch_size
        ds = ray.train.get_dataset_shard(split).to_tf(
            feature_columns=list(columns), label_columns=LABEL, batch_size=batch
        )
        if shuffle:  # in tf.data, seeded: the same order on every worker, a new one every epoch
            rows = self.sizing.rows[split]
            ds = ds.unbatch().shuffle(rows, seed=self.seed, reshuffle_each_iteration=True)
            ds = ds.batch(batch)
        ds = ds.map(one_hot, num_parallel_calls=tf.data.AUTOTUNE)
        # Known length: no "ran out of data" guessing, and a wrong plan fails loudly here.
        ds = ds.apply(tf.data.experimental.assert_cardinality(self.sizing.steps[split]))
        return ds.prefetch(tf.data.AUTOTUNE).with_options(self._shard_options(tf))

    def _shard_options(self, tf):
        policy = tf.data.experimental.AutoShardPolicy
        options = tf.data.Options()
        sharded = self.workers > 1
        options.experimental_distribute.auto_shard_policy = policy.DATA if sharded else policy.OFF
        return options

    def rows(self, split: str, columns) -> dict[str, np.ndarray]:
        """A whole split as numpy columns (ids, label and ``columns``), in one pass."""
        wanted = [*ID_COLUMNS, LABEL, *columns]
        parts: dict[str, list] = {c: [] for c in wanted}
        for batch in ray.train.get_dataset_shard(split).iter_batches(
            batch_size=self.sizing.batch_size, batch_format="numpy"
        ):
            for c in wanted:
                parts[c].append(batch[c])
        return {c: np.concatenate(v) for c, v in parts.items()}
