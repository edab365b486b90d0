"""The Keras callbacks of every stage besides early stopping: the planned-steps check, the
weights' motion (for the ``no-learning`` verdict) and TensorBoard logs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dfu.keras_setup import keras


class StepsGuard(keras.callbacks.Callback):
    """Fails the stage if an epoch did not run exactly the planned number of batches."""

    def __init__(self, expected: int, stage: str):
        super().__init__()
        self.expected, self.stage, self.seen = expected, stage, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1

    def on_epoch_end(self, epoch, logs=None):
        if self.seen != self.expected:
            raise RuntimeError(
                f"{self.stage} epoch {epoch + 1} ran {self.seen} batches, planned "
                f"{self.expected} (= ceil(rows / batch)): the data source and sizing disagree"
            )


class WeightMotion(keras.callbacks.Callback):
    """The largest relative change of the trainable weights from the stage's start, per epoch:
    how ``no-learning`` tells a stage that could not move from one that moved to no avail."""

    def on_train_begin(self, logs=None):
        self.start = [w.numpy() for w in self.model.trainable_weights]
        self.norm = max(float(np.sqrt(sum(np.sum(w**2) for w in self.start))), 1e-12)
        self.largest = 0.0

    def on_epoch_end(self, epoch, logs=None):
        now = [w.numpy() for w in self.model.trainable_weights]
        moved = sum(np.sum((a - b) ** 2) for a, b in zip(now, self.start, strict=True))
        self.largest = max(self.largest, float(np.sqrt(moved)) / self.norm)


def tensorboard(log_dir, name: str) -> list:
    """A TensorBoard callback writing under ``log_dir/name``; none without ``log_dir``."""
    if not log_dir:
        return []
    return [
        keras.callbacks.TensorBoard(str(Path(log_dir) / name), write_graph=False, profile_batch=0)
    ]
