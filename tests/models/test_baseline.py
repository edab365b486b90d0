"""The linear baseline: it learns a linear pixel signal, not noise; C comes from inner val."""

from __future__ import annotations

import numpy as np

from dfu.combos import baseline_name
from dfu.config import BaselineConfig
from dfu.models.baseline import assessment_kappa, fit_linear_baseline, pixels
from tests.helpers.protocol import synthetic_source

CFG = BaselineConfig(c_grid=[1e-4, 1e-2, 1.0], max_iter=200)


def _test_kappa(source, fit) -> float:
    test = source.arrays["test"]
    return assessment_kappa(test.ids, test.labels, fit.test_proba)


def test_learns_a_planted_brightness_signal_and_chooses_c_on_inner_val():
    source = synthetic_source(seed=0)
    fit = fit_linear_baseline(source.arrays, "thermal_map", CFG)
    assert _test_kappa(source, fit) > 0.6
    assert fit.C in CFG.c_grid and set(fit.val_kappas) == set(CFG.c_grid)
    assert fit.val_kappa == max(fit.val_kappas.values())
    assert fit.val_proba.shape == (len(source.arrays["val"]), 3)
    assert not fit.downscaled and fit.image_size == 16


def test_stays_near_chance_on_noise():
    source = synthetic_source(signal=False, seed=1, n_test=300)
    fit = fit_linear_baseline(source.arrays, "thermal_map", CFG)
    assert abs(_test_kappa(source, fit)) < 0.12


def test_large_crops_are_average_pooled_down_and_said_so():
    images = np.zeros((2, 64, 64, 3), dtype=np.uint8)
    images[0, :32, :32] = 200  # top-left quarter bright
    x = pixels(images, 32)
    assert x.shape == (2, 32 * 32 * 3)
    grid = x[0].reshape(32, 32, 3)
    assert grid[:16, :16].min() == 200 and grid[16:, 16:].max() == 0
    source = synthetic_source(seed=0)
    fit = fit_linear_baseline(
        source.arrays, "thermal_map", BaselineConfig(image_size=8, c_grid=[1.0])
    )
    assert fit.downscaled and fit.image_size == 8
    assert baseline_name("thermal_map") == "linear(thermal_map)"
