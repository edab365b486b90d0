"""Learning where the answer is known another way: real digit images (a dataset not designed
for this model, its metadata noise), the demo with its images shuffled (images carry no signal)
and training labels permuted before anything is fitted (every model at chance). The bars:
``tests.helpers.learning``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dfu.constants import PROBA_COLUMNS
from dfu.evaluation.metrics import assessment_probabilities, classification_metrics
from tests.helpers.learning import check_search, learn, runs


@pytest.mark.parametrize("dataset, settings, scope", runs(["digits", "shuffled"]))
def test_branches_learn_and_fusion_never_falls_below_its_best_member(
    datasets, dataset, settings, scope
):
    check_search(datasets, dataset, settings, scope)


@pytest.mark.acceptance
def test_permuted_training_labels_leave_the_metadata_model_at_chance(datasets):
    """The forest, labels permuted inside training data, over 6 CV draws: mean kappa ~ 0.
    (One fold's null kappa has sd ~0.1 with ~80 test assessments, hence many draws.)"""
    kappas = []
    for seed in range(6):
        rows = learn(
            datasets,
            "demo",
            "demo",
            ["metadata"],
            f"leak-metadata-{seed}",
            "training.permute_train_labels=true",
            f"folds.seed={seed}",
        )
        kappas.extend(rows.loc[rows["combo"] == "metadata", "kappa"])
    assert abs(np.mean(kappas)) <= 0.05, kappas


@pytest.mark.acceptance_full  # ~6.5 min on a slow 2-core VM: beyond CI's budget there
def test_permuted_training_labels_leave_the_fusion_at_chance(datasets):
    """The image pipeline, permuted: pooled out-of-fold kappa over all 3 folds near 0."""
    rows = learn(
        datasets,
        "demo",
        "demo",
        ["metadata+depth_rgb+thermal_map"],
        "leak-fusion",
        "training.permute_train_labels=true",
    )
    fusion = rows[rows["combo"] == "metadata+depth_rgb+thermal_map"]
    pooled = assessment_probabilities(pd.concat(list(fusion["predictions"])))
    kappa = classification_metrics(pooled["y_true"].to_numpy(), pooled[PROBA_COLUMNS].to_numpy())[
        "kappa"
    ]
    assert abs(kappa) <= 0.1, fusion[["fold", "kappa"]]
