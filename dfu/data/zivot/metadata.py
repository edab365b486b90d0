"""Read the metadata CSV of the Zivot layout: one row per assessment, labels checked.

The rules (what is fatal, what is a counted skip, what is read as is) are set out in the
docstring of ``dfu.data.zivot.reader``, which calls ``read_metadata``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dfu.constants import CLASSES
from dfu.data import schema
from dfu.data.errors import DataError, Skip
from dfu.data.zivot.table import Note, Table, maybe_numbers, numbers, read_table, texts

NUMERIC_METADATA = (
    *(c for c in schema.ID_COLUMNS if c != schema.RECORD_ID_COLUMN),
    *schema.NUMERIC_FEATURES,
)
TEXT_METADATA = (
    schema.RECORD_ID_COLUMN,
    *schema.CATEGORICAL_FEATURES,
    "Healing Phase",
    schema.LABEL_COLUMN,
)
# What to do with metadata rows that repeat a key with other values (data.duplicate_assessments).
DUPLICATE_POLICIES = ("first", "error")


def read_metadata(
    path: Path,
    require_labels: bool,
    skips: list[Skip],
    notes: list[Note] | None = None,
    duplicates: str = "first",
) -> pd.DataFrame:
    """One row per assessment. ``duplicates`` (``DUPLICATE_POLICIES``): rows repeating a key
    with other values are counted skips after the first (``first``) or fatal (``error``)."""
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}, not {duplicates!r}")
    notes = [] if notes is None else notes
    table = read_table(path, skips, notes)
    for column in schema.KEY_COLUMNS:
        if column not in table.header:
            raise DataError("key column missing", file=str(path), line=1, column=column)
    has_labels = schema.LABEL_COLUMN in table.header
    if require_labels and not has_labels:
        raise DataError(
            "label column missing (needed for training and scoring; it may only be absent "
            "when predicting)",
            file=str(path),
            line=1,
            column=schema.LABEL_COLUMN,
        )
    parsed = pd.DataFrame(index=table.frame.index)
    for column in table.header:
        if column in NUMERIC_METADATA:
            key = column in schema.KEY_COLUMNS
            parsed[column] = numbers(table, column, required=key, whole=key)
        elif column in TEXT_METADATA:
            parsed[column] = texts(table.frame[column])
        else:
            parsed[column] = maybe_numbers(table.frame[column])
    for column in schema.KEY_COLUMNS:
        parsed[column] = parsed[column].astype(np.int64)
    if has_labels:
        _check_labels(table, parsed, require_labels)
    if schema.RECORD_ID_COLUMN in table.header:
        _note_text_ids(table, notes)
    parsed = _drop_duplicate_assessments(parsed, path, skips, duplicates)
    return _with_ids(parsed, has_labels)


def _note_text_ids(table: Table, notes: list[Note]) -> None:
    """``ID`` is a record identifier, read as text; say which ones are not plain numbers."""
    column = schema.RECORD_ID_COLUMN
    ids = table.frame[column]
    for line in ids.index[(ids != "") & ~ids.str.fullmatch(r"\d+")]:
        detail = f"{column} {ids[line]!r} is not a number (a record id: kept as text)"
        notes.append(Note(str(table.path), int(line), "text_id", detail))


def _check_labels(table: Table, parsed: pd.DataFrame, require_labels: bool) -> None:
    labels = parsed[schema.LABEL_COLUMN]
    allowed = set(CLASSES) if require_labels else {*CLASSES, None}
    bad = ~labels.isin(allowed)
    if bad.any():
        line = int(bad.idxmax())
        got = "an empty cell" if labels[line] is None else repr(labels[line])
        raise DataError(
            f"expected a label, one of {', '.join(CLASSES)}; got {got}",
            file=str(table.path),
            line=line,
            column=schema.LABEL_COLUMN,
        )


def _drop_duplicate_assessments(
    parsed: pd.DataFrame, path: Path, skips: list[Skip], policy: str
) -> pd.DataFrame:
    """One row per (Patient#, Appt#, DFU#): the first. Later rows are counted skips: exact
    repeats (``ID`` aside) and, unless ``policy`` is ``error``, rows with other values."""
    keys = list(schema.KEY_COLUMNS)
    repeated = parsed[parsed.duplicated(keys, keep=False)]
    drop = []
    compared = [c for c in parsed.columns if c != schema.RECORD_ID_COLUMN]
    for key, group in repeated.groupby(keys, sort=False):
        first_line, first = group.index[0], group.iloc[0]
        aid = schema.assessment_id(*key)
        for line, row in group.iloc[1:].iterrows():
            drop.append(line)
            diff = [c for c in compared if not _same(first[c], row[c])]
            if not diff:
                detail = f"assessment {aid} repeats line {first_line} exactly; dropped"
                skips.append(Skip(str(path), int(line), "duplicate_row", detail))
                continue
            if policy == "error":
                raise DataError(
                    f"assessment {aid} is also on line {first_line} with a different value "
                    f"({_cell(first[diff[0]])} there, {_cell(row[diff[0]])} here); keep one "
                    "row per (Patient#, Appt#, DFU#), or set data.duplicate_assessments=first "
                    "to keep the first",
                    file=str(path),
                    line=int(line),
                    column=diff[0],
                )
            changes = "; ".join(
                f"{c!r} {_cell(first[c])} there, {_cell(row[c])} here" for c in diff
            )
            label = " (the label differs: the first row's is used)"
            detail = (
                f"assessment {aid} is also on line {first_line}, which is kept; this row "
                f"differs in {len(diff)} column(s): {changes}"
                f"{label if schema.LABEL_COLUMN in diff else ''}"
            )
            skips.append(Skip(str(path), int(line), "conflicting_duplicate_row", detail))
    return parsed.drop(index=drop)


def _same(a: Any, b: Any) -> bool:
    return (pd.isna(a) and pd.isna(b)) if (pd.isna(a) or pd.isna(b)) else a == b


def _cell(value: Any) -> str:
    """A parsed cell as people read it: 401 (not 401.0), 'text', or empty."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "empty"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _with_ids(parsed: pd.DataFrame, has_labels: bool) -> pd.DataFrame:
    patient, appt, dfu = (parsed[c] for c in schema.KEY_COLUMNS)
    ids = pd.DataFrame(
        {
            "assessment_id": [
                schema.assessment_id(*k) for k in zip(patient, appt, dfu, strict=True)
            ],
            "patient": patient.to_numpy(),
            "appt": appt.to_numpy(),
            "dfu": dfu.to_numpy(),
            "label": parsed[schema.LABEL_COLUMN].to_numpy() if has_labels else None,
        },
        index=parsed.index,
    )
    ids["label"] = ids["label"].astype(object)
    return pd.concat([ids, parsed], axis=1).reset_index(drop=True)
