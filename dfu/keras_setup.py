"""The one place that imports Keras: legacy tf-keras, for every process of the project.

Keras 3 cannot run ``fit`` under ``MultiWorkerMirroredStrategy`` with dict inputs
(ray-project/ray#47464, keras-team/keras#20585), while tf-keras works for one or many
workers; mixing the two breaks callbacks. ``TF_USE_LEGACY_KERAS`` must be set before
TensorFlow is first imported, so import Keras only through this module.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def native_stderr_quiet():
    """TensorFlow's C++ start-up lines off (the oneDNN notice, "Could not find cuda drivers",
    "failed call to cuInit" on CPU-only machines): absl writes them to the process's stderr
    before TF_CPP_MIN_LOG_LEVEL applies. Python errors still raise; TF_CPP_MIN_LOG_LEVEL=0
    (cluster.connect sets it for --verbose) shows everything."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with native_stderr_quiet():
    import tensorflow as tf
    import tf_keras as keras

    tf.config.list_physical_devices("GPU")  # the CUDA probe, done once, quietly

__all__ = ["keras", "tf", "configure_tensorflow", "clear_keras_state"]


def configure_tensorflow(threads: int) -> None:
    """Compute threads = the CPUs a unit may use (in-process runs and Ray workers alike); GPUs
    grow their memory as needed.

    TensorFlow fixes its thread pools when it first runs an op, so this runs once per process
    before any unit; later calls (a reused Ray actor) leave them as they are.
    """
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    try:  # both pools: concurrent trials on one machine must not oversubscribe its cores
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # already initialised in this process
        pass


def clear_keras_state() -> None:
    """No graph, layer name or traced step of an earlier unit left in this process.

    ``clear_session`` alone leaks every ``fit``'s train step: its gradient all-reduce (the
    default strategy's ``ReplicaContext.all_reduce``, a ``tf.custom_gradient``) registers a
    gradient function under a fresh name in TensorFlow's global gradient registry, which is
    never emptied and holds the step's whole graph (tf-keras#286). Measured with TF 2.21: 7.5
    MiB per ``fit``, ~44 MiB per fusion trial, so a Ray trial process that Tune reuses grew
    ~180 MiB over the demo search. Call it between units only, when no model of an earlier one
    is alive: a registration is read while its step is traced, never after.
    """
    from tensorflow.python.framework import ops  # the registry has no public API

    keras.backend.clear_session()
    registry = ops._gradient_registry._registry
    for name in [n for n in registry if n.startswith("CustomGradient-")]:
        del registry[name]
    gc.collect()
