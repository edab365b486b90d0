"""The staged protocol on tiny in-memory data: it learns a planted signal, not noise, and every
failure of the clinic's old pipeline is caught by a verdict."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from dfu.config import ConfigError, TrainingConfig, load_config
from dfu.cv.sizing import plan_sizing
from dfu.training.health import judge
from dfu.training.protocol import TrainingContext, predict, pretrain_branch, run_trial
from tests.helpers.paths import TINY_CONFIG
from tests.helpers.protocol import synthetic_source
from tests.helpers.records import stage_record

COMBO = ("metadata", "thermal_map")
THRESHOLDS = TrainingConfig(overfit_gap=0.2, min_trainable_params=500)


@pytest.fixture
def cfg():
    """The tests' tiny config (16 px = SIZE, batch 32), with stages long enough to learn the
    planted signal, a wider network, and no flips (the signal is the centre's brightness)."""
    return load_config(
        TINY_CONFIG,
        [
            "model.filters=[8, 16]",
            "model.head_units=16",
            "data.augment.thermal_map=[]",
            "training.pretrain={epochs: 8, learning_rate: 0.003, patience: 4}",
            "training.stage1={epochs: 6, learning_rate: 0.003, patience: 3}",
            "training.stage2={epochs: 3, learning_rate: 0.0001, patience: 2}",
        ],
    )


def _test_kappa(result, source):
    proba = predict(result.model, source, COMBO, "test")
    return cohen_kappa_score(source.labels("test"), proba.argmax(1))


def test_trial_learns_a_planted_signal_and_records_every_stage(cfg):
    source = synthetic_source()
    result = run_trial(TrainingContext(source, cfg), COMBO)
    pre = result.pretrain["thermal_map"]
    assert pre.val_kappa > 0.3 and "collapsed" not in pre.verdicts
    assert [s.stage for s in result.stages] == ["stage1", "stage2"]
    stage1, stage2 = result.stages
    assert stage1.trainable_params < stage2.trainable_params  # backbone frozen, then not
    for record in (pre, stage1, stage2):
        assert record.steps_per_epoch == source.sizing.steps["train"] == 8  # ceil(240 / 32)
        assert record.batch_size == 32 and record.warmup < record.best_epoch <= record.epochs_run
        assert len(record.history["val_kappa"]) == record.epochs_run
        assert sum(record.pred_dist) == pytest.approx(1.0, abs=1e-5)
    assert set(result.fusion["weights"]) == {"metadata", "thermal_map"}
    assert result.fusion["fit_loss_after"] <= result.fusion["fit_loss_before"] + 1e-9
    assert _test_kappa(result, source) > 0.5


@pytest.mark.parametrize("fit_rows, fitted", [("train+val", 240 + 90), ("val", 90)])
def test_fusion_weights_are_fitted_on_the_configured_rows_and_judged_on_inner_val(
    cfg, fit_rows, fitted
):
    short = cfg.replace(
        f"training.fusion_fit_rows={fit_rows}",
        "training.stage1.epochs=2",
        "training.stage1.warmup=0",
        "training.stage2.epochs=1",
    )
    result = run_trial(TrainingContext(synthetic_source(seed=3), short), COMBO)
    assert (result.fusion["fit_rows"], result.fusion["judged_rows"]) == (fitted, 90)


def test_trial_fed_only_noise_stays_near_zero(cfg):
    source = synthetic_source(signal=False, seed=1, n_test=300)
    result = run_trial(TrainingContext(source, cfg), COMBO)
    assert abs(_test_kappa(result, source)) < 0.12


def test_stage2_is_kept_only_if_inner_val_kappa_improved(cfg):
    result = run_trial(TrainingContext(synthetic_source(seed=2), cfg), COMBO)
    stage1, stage2 = result.stages
    assert stage2.kept == (stage2.val_kappa > stage1.val_kappa)


def test_learning_rate_too_low_to_learn_is_flagged_no_learning(cfg):
    broken = cfg.replace(
        "training.pretrain.learning_rate=1e-9",
        "training.pretrain.patience=2",
        "training.pretrain.warmup=0",
    )
    _, record = pretrain_branch(TrainingContext(synthetic_source(), broken), "thermal_map")
    assert "no-learning" in record.verdicts
    assert record.weight_change < 1e-4


def test_warmup_keeps_a_lucky_first_epoch_from_ending_the_stage(cfg):
    """Inner-val kappa is noisy: early stopping may pick a best epoch only after the warm-up,
    and a warm-up longer than the stage is shortened to fit it."""
    source = synthetic_source()
    _, record = pretrain_branch(
        TrainingContext(source, cfg.replace("training.pretrain.warmup=5")), "thermal_map"
    )
    assert record.warmup == 5 and record.best_epoch >= 6 and record.epochs_run == 8
    _, short = pretrain_branch(
        TrainingContext(source, cfg.replace("training.pretrain.warmup=50")), "thermal_map"
    )
    assert short.warmup == 7 and short.best_epoch == short.epochs_run == 8


def test_extreme_class_weight_is_flagged_collapsed(cfg):
    """Early stopping would keep an epoch before the collapse (the heads start as pre-trained
    experts); a warm-up as long as the stage makes the stage end collapsed, as it must say."""
    broken = cfg.replace(
        "training.alpha=[0.0001, 0.0001, 1.0]",
        "training.alpha_max_ratio=100000",
        "training.stage1.learning_rate=0.05",
        "training.stage1.warmup=5",
    )
    result = run_trial(TrainingContext(synthetic_source(), broken), COMBO)
    assert "collapsed" in result.stages[0].verdicts
    assert result.stages[0].pred_dist[2] > 0.98  # everything predicted as the over-weighted R


def test_uncapped_alpha_is_refused_before_any_training(cfg):
    with pytest.raises(ConfigError, match="alpha_max_ratio"):
        cfg.replace("training.alpha=[0.01, 1.0, 1.0]")


def test_an_epoch_with_an_unplanned_number_of_batches_fails_loudly(cfg):
    source = synthetic_source()
    source.sizing = dataclasses.replace(source.sizing, steps={**source.sizing.steps, "train": 3})
    with pytest.raises(RuntimeError, match="planned 3"):
        pretrain_branch(TrainingContext(source, cfg), "thermal_map")


@pytest.mark.parametrize(
    "changes, verdicts",
    [
        ({}, ["ok"]),
        ({"best_epoch": 1, "history": {"loss": [1.0, 1.0, 0.999, 1.0]}}, ["no-learning"]),
        ({"best_epoch": 1}, ["ok"]),  # the loss fell: it learned, just not better on inner val
        ({"best_epoch": 1, "weight_change": 1e-6}, ["no-learning"]),  # the loss fell by noise alone
        ({"pred_dist": [0.0, 1.0, 0.0]}, ["collapsed"]),
        ({"train_kappa": 0.95, "val_kappa": 0.3}, ["overfit"]),
        (
            {"best_epoch": 1, "history": {"loss": [1, 1]}, "pred_dist": [0, 0, 1]},
            ["no-learning", "collapsed"],
        ),
        # after a 2-epoch warm-up the first epoch early stopping can pick is the third
        (
            {"best_epoch": 3, "warmup": 2, "history": {"loss": [1.0, 1.0, 1.0, 1.0]}},
            ["no-learning"],
        ),
        ({"best_epoch": 4, "warmup": 2, "history": {"loss": [1.0, 1.0, 1.0, 1.0]}}, ["ok"]),
        # weights that did not move learned nothing, whichever epoch inner-val kappa preferred
        ({"best_epoch": 5, "weight_change": 1e-6}, ["no-learning"]),
    ],
)
def test_verdict_rules(changes, verdicts):
    assert judge(stage_record(**changes), THRESHOLDS).verdicts == verdicts


def test_too_few_trainable_parameters_is_warned():
    record = judge(stage_record(trainable_params=195), THRESHOLDS)
    assert record.warnings and "195 trainable" in record.warnings[0]


@pytest.mark.parametrize(
    "rows, batch, steps", [(900, 32, 29), (20, 32, 1), (64, 32, 2), (65, 64, 2)]
)
def test_sizing_never_batches_more_than_the_data_and_covers_every_row(rows, batch, steps):
    sizing = plan_sizing({"train": rows, "val": 7}, [1, 1, 1], batch)
    assert sizing.batch_size == min(batch, rows)
    assert sizing.steps["train"] == steps and sizing.steps["val"] == 1
    assert (
        (sizing.steps["train"] - 1) * sizing.batch_size
        < rows
        <= sizing.steps["train"] * sizing.batch_size
    )
    assert np.isfinite(sizing.batch_size)
