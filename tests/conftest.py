"""Shared fixtures: the real demo generator and config, shrunk so tests run in seconds."""

from __future__ import annotations

import os

# One Keras for the whole project (legacy tf-keras); must be set before TensorFlow loads.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from dfu.config import Config, load_config  # noqa: E402
from dfu.demo import make_demo  # noqa: E402
from tests.helpers.paths import TINY_CONFIG  # noqa: E402


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
    """The production config shrunk (``dfu/configs/tiny.yaml``: 16 px crops, 2 folds, one
    epoch a stage), its cache under tmp_path."""
    return load_config(TINY_CONFIG, [f"data.cache_dir={tmp_path / 'cache'}"])
