import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, f1_score

from dfu.evaluation.metrics import (
    assessment_probabilities,
    classification_metrics,
    score_predictions,
)


def _onehot(pred: list[int]) -> np.ndarray:
    return np.eye(3)[pred]


def _kappa_from_confusion(cm: np.ndarray, weights: np.ndarray) -> float:
    """Cohen's kappa written out: 1 - sum(w * observed) / sum(w * expected-by-chance)."""
    cm = cm / cm.sum()
    expected = np.outer(cm.sum(axis=1), cm.sum(axis=0))
    return 1 - (weights * cm).sum() / (weights * expected).sum()


def test_hand_computed_small_case():
    # confusion (rows true) [[1,0,0],[1,1,0],[0,0,1]]:
    # po = 3/4, pe = (1*2 + 2*1 + 1*1)/16 = 5/16 -> kappa = (3/4 - 5/16)/(11/16) = 7/11;
    # quadratic: observed disagreement 1 (one 1->0 error), chance disagreement 5 -> 0.8.
    m = classification_metrics([0, 1, 2, 1], _onehot([0, 1, 2, 0]))
    assert m["kappa"] == pytest.approx(7 / 11)
    assert m["qwk"] == pytest.approx(0.8)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["confusion"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert m["f1_I"] == pytest.approx(2 / 3) and m["f1_R"] == pytest.approx(1.0)
    assert m["f1_macro"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert m["f1_weighted"] == pytest.approx((2 / 3 + 2 * 2 / 3 + 1) / 4)
    assert m["pred_dist"] == [0.5, 0.25, 0.25] and m["n"] == 4


def test_matches_sklearn_and_explicit_formula_on_random_data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    proba = rng.dirichlet([1, 1, 1], 300) + 0.8 * np.eye(3)[y] * rng.random((300, 1))
    pred = proba.argmax(1)
    m = classification_metrics(y, proba)
    assert m["kappa"] == pytest.approx(cohen_kappa_score(y, pred))
    assert m["qwk"] == pytest.approx(cohen_kappa_score(y, pred, weights="quadratic"))
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["f1_weighted"] == pytest.approx(f1_score(y, pred, average="weighted"))
    assert [m["f1_I"], m["f1_P"], m["f1_R"]] == pytest.approx(list(f1_score(y, pred, average=None)))
    assert m["confusion"] == confusion_matrix(y, pred).tolist()
    cm = np.array(m["confusion"])
    i, j = np.indices((3, 3))
    assert m["kappa"] == pytest.approx(_kappa_from_confusion(cm, (i != j).astype(float)))
    assert m["qwk"] == pytest.approx(_kappa_from_confusion(cm, (i - j) ** 2.0))
    assert sum(m["pred_dist"]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("y_true", "pred"),
    [
        ([0, 1, 2, 1], [1, 1, 1, 1]),  # one class predicted
        ([1, 1, 1], [1, 1, 1]),  # one true class, predicted perfectly: kappa undefined
        ([2, 2], [0, 0]),  # one true class, another predicted
    ],
)
def test_degenerate_cases_give_zero_kappa_without_warnings(y_true, pred):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = classification_metrics(y_true, _onehot(pred))
    assert m["kappa"] == 0.0 and m["qwk"] == 0.0
    assert np.array(m["confusion"]).shape == (3, 3)
    assert all(np.isfinite(v) for k, v in m.items() if isinstance(v, float))


def test_bad_shapes_rejected():
    with pytest.raises(ValueError, match="shape"):
        classification_metrics([0, 1], np.ones((2, 2)))
    with pytest.raises(ValueError, match="no rows"):
        classification_metrics([], np.ones((0, 3)))


def _image_sets() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "assessment_id": ["b", "a", "a", "b", "b"],
            "y_true": [2, 0, 0, 2, 2],
            "p_I": [0.1, 0.6, 0.3, 0.5, 0.2],
            "p_P": [0.3, 0.3, 0.4, 0.3, 0.3],
            "p_R": [0.6, 0.1, 0.3, 0.2, 0.5],
        }
    )


def test_assessment_probabilities_average_image_sets():
    out = assessment_probabilities(_image_sets())
    assert out["assessment_id"].tolist() == ["a", "b"]
    assert out["y_true"].tolist() == [0, 2]
    assert out["n_sets"].tolist() == [2, 3]
    np.testing.assert_allclose(out.loc[0, ["p_I", "p_P", "p_R"]].astype(float), [0.45, 0.35, 0.2])
    np.testing.assert_allclose(
        out.loc[1, ["p_I", "p_P", "p_R"]].astype(float), [0.8 / 3, 0.3, 1.3 / 3]
    )


def test_conflicting_labels_in_one_assessment_rejected():
    df = _image_sets()
    df.loc[1, "y_true"] = 1
    with pytest.raises(ValueError, match="'a'"):
        assessment_probabilities(df)


def test_score_predictions_per_image_set_and_per_assessment():
    scores = score_predictions(_image_sets())
    assert scores["image_set"]["n"] == 5 and scores["assessment"]["n"] == 2
    # Image sets: preds R, I, P, I, R -> 3/5 right; means: a -> I, b -> R.
    assert scores["image_set"]["accuracy"] == pytest.approx(3 / 5)
    assert scores["assessment"]["accuracy"] == pytest.approx(1.0)
