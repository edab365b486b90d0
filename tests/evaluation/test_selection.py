"""Honest selection: choose on inner validation per fold, score the choice on test.

The unit tests pin the rule (ties, missing scores); the synthetic runs show why it exists:
when nothing carries signal, the best of 15 test scores still looks like something, while
the procedure stays at chance; when one combination is planted to be best, it is chosen.
"""

import numpy as np
import pandas as pd
import pytest

from dfu.combos import CLINIC_MODALITIES, all_subsets, combo_name
from dfu.config import load_config
from dfu.evaluation.bootstrap import confusion, scores_from_confusion
from dfu.evaluation.selection import (
    choose,
    chosen_counts,
    chosen_predictions,
    most_chosen,
    unscored_folds,
)
from dfu.report.data import load_run
from dfu.report.stats import analyse
from tests.helpers.run_dirs import synthetic_run

CLINIC = [combo_name(c) for c in all_subsets(CLINIC_MODALITIES)]  # the clinic's 15
PLANTED = "metadata+depth_map"
NAN = float("nan")


def results(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["fold", "combo", "val_kappa", "kappa"])


def test_the_best_inner_validation_kappa_is_chosen_never_the_best_test_kappa():
    table = results(
        [
            (0, "metadata", 0.30, 0.90),
            (0, "metadata+depth_rgb", 0.40, 0.10),
            (1, "metadata", 0.50, 0.20),
            (1, "metadata+depth_rgb", 0.45, 0.80),
        ]
    )
    choices = choose(table, ["metadata", "metadata+depth_rgb"])
    assert [(c.fold, c.combo, c.val_kappa, c.test_kappa, c.candidates) for c in choices] == [
        (0, "metadata+depth_rgb", 0.40, 0.10, 2),
        (1, "metadata", 0.50, 0.20, 2),
    ]


def test_ties_go_to_fewer_modalities_then_to_the_name():
    table = results(
        [
            (0, "metadata+depth_rgb", 0.4, 0.0),
            (0, "thermal_map", 0.4, 0.0),
            (0, "depth_rgb", 0.4 + 1e-12, 0.0),  # equal to 9 decimals: a tie
            (1, "metadata+thermal_map", 0.4, 0.0),
            (1, "metadata+depth_rgb", 0.4, 0.0),
        ]
    )
    choices = choose(table, table["combo"].unique().tolist())
    assert [c.combo for c in choices] == ["depth_rgb", "metadata+depth_rgb"]


def test_only_candidates_are_chosen_and_missing_scores_come_last():
    table = results(
        [
            (0, "linear(depth_rgb)", 0.9, 0.9),
            (0, "metadata", NAN, 0.1),
            (0, "depth_rgb", 0.05, 0.2),
            (1, "metadata+depth_rgb", NAN, 0.3),
            (1, "metadata", NAN, 0.3),
        ]
    )
    choices = choose(table, ["metadata", "depth_rgb", "metadata+depth_rgb"])
    assert [c.combo for c in choices] == ["depth_rgb", "metadata"]  # fold 1: the simplest
    assert unscored_folds(choices) == [1]


def test_most_chosen_breaks_ties_by_mean_inner_validation_kappa():
    table = results(
        [
            (0, "a", 0.5, 0),
            (0, "b", 0.1, 0),
            (1, "a", 0.1, 0),
            (1, "b", 0.6, 0),
            (2, "a", 0.2, 0),
            (2, "b", 0.1, 0),
            (3, "a", 0.0, 0),
            (3, "b", 0.9, 0),
        ]
    )
    choices = choose(table, ["a", "b"])
    assert chosen_counts(choices) == {"a": 2, "b": 2}
    assert most_chosen(choices, table) == "b"  # mean inner-val 0.425 vs 0.2
    assert most_chosen(choices[:3], table) == "a"  # chosen twice out of three


def test_each_assessment_is_scored_by_its_folds_chosen_model():
    frame = pd.DataFrame({"fold": [0, 0, 1, 1], "assessment_id": ["a", "b", "c", "d"]})
    predictions = {"x": frame.assign(combo="x"), "y": frame.assign(combo="y")}
    table = results([(0, "x", 0.9, 0), (0, "y", 0.1, 0), (1, "x", 0.1, 0), (1, "y", 0.9, 0)])
    rows = chosen_predictions(choose(table, ["x", "y"]), predictions)
    assert rows[["assessment_id", "combo"]].values.tolist() == [
        ["a", "x"],
        ["b", "x"],
        ["c", "y"],
        ["d", "y"],
    ]


def selection_of(root, demo, **kwargs):
    layout = synthetic_run(root, demo, CLINIC, n_folds=2, baselines=False, **kwargs)
    return layout, analyse(load_run(layout.root), n_boot=200).selection


def test_a_run_without_signal_reports_chance_not_its_best_of_15(demo_dir_medium, tmp_path):
    """Every combination's inner-validation and test predictions are independent of the truth:
    the procedure scores ~0, the ranking's best of 15 test kappas looks like something."""
    noise = dict.fromkeys(CLINIC, 0.0)
    _, sel = selection_of(tmp_path / "run", demo_dir_medium, strength=noise)
    assert len(sel.candidates) == 15 and sel.assessments == sel.best_of_n.assessments == 145
    assert abs(sel.kappa.value) < 0.15 and sel.kappa.low < 0 < sel.kappa.high
    assert sel.best_of_n.assessment["kappa"].value > sel.kappa.value + 0.05


def noise_study(rng, n_combos=15, folds=5, test=300, val=60) -> tuple[float, float]:
    """One study where nothing carries signal: (procedure's pooled kappa, best-of-N kappa)."""
    prior = [0.37, 0.52, 0.11]
    y = rng.choice(3, test, p=prior)
    fold = np.arange(test) % folds
    guesses = rng.integers(0, 3, (n_combos, test))
    names = [f"c{i:02d}" for i in range(n_combos)]
    rows = [
        (k, name, kappa(rng.choice(3, val, p=prior), rng.integers(0, 3, val)), NAN)
        for k in range(folds)
        for name in names
    ]
    frames = {
        name: pd.DataFrame({"fold": fold, "y": y, "guess": guesses[i]})
        for i, name in enumerate(names)
    }
    pooled = chosen_predictions(choose(results(rows), names), frames)
    return kappa(pooled["y"], pooled["guess"]), max(kappa(y, g) for g in guesses)


def kappa(y, guess) -> float:
    return float(scores_from_confusion(confusion(y, guess))["kappa"])


def test_over_many_noise_studies_the_procedure_is_unbiased_and_best_of_15_is_not():
    rng = np.random.default_rng(0)
    chosen, best = np.array([noise_study(rng) for _ in range(300)]).T
    assert abs(chosen.mean()) < 0.01  # unbiased: ~0 on average (sd of one study ~0.05)
    assert best.mean() > 0.05 and (best > chosen).mean() > 0.85


def test_a_planted_best_combination_is_chosen_in_every_fold(demo_dir_medium, tmp_path):
    strength = {**dict.fromkeys(CLINIC, 0.0), PLANTED: 3.0}
    layout, sel = selection_of(tmp_path / "run", demo_dir_medium, strength=strength)
    assert sel.counts == {PLANTED: 2} and sel.unscored == []
    assert sel.best_of_n.name == PLANTED
    assert sel.kappa.value == pytest.approx(sel.best_of_n.assessment["kappa"].value)
    assert sel.kappa.low > 0.3

    from dfu.runs.bundle import best_combo

    assert best_combo(layout, load_config(layout.config)) == PLANTED
