"""Which metadata columns a model may use as features.

Admissible: the schema's numeric and categorical feature columns. Never: the label and
the columns derived from it (label leakage), and the identifier columns. Treatment
columns (care given at the visit) only when ``include_treatment`` is set or when they are
listed explicitly in ``feature_columns``.
"""

from __future__ import annotations

from collections.abc import Iterable

from dfu.config import ConfigError, DataConfig
from dfu.data import schema

_REFUSED = {
    **{c: "is derived from the label (label leakage)" for c in schema.LEAK_COLUMNS},
    schema.LABEL_COLUMN: "is the label itself (label leakage)",
    **{c: "identifies the record, it is not a clinical feature" for c in schema.ID_COLUMNS},
}
_FEATURES = (*schema.NUMERIC_FEATURES, *schema.CATEGORICAL_FEATURES)


def feature_columns(cfg: DataConfig, available: Iterable[str]) -> tuple[list[str], list[str]]:
    """``(numeric, categorical)`` feature columns to use, in a stable order.

    ``available``: the columns of the metadata CSV. With ``cfg.feature_columns`` set, exactly
    those (each must be a known, admissible feature present in the CSV); otherwise every
    admissible feature column present. ``cfg.exclude_columns`` is removed last. Raises
    ``ConfigError`` (a ``ValueError``) naming the column and why.
    """
    available = set(available)
    if cfg.feature_columns is not None:
        chosen = _requested(cfg.feature_columns, available)
    else:
        treatment = set() if cfg.include_treatment else set(schema.TREATMENT_COLUMNS)
        chosen = [c for c in _FEATURES if c in available and c not in treatment]
    for column in cfg.exclude_columns:
        if column not in _FEATURES and column not in available and column not in _REFUSED:
            raise ConfigError(f"data.exclude_columns: unknown column {column!r}")
    chosen = [c for c in chosen if c not in set(cfg.exclude_columns)]
    numeric = [c for c in chosen if c in schema.NUMERIC_FEATURES]
    categorical = [c for c in chosen if c in schema.CATEGORICAL_FEATURES]
    return numeric, categorical


def _requested(columns: list[str], available: set[str]) -> list[str]:
    chosen: list[str] = []
    for column in columns:
        if column in _REFUSED:
            raise ConfigError(
                f"data.feature_columns: {column!r} {_REFUSED[column]}; never a feature"
            )
        if column not in _FEATURES:
            raise ConfigError(
                f"data.feature_columns: unknown column {column!r}; features are the numeric "
                "and categorical columns of DATASET.md (exact header text)"
            )
        if column not in available:
            raise ConfigError(f"data.feature_columns: {column!r} is not in the metadata CSV")
        if column not in chosen:
            chosen.append(column)
    return chosen
