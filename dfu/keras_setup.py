"""The one place that imports Keras: legacy tf-keras, for every process of the project.

Keras 3 cannot run ``fit`` under ``MultiWorkerMirroredStrategy`` with dict inputs
(ray-project/ray#47464, keras-team/keras#20585), while tf-keras works for one or many
workers; mixing the two breaks callbacks. ``TF_USE_LEGACY_KERAS`` must be set before
TensorFlow is first imported, so import Keras only through this module.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

__all__ = ["keras", "tf"]
