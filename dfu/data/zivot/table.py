"""A CSV file of the Zivot layout as a table of stripped text cells, and typed columns of it.

``read_table`` decodes any encoding Excel writes (noting a byte-order mark, CRLF line ends or
a non-UTF-8 file: read as is) and numbers rows as a spreadsheet does (header = line 1);
``numbers`` / ``texts`` / ``maybe_numbers`` type one column, naming the line and column of a
cell that is not what it must be. The metadata and box readers build on these.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dfu.data.errors import DataError, Skip

# Spellings of "missing" accepted in numeric cells besides an empty cell.
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "#n/a", "null", "none"})


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
class Table:
    path: Path
    header: list[str]
    frame: pd.DataFrame  # every cell a stripped str; index = spreadsheet line number


# --- CSV cells -----------------------------------------------------------------------------


def read_table(path: Path, skips: list[Skip], notes: list[Note]) -> Table:
    """All cells as stripped text. Blank rows are skipped (counted); ragged rows are fatal.
    A byte-order mark, CRLF line ends and a non-UTF-8 encoding are read as is (noted)."""
    text = decode(path, notes)
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
    return Table(path, header, frame)


def decode(path: Path, notes: list[Note]) -> str:
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


def numbers(table: Table, column: str, required: bool = False, whole: bool = False) -> pd.Series:
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


def texts(raw: pd.Series) -> pd.Series:
    return raw.where(raw != "", None).astype(object)


def maybe_numbers(raw: pd.Series) -> pd.Series:
    """Columns the schema does not know: numbers if every cell is one, else text."""
    missing = raw.str.lower().isin(MISSING_TOKENS)
    values = pd.to_numeric(raw.where(~missing), errors="coerce")
    return values.astype(float) if values.notna().eq(~missing).all() else texts(raw)
