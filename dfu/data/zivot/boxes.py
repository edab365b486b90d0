"""Read a bounding-box CSV of the Zivot layout: a camera's valid, de-duplicated box rows.

The rules (what is fatal, what is a counted skip, what is read as is) are set out in the
docstring of ``dfu.data.zivot.reader``, which calls ``read_boxes``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dfu.data import schema
from dfu.data.errors import DataError, Skip
from dfu.data.images import Box
from dfu.data.zivot.table import Note, Table, numbers, read_table

# Box-file columns the reader needs; DebriStat, Camera, Angle and Bounding Box Number are
# informational (the file name is authoritative for them).
BBOX_REQUIRED = ("Filename", "Patient#", "Appt#", "DFU#", "Xmin", "Ymin", "Xmax", "Ymax")
BOX_COLUMNS = ("Xmin", "Ymin", "Xmax", "Ymax")
CAMERA_NAME = {"D": "depth", "T": "thermal"}
# Box-file key cells written as zero-padded text ("003", "01").
_ZERO_PADDED = r"0\d+"


@dataclass(frozen=True)
class BoxRow:
    source: str  # the box CSV
    line: int
    filename: str
    name: schema.ImageName
    dfu: int
    box: Box


def read_boxes(
    path: Path, camera: str, skips: list[Skip], notes: list[Note] | None = None
) -> list[BoxRow]:
    """Valid, de-duplicated box rows of one camera's CSV (``Patient#`` may be "003" or 3).

    The ulcer of a row is its ``DFU#``; the file name gives patient, appointment and shot
    (its ulcer digit may name another ulcer of the frame: noted, not checked)."""
    notes = [] if notes is None else notes
    table = read_table(path, skips, notes)
    for column in BBOX_REQUIRED:
        if column not in table.header:
            raise DataError(
                "column missing from the box file", file=str(path), line=1, column=column
            )
    ints = {
        c: numbers(table, c, required=True, whole=c not in BOX_COLUMNS).round().astype(int)
        for c in BBOX_REQUIRED[1:]
    }
    _note_zero_padded(table, notes)
    values = pd.DataFrame(ints).to_dict("records")
    rows = []
    for (line, filename), value in zip(table.frame["Filename"].items(), values, strict=True):
        row = _box_row(int(line), filename, value, camera, path=path, skips=skips)
        if row is not None:
            rows.append(row)
            if row.name.dfu != row.dfu:
                detail = (
                    f"{filename} carries ulcer digit {row.name.dfu}, the row's DFU# is "
                    f"{row.dfu}: DFU# used"
                )
                notes.append(Note(str(path), row.line, "name_digit_not_dfu", detail))
    return _dedupe_boxes(rows, path, skips)


def _note_zero_padded(table: Table, notes: list[Note]) -> None:
    keys = [c for c in schema.KEY_COLUMNS if c in table.header]
    padded = pd.DataFrame({c: table.frame[c].str.fullmatch(_ZERO_PADDED) for c in keys})
    for line, row in padded[padded.any(axis=1)].iterrows():
        cells = ", ".join(f"{c} {table.frame.at[line, c]!r}" for c in keys if row[c])
        notes.append(
            Note(str(table.path), int(line), "zero_padded_key", f"{cells} read as numbers")
        )


def _box_row(
    line: int, filename: str, value: dict[str, int], camera: str, *, path: Path, skips: list[Skip]
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
