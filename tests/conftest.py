"""Shared fixtures: the real demo generator and config, shrunk so tests run in seconds."""

from __future__ import annotations

import os

# One Keras for the whole project (legacy tf-keras); must be set before TensorFlow loads.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from dfu.config import Config, load_config  # noqa: E402
from dfu.data.demo import make_demo  # noqa: E402


@pytest.fixture(scope="session")
def demo_dir_small(tmp_path_factory):
    """A tiny demo clinic (8 patients) in the Zivot layout. Read-only: copy before corrupting."""
    out = tmp_path_factory.mktemp("demo_small")
    make_demo(out, patients=8, seed=1, workers=2)
    return out


@pytest.fixture(scope="session")
def demo_dir_medium(tmp_path_factory):
    """A demo clinic big enough for learning checks (24 patients)."""
    out = tmp_path_factory.mktemp("demo_medium")
    make_demo(out, patients=24, seed=3, workers=2)
    return out


@pytest.fixture
def tiny_config(tmp_path) -> Config:
    """The production config, shrunk: small images, few epochs, cache under tmp_path."""
    return load_config(
        overrides=[
            "data.image_size=32",
            f"data.cache_dir={tmp_path / 'cache'}",
            "folds.n_folds=3",
            "metadata.n_estimators=50",
            "metadata.oof_folds=3",
            "training.batch_size=32",
            "training.pretrain.epochs=2",
            "training.stage1.epochs=2",
            "training.stage2.epochs=1",
            "training.pretrain.patience=2",
            "training.stage1.patience=2",
            "training.stage2.patience=1",
            "model.filters=[8, 16]",
            "model.head_units=16",
        ]
    )
