"""Reading a deliberately broken copy of the demo clinic: the reader's config, a read that
returns (or the fatal error it raises), the skips of one reason, and CSV edits that keep a
file's encoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfu.config import DataConfig
from dfu.data import schema
from dfu.data.errors import DataError
from dfu.data.zivot import read_zivot
from tests.helpers.datasets import NAMES, csv_style, read_csv, write_csv

CFG = DataConfig(workers=1)
# Tests about CSVs and boxes read PNG headers only (fast); tests about corrupt images decode.
HEADERS_ONLY = {"check_images": False}
META, DEPTH, THERMAL = NAMES.metadata_csv, NAMES.bbox_depth_csv, NAMES.bbox_thermal_csv


def read(root: Path, **kwargs):
    return read_zivot(CFG, root, **{**HEADERS_ONLY, **kwargs})


def fatal(root: Path, **kwargs) -> DataError:
    with pytest.raises(DataError) as err:
        read(root, **kwargs)
    return err.value


def skips_of(data, reason: str) -> list:
    return [s for s in data.skips if s.reason == reason]


def line_of(path: Path, filename: str, dfu: int | None = None) -> int:
    """Spreadsheet line of the box row of ``filename`` (and ulcer ``dfu``)."""
    header, rows = read_csv(path)
    for i, row in enumerate(rows):
        if row[0] == filename and (dfu is None or int(row[header.index("DFU#")]) == dfu):
            return i + 2
    raise AssertionError(f"{filename} not in {path}")


def append_rows(path: Path, rows: list[list[str]]) -> int:
    """Append rows; returns the line of the first appended one."""
    header, old = read_csv(path)
    write_csv(path, header, old + rows, **csv_style(path))
    return len(old) + 2


def one_row_per_assessment(path: Path) -> None:
    """Drop the rows repeating an earlier row's (Patient#, Appt#, DFU#) (the demo plants a few)."""
    header, rows = read_csv(path)
    keys = [header.index(c) for c in schema.KEY_COLUMNS]
    seen, kept = set(), []
    for row in rows:
        key = tuple(int(row[k]) for k in keys)
        if key not in seen:
            seen.add(key)
            kept.append(row)
    write_csv(path, header, kept, **csv_style(path))


def single_sets(baseline, **match) -> list[dict]:
    """Image sets alone on their depth frame (damaging the frame loses exactly one set)."""
    sets = baseline.image_sets
    sets = sets[sets.groupby("depth_rgb_path")["set_id"].transform("size") == 1]
    for key, value in match.items():
        sets = sets[sets[key] == value]
    return sets.to_dict("records")


def in_sets(data, csv_row: list[str], header: list[str]) -> bool:
    """Whether the depth box row ``csv_row`` became an image set."""
    found = data.image_sets
    name, dfu = csv_row[header.index("Filename")], int(csv_row[header.index("DFU#")])
    depth_names = found["depth_rgb_path"].map(lambda p: Path(p).name)
    return bool(((depth_names == name) & (found["dfu"] == dfu)).any())
