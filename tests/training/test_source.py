"""The tf.data pipeline every executor trains on: each row once per epoch, the planned batch,
and the options that keep concurrent trainings from idling the CPU."""

from __future__ import annotations

import numpy as np

from tests.helpers.protocol import synthetic_source


def test_an_epoch_is_every_row_once_in_planned_batches_without_autotuning():
    source = synthetic_source(n_train=70, batch=32)
    ds = source.dataset("train", ["metadata", "thermal_map"], shuffle=True)
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == source.sizing.steps["train"] == 3  # ceil(70 / 32)
    labels = np.concatenate([one_hot.argmax(1) for _, one_hot in batches])
    assert sorted(labels) == sorted(source.labels("train"))
    assert batches[0][0]["thermal_map"].shape[0] == source.sizing.batch_size
    # tf.data's autotuner left 2 cores ~20% idle under two concurrent fits (bench-search).
    assert ds.options().autotune.enabled is False
