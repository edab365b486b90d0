"""Fusion weights refitted after training: a useless source ends near 0, useful ones combine."""

from __future__ import annotations

import numpy as np
import pytest

from dfu.config import ModelConfig
from dfu.models.fusion import combo_model
from dfu.training.fusion_fit import (
    MIN_GAIN,
    FusionRows,
    FusionStart,
    choose_fusion,
    fit_fusion,
    pool,
    weighted_log_loss,
)

EQUAL = [1.0, 1.0, 1.0]
START = FusionStart(EQUAL, w0=[0.7, 0.3], b0=[0, 0, 0])  # metadata 0.7, an image 0.3


def _posteriors(y: np.ndarray, strength: float, rng) -> np.ndarray:
    """Noisy but calibrated-looking evidence about y (strength 0 = pure noise)."""
    logits = strength * np.eye(3)[y] + rng.normal(0, 1.0, (len(y), 3))
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("mode", ["log", "linear"])
def test_numpy_pool_is_the_keras_layer(mode):
    model = combo_model(
        ("metadata", "thermal_map"), ModelConfig(filters=[4], head_units=4, fusion=mode), 16
    )
    layer = model.get_layer("fusion")
    layer.w.assign([0.8, 0.3])
    layer.bias.assign([0.2, -0.1, 0.4])
    rng = np.random.default_rng(0)
    probs = [rng.dirichlet([1, 1, 1], 5).astype("float32") for _ in range(2)]
    want = layer(probs).numpy()
    got = pool(probs, np.array([0.8, 0.3]), np.array([0.2, -0.1, 0.4]), mode)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_useless_source_is_fitted_to_weigh_almost_nothing():
    rng = np.random.default_rng(1)
    y = rng.choice(3, 600, p=[0.3, 0.55, 0.15])
    useful, noise = _posteriors(y, 2.0, rng), _posteriors(y, 0.0, rng)
    fit = fit_fusion(
        FusionRows([useful, noise], y), FusionStart(EQUAL, w0=[0.7, 0.3], b0=[0, 0, 0])
    )
    w_useful, w_noise = fit.weights
    assert w_noise < 0.05 * w_useful
    alone = weighted_log_loss(useful, y, EQUAL)
    assert fit.fit_loss_after <= alone + 1e-3  # never worse than the useful source alone
    assert fit.fit_loss_after < fit.fit_loss_before


def test_two_independent_sources_both_count_and_beat_either_alone():
    rng = np.random.default_rng(2)
    y = rng.choice(3, 800)
    a, b = _posteriors(y, 1.5, rng), _posteriors(y, 1.5, rng)
    fit = fit_fusion(FusionRows([a, b], y), FusionStart(EQUAL, w0=[0.5, 0.5], b0=[0, 0, 0]))
    assert min(fit.weights) > 0.5
    assert fit.fit_loss_after < min(weighted_log_loss(p, y, EQUAL) for p in (a, b)) - 0.02


def _val_rows(n_assessments: int, sets: int, rng):
    """Inner-val-like rows: a few image sets per assessment, one assessment per patient."""
    y = np.repeat(rng.choice(3, n_assessments, p=[0.3, 0.55, 0.15]), sets)
    assessments = np.repeat([f"a{i}" for i in range(n_assessments)], sets)
    return y, assessments, assessments  # patients = assessments


def test_a_fusion_that_does_not_beat_its_best_source_on_held_out_rows_becomes_that_source():
    """Confident noise (as an image branch that memorised its training rows gives) against a
    useful source: cross-validated within inner val, the fusion reduces to the useful one."""
    rng = np.random.default_rng(3)
    y, assessments, patients = _val_rows(60, 3, rng)
    useful = _posteriors(y, 1.5, rng)
    noise = _posteriors(y, 0.0, rng) ** 4  # overconfident
    noise /= noise.sum(axis=1, keepdims=True)
    rows = FusionRows([useful, noise], y, assessments, patients)
    fit = choose_fusion(rows, ["metadata", "depth_rgb"], START)
    assert fit.chosen == "metadata" and fit.weights == [1.0, 0.0] and fit.bias == [0.0] * 3
    assert fit.cv_loss["gain_over_metadata"] <= MIN_GAIN


def test_complementary_sources_keep_their_fusion():
    rng = np.random.default_rng(4)
    y, assessments, patients = _val_rows(60, 3, rng)
    a, b = _posteriors(y, 1.5, rng), _posteriors(y, 1.5, rng)
    fit = choose_fusion(
        FusionRows([a, b], y, assessments, patients), ["metadata", "depth_rgb"], START
    )
    assert fit.chosen == "fusion" and min(fit.weights) > 0.3
    assert fit.cv_loss["gain_over_metadata"] > fit.cv_loss["standard_error"] > 0


def test_the_reference_is_metadata_even_where_a_branch_looks_better_on_inner_val():
    """A branch's inner-val predictions are optimistic (its early stopping chose an epoch on
    them): the fusion is judged against metadata, whose are honest. Without metadata the
    reference is the best branch."""
    rng = np.random.default_rng(5)
    y, assessments, patients = _val_rows(60, 3, rng)
    metadata, branch, other = (_posteriors(y, s, rng) for s in (0.8, 2.5, 1.5))
    rows = FusionRows([metadata, branch, other], y, assessments, patients)
    start = FusionStart(EQUAL, [0.7, 0.15, 0.15], [0, 0, 0])
    fit = choose_fusion(rows, ["metadata", "depth_rgb", "thermal_map"], start)
    assert fit.source_kappas["depth_rgb"] > fit.source_kappas["metadata"]
    assert set(fit.cv_loss) == {"gain_over_metadata", "standard_error"}
    images = FusionRows([branch, other], y, assessments, patients)
    images = choose_fusion(images, ["depth_rgb", "thermal_map"], START)
    assert "gain_over_depth_rgb" in images.cv_loss


def test_a_branch_that_memorised_its_training_rows_is_judged_on_held_out_rows_only():
    """Fitted on inner-train + inner-val, a branch that is right on its own training rows (and
    noise elsewhere) gets weight; judged on the inner-val rows, the fusion goes back to
    metadata. Judged on every row it would have been kept."""
    rng = np.random.default_rng(6)
    y_train, a_train, _ = _val_rows(200, 3, rng)
    y_val, a_val, _ = _val_rows(60, 3, rng)
    a_val = np.char.add("v", a_val)  # other assessments, other patients
    metadata = [_posteriors(y, 1.0, rng) for y in (y_train, y_val)]
    branch = [_posteriors(y_train, 2.5, rng), _posteriors(y_val, 0.0, rng)]
    parts = [
        FusionRows([m, b], y, a, a, np.full(len(y), honest))
        for m, b, y, a, honest in zip(
            metadata, branch, (y_train, y_val), (a_train, a_val), (False, True), strict=True
        )
    ]
    rows = FusionRows.concat(parts)
    assert len(rows.labels) == len(y_train) + len(y_val)
    assert rows.honest_rows().sum() == len(y_val)
    fit = choose_fusion(rows, ["metadata", "depth_rgb"], START)
    assert fit.chosen == "metadata" and fit.weights == [1.0, 0.0]
    assert fit.honest_scale is None  # the reverted fusion applies no scale: none is recorded
    everywhere = choose_fusion(
        FusionRows(rows.probabilities, rows.labels, rows.assessments, rows.patients),
        ["metadata", "depth_rgb"],
        START,
    )
    assert everywhere.chosen == "fusion" and everywhere.weights[1] > 0.3


def test_rows_of_several_splits_join_in_order_and_keep_what_every_part_has():
    rng = np.random.default_rng(0)
    train = FusionRows([rng.dirichlet([1, 1, 1], 4)], np.array([0, 1, 2, 1]), honest=[0, 0, 0, 0])
    val = FusionRows([rng.dirichlet([1, 1, 1], 2)], np.array([2, 0]))
    rows = FusionRows.concat([train, val])
    np.testing.assert_array_equal(rows.labels, [0, 1, 2, 1, 2, 0])
    np.testing.assert_array_equal(rows.probabilities[0][4:], val.probabilities[0])
    np.testing.assert_array_equal(rows.honest_rows(), [False] * 4 + [True] * 2)
    assert rows.assessments is None and rows.patients is None  # neither part had them
    ids = dict(assessments=np.array(["a", "b"]), patients=np.array(["p", "q"]))
    both = FusionRows.concat([val, FusionRows(val.probabilities, val.labels, **ids)])
    assert both.assessments is None  # one part without them: none rather than garbage
    named = FusionRows(val.probabilities, val.labels, **ids)
    np.testing.assert_array_equal(FusionRows.concat([named, named]).patients, ["p", "q"] * 2)


def test_a_branch_sharper_on_its_training_rows_is_trusted_as_far_as_inner_val_shows():
    """Sharp on the rows it trained on, much less so on inner val: the fitted image weight is
    scaled down on the inner-val rows (metadata's is not) and the held-out loss improves."""
    rng = np.random.default_rng(7)
    y_train, a_train, _ = _val_rows(200, 3, rng)
    y_val, a_val, _ = _val_rows(80, 3, rng)
    a_val = np.char.add("v", a_val)
    metadata = [_posteriors(y, 1.0, rng) for y in (y_train, y_val)]
    branch = [_posteriors(y_train, 3.0, rng), _posteriors(y_val, 1.0, rng)]
    rows = FusionRows.concat(
        [
            FusionRows([m, b], y, a, a, np.full(len(y), honest))
            for m, b, y, a, honest in zip(
                metadata, branch, (y_train, y_val), (a_train, a_val), (False, True), strict=True
            )
        ]
    )
    fit = choose_fusion(rows, ["metadata", "depth_rgb"], START)
    trusting = fit_fusion(rows, START)  # no source marked optimistic: no correction
    assert trusting.honest_scale is None and fit.chosen == "fusion"
    assert fit.honest_scale < 0.8
    assert fit.weights[0] == pytest.approx(trusting.weights[0])  # metadata's weight untouched
    assert fit.weights[1] == pytest.approx(fit.honest_scale * trusting.weights[1], rel=1e-3)
    val = rows.rows(rows.honest_rows())

    def val_loss(f):
        fused = pool(val.probabilities, np.array(f.weights), np.array(f.bias), "log")
        return weighted_log_loss(fused, val.labels, EQUAL)

    assert val_loss(fit) < val_loss(trusting) - 0.01
