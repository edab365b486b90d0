"""What can go wrong with a dataset on disk: fatal errors and counted skips.

A ``DataError`` stops the run: the data cannot be trusted as a whole (a missing file, a
typo in a label, text in a numeric column). A ``Skip`` drops one row, file or image set
and is counted in the reader's summary: the rest of the data stays usable, and nothing
is ever dropped without a record saying what and why.
"""

from __future__ import annotations

from dataclasses import dataclass


class DataError(Exception):
    """A fatal problem in the dataset. ``str()`` names the file and, for CSVs, the line
    (as a spreadsheet numbers rows: header = line 1, first data row = line 2) and column."""

    def __init__(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = ", ".join(_where(self.file, self.line, self.column))
        return f"{where}: {self.message}" if where else self.message


def _where(file: str | None, line: int | None, column: str | None) -> list[str]:
    parts = []
    if file:
        parts.append(str(file))
    if line is not None:
        parts.append(f"line {line}")
    if column is not None:
        parts.append(f"column {column!r}")
    return parts


@dataclass(frozen=True)
class Skip:
    """One dropped item: which file (and CSV line), a short stable reason, and details."""

    file: str
    line: int | None
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{', '.join(_where(self.file, self.line, None))}: {self.reason}: {self.detail}"
