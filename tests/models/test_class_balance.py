import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from dfu.models.class_balance import capped_inverse_frequency


def _labels(counts: list[int]) -> np.ndarray:
    return np.repeat(np.arange(len(counts)), counts)


def test_balanced_classes_get_equal_weights():
    np.testing.assert_allclose(capped_inverse_frequency(_labels([5, 5, 5])), [1, 1, 1])


def test_uncapped_weights_match_sklearn_balanced_up_to_scale():
    y = _labels([40, 60, 30])  # max/min ratio 2 < 3: no clipping
    w = capped_inverse_frequency(y)
    balanced = compute_class_weight("balanced", classes=np.arange(3), y=y)
    np.testing.assert_allclose(w, balanced / balanced.mean())
    assert w.mean() == pytest.approx(1.0)


def test_cap_clips_the_rare_class_and_keeps_ratio_exact():
    w = capped_inverse_frequency(_labels([31, 56, 13]), max_ratio=3.0)
    # By hand: 1/31, 1/56, and R's 1/13 clipped to 3/56; then mean 1.
    expected = np.array([1 / 31, 1 / 56, 3 / 56])
    np.testing.assert_allclose(w, expected / expected.mean())
    assert w.max() / w.min() == pytest.approx(3.0)
    assert w.mean() == pytest.approx(1.0)
    assert w.argmin() == 1 and w.argmax() == 2


def test_ratio_one_means_equal_weights():
    np.testing.assert_allclose(capped_inverse_frequency(_labels([1, 10, 100]), max_ratio=1.0), 1)


def test_absent_class_is_named():
    with pytest.raises(ValueError, match=r"class R \(2\) absent"):
        capped_inverse_frequency(_labels([3, 4]), n_classes=3)


def test_out_of_range_labels_rejected():
    with pytest.raises(ValueError, match="0..2"):
        capped_inverse_frequency(np.array([0, 1, 2, 3]))
