"""The metadata branch: a scikit-learn Pipeline (impute, encode, scale, random forest).

``MetadataClassifier`` follows the estimator contract, so fusion code only sees class
probabilities and tests can swap in any classifier. ``metadata_probabilities`` gives
every assessment of a fold its metadata probabilities without the model ever seeing
the label of the row it predicts: inner-train rows get out-of-fold probabilities from
patient-grouped inner folds, inner-val and test rows get those of a model fitted on all
inner-train rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from dfu.config import MetadataModelConfig
from dfu.constants import CLASSES, PROBA_COLUMNS
from dfu.cv.folds import FoldError, FoldSplit, encode_labels
from dfu.models.class_balance import capped_inverse_frequency


def _category(value: object) -> object:
    """One spelling per category: 'Toes'/'toes ' -> 'toes', 1.0 -> '1'; missing stays NaN.

    '0' (the clinic's "none") is kept as its own category, distinct from missing.
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return np.nan
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip().casefold()
    return text if text else np.nan


def normalise_categories(X: pd.DataFrame) -> np.ndarray:
    """Categorical cells as case-normalised text (object array, NaN for missing)."""
    frame = pd.DataFrame(X)
    # object first: a pandas string column would turn NaN back into pd.NA, which imputers reject.
    return np.column_stack([frame[c].astype(object).map(_category) for c in frame.columns])


def aligned_proba(
    model: BaseEstimator, X: pd.DataFrame, n_classes: int = len(CLASSES)
) -> np.ndarray:
    """``predict_proba`` with one column per class 0..n-1, whatever classes ``model`` saw."""
    proba = model.predict_proba(X)
    out = np.zeros((len(X), n_classes))
    out[:, np.asarray(model.classes_, dtype=int)] = proba
    return out


class MetadataClassifier(ClassifierMixin, BaseEstimator):
    """Random forest on numeric + categorical clinical columns of a DataFrame.

    ``predict_proba`` always has one column per class (I, P, R), zero for a class absent
    from the training labels.
    """

    def __init__(
        self,
        numeric_columns: Sequence[str] | None = None,
        categorical_columns: Sequence[str] | None = None,
        *,
        n_estimators: int = 300,
        max_depth: int | None = 10,
        min_samples_leaf: int = 5,
        class_weight_max_ratio: float = 3.0,
        n_jobs: int = 1,
        random_state: int | None = 0,
    ) -> None:
        self.numeric_columns = numeric_columns
        self.categorical_columns = categorical_columns
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.class_weight_max_ratio = class_weight_max_ratio
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> MetadataClassifier:
        y = np.asarray(y).astype(int)
        if y.size and (y.min() < 0 or y.max() >= len(CLASSES)):
            raise ValueError(f"labels must be integers in 0..{len(CLASSES) - 1}")
        # An inner fold may lack a class: weight the classes present, predict 0 for the rest.
        present = np.unique(y)
        weights = capped_inverse_frequency(
            np.searchsorted(present, y), len(present), self.class_weight_max_ratio
        )
        self.class_weight_ = {int(c): float(w) for c, w in zip(present, weights, strict=True)}
        forest = RandomForestClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            class_weight=self.class_weight_,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        )
        self.pipeline_ = Pipeline([("features", self._features()), ("forest", forest)])
        self.pipeline_.fit(X, y)
        self.classes_ = np.arange(len(CLASSES))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "pipeline_")
        return aligned_proba(self.pipeline_, X, len(self.classes_))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def _features(self) -> ColumnTransformer:
        numeric = list(self.numeric_columns or [])
        categorical = list(self.categorical_columns or [])
        if not numeric and not categorical:
            raise ValueError("MetadataClassifier needs at least one numeric or categorical column")
        # keep_empty_features: a column missing in every training row stays (as a constant)
        # so the feature layout does not depend on which rows a fold holds.
        numeric_steps = make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()
        )
        categorical_steps = make_pipeline(
            FunctionTransformer(normalise_categories, feature_names_out="one-to-one"),
            SimpleImputer(strategy="constant", fill_value="missing", keep_empty_features=True),
            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
        )
        transformers = []
        if numeric:
            transformers.append(("numeric", numeric_steps, numeric))
        if categorical:
            transformers.append(("categorical", categorical_steps, categorical))
        return ColumnTransformer(transformers, remainder="drop")


@dataclass(frozen=True)
class MetadataTask:
    """What the metadata model of a fold is fitted on and how: its feature columns, the
    forest's config, the seed of the fold, the leak check's label shuffle (never for real
    runs), and optionally another estimator in place of the forest (cloned, never fitted in
    place; e.g. in tests)."""

    numeric: Sequence[str]
    categorical: Sequence[str]
    cfg: MetadataModelConfig
    seed: int = 0
    permute_train_labels: bool = False
    estimator: BaseEstimator | None = None

    def model(self) -> BaseEstimator:
        """The estimator to clone for every fit: the task's own, or the configured forest."""
        if self.estimator is not None:
            return self.estimator
        return make_metadata_classifier(self.numeric, self.categorical, self.cfg, self.seed)


def make_metadata_classifier(
    numeric: Sequence[str], categorical: Sequence[str], cfg: MetadataModelConfig, seed: int = 0
) -> MetadataClassifier:
    return MetadataClassifier(
        numeric_columns=list(numeric),
        categorical_columns=list(categorical),
        n_estimators=cfg.n_estimators,
        max_depth=cfg.max_depth,
        min_samples_leaf=cfg.min_samples_leaf,
        class_weight_max_ratio=cfg.class_weight_max_ratio,
        n_jobs=cfg.n_jobs,
        random_state=seed,
    )


def _inner_train(
    assessments: pd.DataFrame, split: FoldSplit, task: MetadataTask
) -> tuple[pd.DataFrame, np.ndarray]:
    """Inner-train rows and their labels (shuffled with the task's seed for the leak check)."""
    rows = assessments.set_index("assessment_id").loc[split.train]
    y = encode_labels(rows["label"])
    if task.permute_train_labels:
        y = np.random.default_rng(task.seed).permutation(y)
    return rows, y


def fit_metadata_model(
    assessments: pd.DataFrame, split: FoldSplit, task: MetadataTask
) -> BaseEstimator:
    """The metadata model fitted on all inner-train rows of ``split``."""
    rows, y = _inner_train(assessments, split, task)
    return clone(task.model()).fit(rows, y)


def metadata_probabilities(
    assessments: pd.DataFrame, split: FoldSplit, task: MetadataTask
) -> pd.DataFrame:
    """Metadata probabilities (p_I, p_P, p_R) and ``part`` for every assessment of ``split``.

    Indexed by assessment_id. Inner-train rows: out-of-fold, from ``cfg.oof_folds``
    patient-grouped inner folds. Inner-val and test rows: the model fitted on all
    inner-train rows. No fitted model sees a val or test label.
    """
    return fit_fold_metadata(assessments, split, task)[0]


def fit_fold_metadata(
    assessments: pd.DataFrame, split: FoldSplit, task: MetadataTask
) -> tuple[pd.DataFrame, BaseEstimator]:
    """``metadata_probabilities`` and the fitted model that gave the inner-val and test rows
    theirs: the one model a run keeps (and its bundle ships) for this fold."""
    rows, y = _inner_train(assessments, split, task)
    model, cfg = task.model(), task.cfg
    absent = [CLASSES[k] for k in range(len(CLASSES)) if not (y == k).any()]
    if absent:
        # cross_val_predict re-encodes y, so a missing class would shift the columns.
        raise FoldError(f"fold {split.fold}: inner-train has no assessment of class {absent}")
    n_patients = rows["patient"].nunique()
    if n_patients < cfg.oof_folds:
        raise FoldError(
            f"fold {split.fold}: {n_patients} inner-train patients cannot form "
            f"{cfg.oof_folds} out-of-fold groups (metadata.oof_folds)"
        )
    cv = StratifiedGroupKFold(n_splits=cfg.oof_folds, shuffle=True, random_state=task.seed)
    oof = cross_val_predict(
        clone(model), rows, y, groups=rows["patient"], cv=cv, method="predict_proba"
    )
    full = clone(model).fit(rows, y)

    by_id = assessments.set_index("assessment_id")
    parts = [_frame(split.train, oof, "train")]
    for name, ids in (("val", split.val), ("test", split.test)):
        proba = aligned_proba(full, by_id.loc[ids]) if ids else np.zeros((0, len(CLASSES)))
        parts.append(_frame(ids, proba, name))
    return pd.concat(parts), full


def _frame(ids: list[str], proba: np.ndarray, part: str) -> pd.DataFrame:
    frame = pd.DataFrame(proba, index=pd.Index(ids, name="assessment_id"), columns=PROBA_COLUMNS)
    frame["part"] = part
    return frame
