import shutil

import numpy as np
import pandas as pd
import pytest

from dfu.constants import PROBA_COLUMNS
from dfu.evaluation.ensemble import ENSEMBLE, average_probabilities, ensemble_members
from dfu.evaluation.metrics import score_predictions
from dfu.runs.publish import write_ensemble
from dfu.store.layout import PREDICTIONS_FILE
from tests.helpers.run_dirs import synthetic_run

COMBOS = [
    "metadata",
    "thermal_map",
    "metadata+thermal_map",
    "depth_rgb+thermal_map",
    "metadata+depth_rgb",
]


@pytest.fixture(scope="module")
def run(demo_dir_small, tmp_path_factory):
    return synthetic_run(tmp_path_factory.mktemp("ensemble_run"), demo_dir_small, COMBOS)


def member_frames(layout, fold, members):
    return [
        pd.read_parquet(layout.trial(fold, tuple(m.split("+"))) / PREDICTIONS_FILE) for m in members
    ]


def test_members_are_every_combination_with_metadata_and_no_image_only_one():
    assert ensemble_members(COMBOS) == ["metadata", "metadata+thermal_map", "metadata+depth_rgb"]
    assert ensemble_members(["thermal_map", "depth_rgb"]) == []


def test_a_linear_baseline_is_never_a_member(run):
    assert ensemble_members(["metadata", "linear(depth_rgb)", "metadata+depth_rgb"]) == [
        "metadata",
        "metadata+depth_rgb",
    ]
    assert (run.root / "trials" / "fold0" / "linear(thermal_map)" / "trial.json").exists()
    for summary, _ in write_ensemble(run, [0, 1], COMBOS):
        assert not any(m.startswith("linear(") for m in summary["members"])


def test_average_is_the_equal_weight_mean_aligned_by_image_set():
    a = pd.DataFrame(
        {
            "set_id": ["s1", "s2"],
            "assessment_id": ["a1", "a2"],
            "patient": [1, 2],
            "y_true": [0, 1],
            "p_I": [1.0, 0.0],
            "p_P": [0.0, 1.0],
            "p_R": [0.0, 0.0],
            "combo": "metadata",
        }
    )
    b = a.iloc[::-1].copy()  # another row order
    b[PROBA_COLUMNS] = [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    mean = average_probabilities([a, b]).set_index("set_id")
    assert mean.loc["s1", PROBA_COLUMNS].tolist() == [0.5, 0.0, 0.5]
    assert mean.loc["s2", PROBA_COLUMNS].tolist() == [0.0, 0.5, 0.5]
    with pytest.raises(ValueError, match="not the same test image sets"):
        average_probabilities([a, b.iloc[:1]])


def test_ensemble_is_written_and_scored_like_a_trial(run):
    written = write_ensemble(run, [0, 1], COMBOS)
    assert [s["fold"] for s, _ in written] == [0, 1]
    for summary, predictions in written:
        assert summary["combo"] == ENSEMBLE
        assert summary["members"] == ["metadata", "metadata+thermal_map", "metadata+depth_rgb"]
        assert summary["weights"] == [pytest.approx(1 / 3)] * 3
        assert summary["test"] == score_predictions(predictions)
        assert (run.ensemble(summary["fold"]) / "trial.json").exists()
        frames = member_frames(run, summary["fold"], summary["members"])
        expected = np.mean([f[PROBA_COLUMNS].to_numpy() for f in frames], axis=0)
        assert np.allclose(predictions[PROBA_COLUMNS].to_numpy(), expected)


def test_shuffled_test_labels_leave_the_ensemble_probabilities_unchanged(run, tmp_path):
    copy = type(run)(tmp_path / "run")
    shutil.copytree(run.root, copy.root)
    rng = np.random.default_rng(0)
    for path in (copy.root / "trials").glob("fold*/*/predictions.parquet"):
        frame = pd.read_parquet(path)
        # a new label per assessment (its image sets keep sharing one), differing per member
        ids = frame["assessment_id"].unique()
        new = dict(zip(ids, rng.integers(0, 3, len(ids)), strict=True))
        frame["y_true"] = frame["assessment_id"].map(new)
        frame.to_parquet(path)
    original = write_ensemble(run, [0, 1], COMBOS)
    shuffled = write_ensemble(copy, [0, 1], COMBOS)
    for (_, a), (_, b) in zip(original, shuffled, strict=True):
        assert np.array_equal(a[PROBA_COLUMNS].to_numpy(), b[PROBA_COLUMNS].to_numpy())
        assert a["set_id"].tolist() == b["set_id"].tolist()


def test_no_ensemble_without_two_metadata_combinations(run):
    assert write_ensemble(run, [0, 1], ["metadata", "thermal_map"]) == []
