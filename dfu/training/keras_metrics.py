"""Streaming Keras metrics: Cohen's kappa and predicted-class fractions.

Computed inside ``fit``/``evaluate`` from an accumulated confusion matrix, so they are
exact over the whole validation set and aggregate correctly across replicas and workers
under a distribution strategy (no Python-side prediction loop needed).
"""

from __future__ import annotations

from dfu.constants import CLASSES
from dfu.keras_setup import keras, tf

N = len(CLASSES)


class _ConfusionMetric(keras.metrics.Metric):
    def __init__(self, name: str, **kwargs):
        super().__init__(name=name, **kwargs)
        self.matrix = self.add_weight("matrix", shape=(N, N), initializer="zeros", dtype=tf.float64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        truth = tf.argmax(y_true, axis=-1)
        pred = tf.argmax(y_pred, axis=-1)
        batch = tf.math.confusion_matrix(truth, pred, num_classes=N, dtype=tf.float64)
        self.matrix.assign_add(batch)

    def reset_state(self):
        self.matrix.assign(tf.zeros((N, N), tf.float64))


class CohenKappa(_ConfusionMetric):
    """Unweighted (or quadratic-weighted) Cohen's kappa; 0 when undefined."""

    def __init__(self, name: str = "kappa", quadratic: bool = False, **kwargs):
        super().__init__(name=name, **kwargs)
        self.quadratic = quadratic

    def result(self):
        m = self.matrix
        total = tf.reduce_sum(m)
        expected = tf.tensordot(tf.reduce_sum(m, 1), tf.reduce_sum(m, 0), axes=0) / tf.maximum(
            total, 1.0
        )
        idx = tf.range(N, dtype=tf.float64)
        if self.quadratic:
            weights = tf.square(idx[:, None] - idx[None, :]) / float((N - 1) ** 2)
        else:
            weights = 1.0 - tf.eye(N, dtype=tf.float64)
        observed = tf.reduce_sum(weights * m)
        chance = tf.reduce_sum(weights * expected)
        return tf.cast(
            tf.where(chance > 0, 1.0 - observed / tf.maximum(chance, 1e-12), 0.0), tf.float32
        )

    def get_config(self):
        return {**super().get_config(), "quadratic": self.quadratic}


class PredictedFraction(_ConfusionMetric):
    """Fraction of rows predicted as one class: reveals a collapse to a single class."""

    def __init__(self, class_index: int, name: str | None = None, **kwargs):
        super().__init__(name=name or f"pred_{CLASSES[class_index]}", **kwargs)
        self.class_index = class_index

    def result(self):
        per_class = tf.reduce_sum(self.matrix, axis=0)
        return tf.cast(
            per_class[self.class_index] / tf.maximum(tf.reduce_sum(per_class), 1.0), tf.float32
        )

    def get_config(self):
        return {**super().get_config(), "class_index": self.class_index}


def stage_metrics() -> list[keras.metrics.Metric]:
    return [CohenKappa(), *(PredictedFraction(k) for k in range(N))]
