"""The protocol on the demo clinic, where the best achievable answer is known.

The fast test uses a small demo and a shrunken config; the slow tests are the issue's
acceptance checks on the default demo (60 patients) with the demo config.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from dfu.combos import parse_combinations
from dfu.config import load_config
from dfu.data.demo import make_demo, oracle_probabilities
from dfu.metrics import PROBA_COLUMNS, assessment_probabilities, classification_metrics
from dfu.trial import run_folds

ALL = "metadata+depth_rgb+depth_map+thermal_rgb+thermal_map"
SINGLES = ["metadata", "depth_rgb", "depth_map", "thermal_rgb", "thermal_map"]


def test_run_trial_cli_writes_trial_and_predictions(demo_dir_medium, tiny_config, tmp_path):
    cfg_file = tiny_config.save(tmp_path / "config.yaml")
    out = tmp_path / "trial"
    done = subprocess.run(
        [sys.executable, "-m", "jobs.run_trial", "--data", str(demo_dir_medium), "--fold", "0",
         "--combo", "metadata+thermal_map", "--out", str(out), "--config", str(cfg_file),
         "data.image_size=16"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    trial = json.loads((out / "trial.json").read_text())
    predictions = pd.read_parquet(out / "predictions.parquet")
    assert trial["combo"] == "metadata+thermal_map" and trial["fold"] == 0
    assert set(trial["verdicts"]) == {"pretrain_thermal_map", "stage1", "stage2"}
    sizing = trial["sizing"]
    assert sizing["steps"]["train"] == -(-sizing["rows"]["train"] // sizing["batch_size"])
    assert len(predictions) == trial["sizing"]["rows"]["test"] == trial["test"]["image_set"]["n"]
    assert np.allclose(predictions[PROBA_COLUMNS].sum(axis=1), 1, atol=1e-5)
    assert (out / "tensorboard" / "stage1").is_dir()


def test_bad_combo_exits_2_naming_it(demo_dir_small, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "jobs.run_trial", "--data", str(demo_dir_small), "--fold", "0",
         "--combo", "metadata+xray", "--out", str(tmp_path)], capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2 and "xray" in done.stderr and "Traceback" not in done.stderr


def _oracle_kappa(root, combo, predictions):
    ids = assessment_probabilities(predictions)["assessment_id"]
    o = oracle_probabilities(root, combo).loc[ids]
    return classification_metrics(o["y"].to_numpy(), o[PROBA_COLUMNS].to_numpy())["kappa"]


def _run(root, combos, *overrides):
    cfg = load_config("dfu/configs/demo.yaml", [f"data.root={root}", *overrides])
    rows = []
    for out in run_folds(cfg, parse_combinations(combos)):
        s = out.summary
        rows.append({"fold": s["fold"], "combo": s["combo"], "kappa": s["test"]["assessment"]["kappa"],
                     "oracle": _oracle_kappa(root, s["combo"], out.predictions), "verdicts": s["verdicts"]})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def default_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("default_demo")
    make_demo(out)
    return out


@pytest.mark.slow
def test_fold0_stages_are_healthy_for_every_single_and_metadata_pair(default_demo, tmp_path):
    combos = SINGLES[1:] + [f"metadata+{m}" for m in SINGLES[1:]]
    rows = _run(default_demo, combos, "search.folds=[0]", f"data.cache_dir={tmp_path}")
    for _, row in rows.iterrows():
        for stage, verdicts in row["verdicts"].items():
            assert not {"no-learning", "collapsed"} & set(verdicts), (row["combo"], stage, verdicts)


@pytest.mark.slow
def test_learning_reaches_the_oracle_fractions(default_demo, tmp_path):
    rows = _run(default_demo, SINGLES + [ALL], f"data.cache_dir={tmp_path}")
    mean = rows.groupby("combo")[["kappa", "oracle"]].mean()
    print(mean.assign(ratio=mean["kappa"] / mean["oracle"]).round(3).to_string())
    assert mean.loc[ALL, "kappa"] >= 0.85 * mean.loc[ALL, "oracle"]
    assert mean.loc[ALL, "kappa"] > mean.loc[SINGLES, "kappa"].max()
    for single in SINGLES:
        assert mean.loc[single, "kappa"] >= 0.7 * mean.loc[single, "oracle"], single


@pytest.mark.slow
def test_permuted_training_labels_leave_test_kappa_near_zero(default_demo, tmp_path):
    rows = _run(default_demo, [ALL], "training.permute_train_labels=true", f"data.cache_dir={tmp_path}")
    assert abs(rows["kappa"].mean()) <= 0.05, rows
