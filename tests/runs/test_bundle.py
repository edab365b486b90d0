import json
import shutil

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from dfu.config import load_config
from dfu.constants import PROBA_COLUMNS
from dfu.data.cache import build_cache, load_cache
from dfu.data.errors import DataError
from dfu.evaluation.results import RunError
from dfu.runs.bundle import best_combo, load_bundle, save_bundle
from dfu.store.layout import METADATA_MODEL_FILE, RunLayout
from dfu.store.records import read_json
from tests.helpers.run_dirs import SYNTHETIC_COMBOS, metadata_run, synthetic_run, trained_run

KERAS_COMBOS = ["metadata", "thermal_map", "metadata+thermal_map"]


@pytest.fixture(scope="module")
def run(demo_dir_medium, tmp_path_factory):
    return metadata_run(tmp_path_factory.mktemp("metadata_run"), demo_dir_medium)


def run_cache(layout: RunLayout):
    return load_cache(build_cache(load_config(layout.config).data, progress=False))


def assert_fold_predictions_equal(bundle, layout, combo, atol):
    """The bundle's fold-k model, on fold k's test image sets, predicts what the trial did."""
    cache = run_cache(layout)
    for k in bundle.folds:
        mine = bundle.predict_sets(cache, [k]).set_index("set_id")
        trial = pd.read_parquet(layout.trial(k, tuple(combo.split("+"))) / "predictions.parquet")
        trial = trial.set_index("set_id")
        assert len(trial) > 0
        np.testing.assert_allclose(
            mine.loc[trial.index, PROBA_COLUMNS].to_numpy(),
            trial[PROBA_COLUMNS].to_numpy(),
            atol=atol,
        )


def test_round_trip_reproduces_the_trials_test_predictions(run, tmp_path):
    path = save_bundle(run.root, out_dir=tmp_path / "bundle")  # default: the best = metadata
    bundle = load_bundle(path)
    info = json.loads((path / "bundle.json").read_text())
    assert info["combo"] == "metadata" and info["folds"] == [0, 1]
    assert info["classes"] == ["I", "P", "R"] and info["numeric_columns"]
    assert not list(path.glob("fold*/model_weights.h5"))
    assert_fold_predictions_equal(bundle, run, "metadata", atol=1e-7)


def test_the_forest_each_folds_trials_used_is_shipped_as_is_never_refitted(run, tmp_path):
    copy = RunLayout(tmp_path / "run")
    shutil.copytree(run.root, copy.root, ignore=shutil.ignore_patterns("cache"))
    for k in (0, 1):
        dummy = DummyClassifier(strategy="constant", constant=k).fit([[0], [1]], [0, 1])
        joblib.dump(dummy, copy.fold_metadata_model(k))
    bundle = load_bundle(save_bundle(copy.root, "metadata", tmp_path / "bundle"))
    assert [bundle.metadata_models[k].constant for k in (0, 1)] == [0, 1]
    copy.fold_metadata_model(1).unlink()
    with pytest.raises(ValueError, match="metadata_model.joblib: missing"):
        save_bundle(copy.root, "metadata", tmp_path / "bundle2")


def test_an_image_combination_needs_the_trials_weights(run, tmp_path):
    copy = RunLayout(tmp_path / "run")
    shutil.copytree(run.root, copy.root, ignore=shutil.ignore_patterns("cache"))
    fake = copy.trial(0, ("metadata", "thermal_map"))
    shutil.copytree(copy.trial(0, ("metadata",)), fake)
    with pytest.raises(ValueError, match="model_weights.h5: missing; the trial must save"):
        save_bundle(copy.root, "metadata+thermal_map", tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists() and not (tmp_path / ".bundle.tmp").exists()


def test_default_combination_is_the_one_inner_validation_chose_most_often(demo_dir_small, tmp_path):
    # metadata+thermal_map scores best on test, metadata on inner validation: the bundle
    # follows inner validation, never the test folds.
    noise = dict.fromkeys(SYNTHETIC_COMBOS, 0.0)
    layout = synthetic_run(
        tmp_path / "run",
        demo_dir_small,
        strength={**noise, "metadata+thermal_map": 3.0},
        val_strength={**noise, "metadata": 3.0},
    )
    means, vals = {}, {}
    for folder in layout.trial_dirs():
        trial = read_json(folder / "trial.json")
        means.setdefault(trial["combo"], []).append(trial["test"]["assessment"]["kappa"])
        vals.setdefault(trial["combo"], []).append(trial["val"]["assessment"]["kappa"])
    assert max(means, key=lambda c: np.mean(means[c])) == "metadata+thermal_map"
    assert best_combo(layout, load_config(layout.config)) == "metadata"
    assert np.mean(vals["metadata"]) == max(
        np.mean(v) for c, v in vals.items() if not c.startswith("linear(")
    )


def test_no_finished_trial_is_a_run_error(tmp_path):
    layout = RunLayout(tmp_path / "run")
    load_config().save(layout.config)
    with pytest.raises(RunError, match="no finished trial to choose from"):
        best_combo(layout, load_config(layout.config))


def test_not_a_bundle(tmp_path):
    with pytest.raises(DataError, match="not a bundle"):
        load_bundle(tmp_path)


@pytest.mark.slow
def test_keras_round_trip_reproduces_the_trials_test_predictions(
    demo_dir_medium, tmp_path_factory, tmp_path
):
    layout = trained_run(tmp_path_factory.mktemp("trained_run"), demo_dir_medium, KERAS_COMBOS)
    for combo in ("thermal_map", "metadata+thermal_map"):
        bundle = load_bundle(save_bundle(layout.root, combo, tmp_path / combo))
        assert sorted(p.name for p in (tmp_path / combo / "fold0").iterdir()) == sorted(
            ["model_weights.h5", *([METADATA_MODEL_FILE] if "metadata" in combo else [])]
        )
        assert_fold_predictions_equal(bundle, layout, combo, atol=1e-5)
