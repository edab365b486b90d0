"""Learning on the demo clinic, whose Bayes-optimal answer is known: branches against their
linear baselines, the fusion against its members and the oracle, every stage's health (the
bars: ``tests.helpers.learning``)."""

from __future__ import annotations

import pytest

from dfu.constants import IMAGE_MODALITIES
from tests.helpers.learning import assert_healthy, check_search, learn, runs


@pytest.mark.parametrize("dataset, settings, scope", runs(["demo"]))
def test_branches_learn_and_fusion_never_falls_below_its_best_member(
    datasets, dataset, settings, scope
):
    check_search(datasets, dataset, settings, scope)


@pytest.mark.acceptance_full  # ~4.5 min on a slow 2-core VM; tests/training checks each verdict
def test_fold0_stages_are_healthy_for_every_single_image(datasets):
    """Pre-training and stage 1 must learn; nothing may collapse. Stage 2 may find nothing to
    add (it is then reverted, and says so)."""
    rows = learn(datasets, "demo", "demo", list(IMAGE_MODALITIES), "health", "search.folds=[0]")
    assert_healthy(rows)
