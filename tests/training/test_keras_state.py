"""A process that runs unit after unit (a reused Ray trial actor, the in-process executor) holds
the graphs of none of the earlier ones."""

from __future__ import annotations

import gc

import numpy as np

from dfu.keras_setup import clear_keras_state, keras, tf


def _live_graphs() -> int:
    gc.collect()
    return sum(isinstance(o, tf.__internal__.FuncGraph) for o in gc.get_objects())


def _fit_a_small_model() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 3, 32)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)


def test_clearing_between_units_frees_every_earlier_fits_graphs():
    """``clear_session`` alone keeps each fit's train step alive through TensorFlow's gradient
    registry (tf-keras#286): ~7.5 MiB per fit, growing without bound over a search."""
    live = []
    for _ in range(3):
        _fit_a_small_model()
        clear_keras_state()
        live.append(_live_graphs())
    assert live[2] == live[0], live
