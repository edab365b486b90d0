"""Read and validate the Zivot-layout CSVs: the metadata CSV and the bounding-box CSVs.

``read_metadata`` returns one row per assessment; ``read_boxes`` returns a camera's valid,
de-duplicated box rows. Which problems are fatal (``DataError``), which are counted skips
and which irregularities are read as is (``Note``) is set out in the docstring of
``dfu.data.zivot``, which calls these.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dfu.config import CLASSES
from dfu.data import schema
from dfu.data.errors import DataError, Skip
from dfu.data.images import Box

# Box-file columns the reader needs; DebriStat, Camera, Angle and Bounding Box Number are
# informational (the file name is authoritative for them).
BBOX_REQUIRED = ("Filename", "Patient#", "Appt#", "DFU#", "Xmin", "Ymin", "Xmax", "Ymax")
BOX_COLUMNS = ("Xmin", "Ymin", "Xmax", "Ymax")
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
# Spellings of "missing" accepted in numeric cells besides an empty cell.
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "#n/a", "null", "none"})
CAMERA_NAME = {"D": "depth", "T": "thermal"}
# What to do with metadata rows that repeat a key with other values (data.duplicate_assessments).
DUPLICATE_POLICIES = ("first", "error")
# Box-file key cells written as zero-padded text ("003", "01").
_ZERO_PADDED = r"0\d+"


@dataclass(frozen=True)
class Note:
    """An irregularity read as is (nothing is dropped), counted in the summary by ``kind``."""

    file: str
    line: int | None
    kind: str
    detail: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}, line {self.line}"
        return f"{where}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class _Csv:
    path: Path
    header: list[str]
    frame: pd.DataFrame  # every cell a stripped str; index = spreadsheet line number


@dataclass(frozen=True)
class BoxRow:
    source: str  # the box CSV
    line: int
    filename: str
    name: schema.ImageName
    dfu: int
    box: Box


# --- CSV cells -----------------------------------------------------------------------------


def _read_csv(path: Path, skips: list[Skip], notes: list[Note]) -> _Csv:
    """All cells as stripped text. Blank rows are skipped (counted); ragged rows are fatal.
    A byte-order mark, CRLF line ends and a non-UTF-8 encoding are read as is (noted)."""
    text = _decode(path, notes)
    if "\r\n" in text:
        notes.append(Note(str(path), None, "crlf_line_ends", "lines end in CRLF (Windows)"))
    records = list(csv.reader(io.StringIO(text, newline="")))
    if not records or not any(cell.strip() for cell in records[0]):
        raise DataError("empty file: expected a header line", file=str(path))
    header = [h.strip() for h in records[0]]
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in seen:
            raise DataError(f"the header names column {name!r} twice", file=str(path), line=1)
        seen[name] = i
    cells, lines = [], []
    for line, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            skips.append(Skip(str(path), line, "blank_row", "every cell is empty"))
            continue
        if len(record) != len(header):
            raise DataError(
                f"{len(record)} fields, but the header has {len(header)}", file=str(path), line=line
            )
        cells.append([cell.strip() for cell in record])
        lines.append(line)
    frame = pd.DataFrame(cells, columns=header, index=pd.Index(lines, name="line"), dtype=object)
    return _Csv(path, header, frame)


def _decode(path: Path, notes: list[Note]) -> str:
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        notes.append(Note(str(path), None, "byte_order_mark", "UTF-8 with a byte-order mark"))
    # Excel writes UTF-8 with a BOM or Windows-1252; latin-1 decodes anything else.
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding != "utf-8-sig":
            notes.append(Note(str(path), None, "not_utf8", "not UTF-8: decoded as Windows-1252"))
        return text
    notes.append(Note(str(path), None, "not_utf8", "not UTF-8: decoded as Latin-1"))
    return data.decode("latin-1")


def _numbers(table: _Csv, column: str, required: bool = False, whole: bool = False) -> pd.Series:
    """A column as float: empty (or NA-like) cells are NaN, text is fatal at its line."""
    raw = table.frame[column]
    missing = raw.str.lower().isin(MISSING_TOKENS)
    values = pd.to_numeric(raw.where(~missing), errors="coerce").astype(float)
    bad = (values.isna() & ~missing) | np.isinf(values)
    if whole:
        bad |= values.notna() & (values != values.round())
    if required:
        bad |= missing
    if bad.any():
        line = int(bad.idxmax())
        kind = "a whole number" if whole else "a number"
        got = "an empty cell" if missing[line] else repr(raw[line])
        raise DataError(
            f"expected {kind}, got {got}", file=str(table.path), line=line, column=column
        )
    return values


def _texts(raw: pd.Series) -> pd.Series:
    return raw.where(raw != "", None).astype(object)


def _maybe_numbers(raw: pd.Series) -> pd.Series:
    """Columns the schema does not know: numbers if every cell is one, else text."""
    missing = raw.str.lower().isin(MISSING_TOKENS)
    values = pd.to_numeric(raw.where(~missing), errors="coerce")
    return values.astype(float) if values.notna().eq(~missing).all() else _texts(raw)


# --- metadata ----------------------------------------------------------------------------


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
    table = _read_csv(path, skips, notes)
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
            parsed[column] = _numbers(table, column, required=key, whole=key)
        elif column in TEXT_METADATA:
            parsed[column] = _texts(table.frame[column])
        else:
            parsed[column] = _maybe_numbers(table.frame[column])
    for column in schema.KEY_COLUMNS:
        parsed[column] = parsed[column].astype(np.int64)
    if has_labels:
        _check_labels(table, parsed, require_labels)
    if schema.RECORD_ID_COLUMN in table.header:
        _note_text_ids(table, notes)
    parsed = _drop_duplicate_assessments(parsed, path, skips, duplicates)
    return _with_ids(parsed, has_labels)


def _note_text_ids(table: _Csv, notes: list[Note]) -> None:
    """``ID`` is a record identifier, read as text; say which ones are not plain numbers."""
    column = schema.RECORD_ID_COLUMN
    ids = table.frame[column]
    for line in ids.index[(ids != "") & ~ids.str.fullmatch(r"\d+")]:
        detail = f"{column} {ids[line]!r} is not a number (a record id: kept as text)"
        notes.append(Note(str(table.path), int(line), "text_id", detail))


def _check_labels(table: _Csv, parsed: pd.DataFrame, require_labels: bool) -> None:
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


# --- bounding boxes ----------------------------------------------------------------------


def read_boxes(
    path: Path, camera: str, skips: list[Skip], notes: list[Note] | None = None
) -> list[BoxRow]:
    """Valid, de-duplicated box rows of one camera's CSV (``Patient#`` may be "003" or 3).

    The ulcer of a row is its ``DFU#``; the file name gives patient, appointment and shot
    (its ulcer digit may name another ulcer of the frame: noted, not checked)."""
    notes = [] if notes is None else notes
    table = _read_csv(path, skips, notes)
    for column in BBOX_REQUIRED:
        if column not in table.header:
            raise DataError(
                "column missing from the box file", file=str(path), line=1, column=column
            )
    ints = {
        c: _numbers(table, c, required=True, whole=c not in BOX_COLUMNS).round().astype(int)
        for c in BBOX_REQUIRED[1:]
    }
    _note_zero_padded(table, notes)
    values = pd.DataFrame(ints).to_dict("records")
    rows = []
    for (line, filename), value in zip(table.frame["Filename"].items(), values, strict=True):
        row = _box_row(int(line), filename, value, camera, path, skips)
        if row is not None:
            rows.append(row)
            if row.name.dfu != row.dfu:
                detail = (
                    f"{filename} carries ulcer digit {row.name.dfu}, the row's DFU# is "
                    f"{row.dfu}: DFU# used"
                )
                notes.append(Note(str(path), row.line, "name_digit_not_dfu", detail))
    return _dedupe_boxes(rows, path, skips)


def _note_zero_padded(table: _Csv, notes: list[Note]) -> None:
    keys = [c for c in schema.KEY_COLUMNS if c in table.header]
    padded = pd.DataFrame({c: table.frame[c].str.fullmatch(_ZERO_PADDED) for c in keys})
    for line, row in padded[padded.any(axis=1)].iterrows():
        cells = ", ".join(f"{c} {table.frame.at[line, c]!r}" for c in keys if row[c])
        notes.append(
            Note(str(table.path), int(line), "zero_padded_key", f"{cells} read as numbers")
        )


def _box_row(
    line: int, filename: str, value: dict[str, int], camera: str, path: Path, skips: list[Skip]
) -> BoxRow | None:
    name = schema.parse_image_name(filename)
    problem = None
    if name is None:
        problem = ("bad_file_name", f"Filename {filename!r} does not follow the file-name grammar")
    elif name.camera != camera:
        problem = (
            "bad_file_name",
            f"{filename} is a {CAMERA_NAME[name.camera]}-camera file in "
            f"the {CAMERA_NAME[camera]} box file",
        )
    elif (name.patient, name.appt) != (value["Patient#"], value["Appt#"]):
        problem = (
            "box_key_mismatch",
            f"Patient#/Appt# {value['Patient#']}/{value['Appt#']} "
            f"disagree with the file name {filename}",
        )
    if problem:
        skips.append(Skip(str(path), line, *problem))
        return None
    box = tuple(value[c] for c in BOX_COLUMNS)
    return BoxRow(str(path), line, filename, name, value["DFU#"], box)  # type: ignore[arg-type]


def _dedupe_boxes(rows: list[BoxRow], path: Path, skips: list[Skip]) -> list[BoxRow]:
    by_key: dict[tuple[str, int], list[BoxRow]] = defaultdict(list)
    for row in rows:
        by_key[(row.filename, row.dfu)].append(row)
    kept = []
    for (filename, dfu), group in by_key.items():
        first = group[0]
        if len({r.box for r in group}) > 1:
            lines = ", ".join(str(r.line) for r in group)
            detail = f"ulcer {dfu} of {filename} has different boxes on lines {lines}"
            skips.extend(Skip(str(path), r.line, "conflicting_boxes", detail) for r in group)
            continue
        detail = f"repeats line {first.line} ({filename}, ulcer {dfu}); dropped"
        skips.extend(Skip(str(path), r.line, "duplicate_box", detail) for r in group[1:])
        kept.append(first)
    return kept
