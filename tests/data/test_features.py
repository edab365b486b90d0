"""Feature columns: admissible by default, leakage refused, treatment only by choice."""

from __future__ import annotations

import pytest

from dfu.config import ConfigError, DataConfig
from dfu.data import schema
from dfu.data.features import feature_columns

ALL = schema.METADATA_COLUMNS


def test_default_is_every_admissible_column_without_treatment():
    numeric, categorical = feature_columns(DataConfig(), ALL)
    chosen = set(numeric) | set(categorical)
    assert not chosen & {*schema.LEAK_COLUMNS, schema.LABEL_COLUMN, *schema.ID_COLUMNS}
    assert not chosen & set(schema.TREATMENT_COLUMNS)
    expected = set(schema.NUMERIC_FEATURES + schema.CATEGORICAL_FEATURES)
    assert chosen == expected - set(schema.TREATMENT_COLUMNS)
    assert set(numeric) <= set(schema.NUMERIC_FEATURES)
    assert set(categorical) <= set(schema.CATEGORICAL_FEATURES)


def test_treatment_columns_by_switch_or_by_name():
    numeric, categorical = feature_columns(DataConfig(include_treatment=True), ALL)
    assert set(schema.TREATMENT_COLUMNS) <= set(numeric) | set(categorical)
    cfg = DataConfig(feature_columns=["Age", "Dressing", "Offloading Score"])
    assert feature_columns(cfg, ALL) == (["Age", "Offloading Score"], ["Dressing"])


def test_only_columns_present_in_the_csv_by_default():
    numeric, categorical = feature_columns(DataConfig(), ["Age", "Odor", "Healing Phase"])
    assert (numeric, categorical) == (["Age"], ["Odor"])


@pytest.mark.parametrize("column", [*schema.LEAK_COLUMNS, schema.LABEL_COLUMN])
def test_label_and_derived_columns_are_refused_as_leakage(column):
    with pytest.raises(ConfigError, match="leakage") as err:
        feature_columns(DataConfig(feature_columns=["Age", column]), ALL)
    assert repr(column) in str(err.value)


@pytest.mark.parametrize(
    "requested, available, words",
    [
        (["Agee"], ALL, "unknown column 'Agee'"),
        (["Patient#"], ALL, "identifies the record"),
        (["Odor"], ["Age"], "'Odor' is not in the metadata CSV"),
    ],
)
def test_bad_requests_name_the_column(requested, available, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        feature_columns(DataConfig(feature_columns=requested), available)


def test_exclude_columns_are_removed_and_typos_refused():
    numeric, categorical = feature_columns(DataConfig(exclude_columns=["Age", "Location"]), ALL)
    assert "Age" not in numeric and "Location" not in categorical and "Weight (Kg)" in numeric
    with pytest.raises(ConfigError, match="'Agge'"):
        feature_columns(DataConfig(exclude_columns=["Agge"]), ALL)
