import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import NotFittedError

from dfu.config import FoldConfig, MetadataModelConfig
from dfu.constants import CLASSES
from dfu.cv.folds import FoldSplit, encode_labels, make_fold_manifest, split_fold
from dfu.evaluation.metrics import classification_metrics
from dfu.models.metadata import (
    MetadataClassifier,
    MetadataTask,
    fit_metadata_model,
    metadata_probabilities,
    normalise_categories,
)
from tests.helpers.datasets import assessment_row

PRIOR = [0.31, 0.56, 0.13]
NUMERIC = ["Signal", "Age", "Noise"]
CATEGORICAL = ["Location Grouped", "Odor"]
PROBA = ["p_I", "p_P", "p_R"]
# Small forest: same code path as production, a fraction of the cost.
CFG = MetadataModelConfig(n_estimators=40, max_depth=6, oof_folds=3)


def synthetic_table(n_patients: int, seed: int, shift: float) -> pd.DataFrame:
    """Patients with 2-6 assessments; ``Signal`` moves with the class by ``shift``; ``Age``
    is per-patient noise, ``Noise`` per-assessment noise; ~10% missing numeric cells;
    categories in mixed case with '0' and missing values."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(1, n_patients + 1):
        base, age = rng.choice(3, p=PRIOR), rng.normal(60, 10)
        for a in range(rng.integers(2, 7)):
            k = base if rng.random() < 0.8 else rng.choice(3, p=PRIOR)
            rows.append(
                {
                    **assessment_row(p, a, CLASSES[k]),
                    "Signal": k * shift + rng.normal(0, 0.7),
                    "Age": age,
                    "Noise": rng.normal(),
                    "Location Grouped": rng.choice(["Toes", "toes", "Heel", "HEEL ", "0", None]),
                    "Odor": rng.choice(["NoOdor", "Unpleasant", None]),
                }
            )
    df = pd.DataFrame(rows)
    for column in NUMERIC:
        df.loc[rng.random(len(df)) < 0.1, column] = np.nan
    return df


def first_split(df: pd.DataFrame, seed: int, fold: int = 0) -> FoldSplit:
    return split_fold(df, make_fold_manifest(df, 5, seed), fold, FoldConfig(seed=seed))


def kappa(df: pd.DataFrame, out: pd.DataFrame) -> float:
    y = encode_labels(df.set_index("assessment_id").loc[out.index, "label"])
    return classification_metrics(y, out[PROBA].to_numpy())["kappa"]


@pytest.fixture(scope="module")
def informative() -> tuple[pd.DataFrame, FoldSplit, pd.DataFrame]:
    df = synthetic_table(60, seed=2, shift=2.0)
    split = first_split(df, seed=2)
    return (
        df,
        split,
        metadata_probabilities(df, split, MetadataTask(NUMERIC, CATEGORICAL, CFG, seed=2)),
    )


def test_output_layout(informative):
    df, split, out = informative
    assert out.index.name == "assessment_id"
    assert list(out.columns) == [*PROBA, "part"]
    assert out.index.tolist() == split.train + split.val + split.test
    assert out["part"].value_counts().to_dict() == {
        "train": len(split.train),
        "val": len(split.val),
        "test": len(split.test),
    }
    np.testing.assert_allclose(out[PROBA].sum(axis=1), 1.0)


def test_informative_feature_gives_clear_kappa(informative):
    df, _, out = informative
    assert kappa(df, out[out["part"] == "train"]) > 0.4  # out-of-fold
    assert kappa(df, out[out["part"] != "train"]) > 0.4


def test_pure_noise_gives_kappa_near_zero():
    df = synthetic_table(100, seed=2, shift=0.0)
    out = metadata_probabilities(
        df, first_split(df, seed=2), MetadataTask(NUMERIC, CATEGORICAL, CFG, seed=2)
    )
    assert abs(kappa(df, out[out["part"] == "train"])) < 0.15


def test_per_patient_id_column_does_not_help_out_of_fold():
    df = synthetic_table(60, seed=2, shift=0.0)
    df["pid"] = "patient-" + df["patient"].astype(str)
    out = metadata_probabilities(
        df, first_split(df, seed=2), MetadataTask([], ["pid"], CFG, seed=2)
    )
    assert abs(kappa(df, out[out["part"] == "train"])) < 0.15


class PatientSpy(ClassifierMixin, BaseEstimator):
    """Predicts the training prior; fails if asked about a patient it was fitted on."""

    fitted_ids: list[set[str]] = []

    def fit(self, X, y):
        self.patients_ = set(X["patient"])
        self.classes_ = np.unique(y)
        self.prior_ = np.bincount(y)[self.classes_] / len(y)
        PatientSpy.fitted_ids.append(set(X.index))
        return self

    def predict_proba(self, X):
        seen = self.patients_ & set(X["patient"])
        assert not seen, f"predicting patients {sorted(seen)} the model was fitted on"
        return np.tile(self.prior_, (len(X), 1))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def test_every_prediction_comes_from_a_model_blind_to_that_patient(informative):
    df, split, _ = informative
    PatientSpy.fitted_ids.clear()
    out = metadata_probabilities(
        df, split, MetadataTask(NUMERIC, CATEGORICAL, CFG, estimator=PatientSpy())
    )
    assert len(out) == len(split.train) + len(split.val) + len(split.test)
    assert len(PatientSpy.fitted_ids) == CFG.oof_folds + 1
    assert all(ids <= set(split.train) for ids in PatientSpy.fitted_ids)


def test_val_and_test_labels_are_never_read(informative):
    df, split, out = informative
    hidden = df.copy()
    hidden.loc[~hidden["assessment_id"].isin(split.train), "label"] = None
    pd.testing.assert_frame_equal(
        metadata_probabilities(hidden, split, MetadataTask(NUMERIC, CATEGORICAL, CFG, seed=2)), out
    )


def test_permuted_labels_give_near_zero_kappa_on_val_and_test():
    df = synthetic_table(60, seed=2, shift=2.0)
    manifest = make_fold_manifest(df, 5, seed=2)
    pooled = []
    for k in range(5):  # pooled over folds: one fold's val/test is too small to judge
        split = split_fold(df, manifest, k, FoldConfig(seed=2))
        out = metadata_probabilities(
            df, split, MetadataTask(NUMERIC, CATEGORICAL, CFG, seed=k, permute_train_labels=True)
        )
        pooled.append(out[out["part"] != "train"])
    assert abs(kappa(df, pd.concat(pooled))) < 0.15


def test_dummy_estimator_can_be_swapped_in(informative):
    df, split, _ = informative
    out = metadata_probabilities(
        df,
        split,
        MetadataTask(NUMERIC, CATEGORICAL, CFG, estimator=DummyClassifier(strategy="prior")),
    )
    train_prior = np.bincount(
        encode_labels(df.set_index("assessment_id").loc[split.train, "label"])
    )
    np.testing.assert_allclose(
        out.loc[split.test, PROBA], np.tile(train_prior / len(split.train), (len(split.test), 1))
    )
    assert kappa(df, out) == 0.0


def test_sklearn_contract():
    model = MetadataClassifier(numeric_columns=["a"], categorical_columns=["b"], n_estimators=7)
    params = model.get_params()
    assert params["numeric_columns"] == ["a"] and params["n_estimators"] == 7
    assert set(params) == {
        "numeric_columns",
        "categorical_columns",
        "n_estimators",
        "max_depth",
        "min_samples_leaf",
        "class_weight_max_ratio",
        "n_jobs",
        "random_state",
    }
    copy = clone(model)
    assert copy is not model and copy.get_params() == params
    with pytest.raises(NotFittedError):
        model.predict_proba(pd.DataFrame({"a": [1.0], "b": ["x"]}))


def test_three_columns_even_when_a_class_is_absent_from_training():
    X = pd.DataFrame({"a": np.arange(20.0), "b": ["x", "y"] * 10})
    y = np.array([0] * 10 + [1] * 10)
    model = MetadataClassifier(["a"], ["b"], n_estimators=5, min_samples_leaf=1).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (20, 3) and np.all(proba[:, 2] == 0)
    assert model.classes_.tolist() == [0, 1, 2]
    assert model.predict(X[:1]).tolist() == [0]


def test_class_weights_are_capped():
    X = pd.DataFrame({"a": np.arange(100.0)})
    y = np.repeat([0, 1, 2], [31, 56, 13])
    model = MetadataClassifier(["a"], [], n_estimators=3).fit(X, y)
    w = model.class_weight_
    assert max(w.values()) / min(w.values()) == pytest.approx(3.0)
    assert model.pipeline_.named_steps["forest"].class_weight == w


@pytest.mark.parametrize("dtype", [object, "string", "category"])
def test_categories_are_case_normalised_and_zero_kept_apart_from_missing(dtype):
    X = pd.DataFrame({"loc": pd.Series(["Toes", "toes ", "HEEL", "0", None, ""], dtype=dtype)})
    cells = normalise_categories(X)[:, 0].tolist()
    assert cells[:4] == ["toes", "toes", "heel", "0"]
    assert all(isinstance(c, float) and np.isnan(c) for c in cells[4:])  # NaN, never pd.NA
    model = MetadataClassifier([], ["loc"], n_estimators=3).fit(X, np.array([0, 1, 2, 0, 1, 2]))
    encoder = model.pipeline_.named_steps["features"].named_transformers_["categorical"][-1]
    assert encoder.categories_[0].tolist() == ["0", "heel", "missing", "toes"]


def test_whole_number_category_codes_read_as_integers():
    X = pd.DataFrame({"sex": [1.0, 0.0, np.nan], "text": ["1", "0", None]})
    cells = normalise_categories(X)
    assert cells[:2].tolist() == [["1", "1"], ["0", "0"]]


def test_fit_metadata_model_returns_fitted_full_model(informative):
    df, split, out = informative
    model = fit_metadata_model(df, split, MetadataTask(NUMERIC, CATEGORICAL, CFG, seed=2))
    rows = df.set_index("assessment_id").loc[split.test]
    np.testing.assert_allclose(model.predict_proba(rows), out.loc[split.test, PROBA])


def test_too_few_inner_train_patients_for_oof_folds(informative):
    df, split, _ = informative
    cfg = MetadataModelConfig(n_estimators=5, oof_folds=len(split.train_patients) + 1)
    with pytest.raises(ValueError, match=rf"fold 0: {len(split.train_patients)} inner-train"):
        metadata_probabilities(df, split, MetadataTask(NUMERIC, CATEGORICAL, cfg))
