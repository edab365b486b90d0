"""The acceptance suite's datasets: written once per pytest worker, each when first asked for."""

from __future__ import annotations

import pytest

from tests.helpers.learning import Datasets


@pytest.fixture(scope="session")
def datasets(tmp_path_factory) -> Datasets:
    return Datasets(tmp_path_factory.mktemp("learning"))
