"""Fixtures of the data-layer tests."""

from __future__ import annotations

import pytest

from dfu.data.zivot import read_zivot
from tests.helpers.damage import CFG


@pytest.fixture(scope="module")
def baseline(demo_dir_small):
    """The shared demo clinic as the reader sees it, undamaged."""
    return read_zivot(CFG, demo_dir_small)
