"""Every way a dataset's CSVs can be broken: fatal errors name file/line/column; duplicate and
blank rows are dropped and counted (images and boxes: test_validation_skips.py).

Each test copies the shared demo clinic (CSVs copied, image folders symlinked unless the
test damages them) and breaks one thing.
"""

from __future__ import annotations

import dataclasses

import pytest

from dfu.data import schema
from dfu.data.errors import DataError
from dfu.data.zivot import read_zivot
from tests.helpers.damage import (
    CFG,
    DEPTH,
    META,
    THERMAL,
    append_rows,
    fatal,
    in_sets,
    one_row_per_assessment,
    read,
    skips_of,
)
from tests.helpers.datasets import clone, edit_csv, read_csv, write_csv

# --- fatal: missing pieces --------------------------------------------------------------------


@pytest.mark.parametrize("name", [META, DEPTH, THERMAL])
def test_missing_csv_is_fatal_and_names_the_path(demo_dir_small, tmp_path, name):
    root = clone(demo_dir_small, tmp_path / "d")
    (root / name).unlink()
    err = fatal(root)
    assert err.file == str(root.resolve() / name) and name in str(err)


@pytest.mark.parametrize("folder", ["Depth_RGB", "Depth_Map_IMG", "Thermal_RGB", "Thermal_Map_IMG"])
def test_missing_image_folder_is_fatal_and_names_the_path(demo_dir_small, tmp_path, folder):
    root = clone(demo_dir_small, tmp_path / "d")
    (root / folder).unlink()
    err = fatal(root)
    assert err.file == str(root.resolve() / folder)


def test_missing_dataset_folder_is_fatal(tmp_path):
    assert fatal(tmp_path / "nowhere").file == str(tmp_path / "nowhere")


def test_box_csv_missing_a_column_is_fatal_and_names_it(demo_dir_small, tmp_path):
    root = clone(demo_dir_small, tmp_path / "d")
    header, rows = read_csv(root / THERMAL)
    i = header.index("Ymax")
    write_csv(root / THERMAL, header[:i] + header[i + 1 :], [r[:i] + r[i + 1 :] for r in rows])
    err = fatal(root)
    assert (err.file, err.line, err.column) == (str(root.resolve() / THERMAL), 1, "Ymax")
    assert "'Ymax'" in str(err)


# --- fatal: bad cells ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "column, value, expected",
    [
        ("Age", "abc", "'abc'"),
        ("Wound Centre Temperature (°C)", "36,5", "'36,5'"),
        ("Appt#", "x1", "'x1'"),
        ("DFU#", "1.5", "whole number"),
        ("Patient#", "", "empty cell"),
    ],
)
def test_text_in_numeric_metadata_column_is_fatal_at_line_and_column(
    demo_dir_small, tmp_path, column, value, expected
):
    root = clone(demo_dir_small, tmp_path / "d")
    edit_csv(root / META, 6, column, value)
    err = fatal(root)
    assert (err.file, err.line, err.column) == (str(root.resolve() / META), 6, column)
    assert f"{META}, line 6, column {column!r}: expected" in str(err)
    assert expected in str(err)


def test_unknown_label_is_fatal_at_line_and_column(demo_dir_small, tmp_path):
    root = clone(demo_dir_small, tmp_path / "d")
    edit_csv(root / META, 9, schema.LABEL_COLUMN, "Q")
    for require in (True, False):  # a typo is an error even when labels are optional
        err = fatal(root, require_labels=require)
        assert (err.line, err.column) == (9, schema.LABEL_COLUMN) and "'Q'" in str(err)


def test_text_in_a_box_coordinate_is_fatal(demo_dir_small, tmp_path):
    root = clone(demo_dir_small, tmp_path / "d")
    edit_csv(root / DEPTH, 4, "Xmin", "left")
    err = fatal(root)
    assert (err.file, err.line, err.column) == (str(root.resolve() / DEPTH), 4, "Xmin")


def test_row_with_wrong_number_of_fields_is_fatal(demo_dir_small, tmp_path):
    root = clone(demo_dir_small, tmp_path / "d")
    header, rows = read_csv(root / META)
    rows[3] = rows[3][:-2]
    write_csv(root / META, header, rows)
    assert fatal(root).line == 5


# --- duplicates ---------------------------------------------------------------------------------


def test_conflicting_duplicate_assessment_keeps_the_first_row(demo_dir_small, baseline, tmp_path):
    root = clone(demo_dir_small, tmp_path / "d")
    header, rows = read_csv(root / META)
    keys = [tuple(int(r[header.index(c)]) for c in schema.KEY_COLUMNS) for r in rows]
    i = next(i for i, key in enumerate(keys) if keys.count(key) == 1)
    copy = list(rows[i])
    copy[header.index("Age")] = "101"
    copy[header.index("Onset (Days)")] = "9999"
    line = append_rows(root / META, [copy])
    data = read(root)
    before = {s.line for s in skips_of(baseline, "conflicting_duplicate_row")}
    (skip,) = [s for s in skips_of(data, "conflicting_duplicate_row") if s.line not in before]
    assert (skip.file, skip.line) == (str(root.resolve() / META), line)
    assert f"line {i + 2}," in skip.detail
    assert "'Age'" in skip.detail and "'Onset (Days)'" in skip.detail
    assert len(data.assessments) == len(baseline.assessments)
    key = keys[i]
    kept = data.assessments.set_index("assessment_id").loc[schema.assessment_id(*key)]
    assert kept["Age"] != 101 and kept["Onset (Days)"] != 9999
    assert len(data.image_sets) == len(baseline.image_sets)


def test_conflicting_duplicate_assessment_is_fatal_on_request_naming_both_lines(
    demo_dir_small, tmp_path
):
    strict = dataclasses.replace(CFG, duplicate_assessments="error")
    with pytest.raises(DataError) as planted:  # the demo's own repeated rows, as the clinic's
        read_zivot(strict, demo_dir_small, check_images=False)
    assert planted.value.column == "Onset (Days)" and "data.duplicate_assessments" in str(
        planted.value
    )
    root = clone(demo_dir_small, tmp_path / "d")
    one_row_per_assessment(root / META)
    header, rows = read_csv(root / META)
    copy = list(rows[2])
    copy[header.index("Age")] = "101"
    line = append_rows(root / META, [copy])
    with pytest.raises(DataError) as err:
        read_zivot(strict, root, check_images=False)
    assert (err.value.line, err.value.column) == (line, "Age")
    assert "line 4" in str(err.value) and f"line {line}" in str(err.value)


def test_identical_duplicate_assessment_is_dropped_and_counted(demo_dir_small, baseline, tmp_path):
    root = clone(demo_dir_small, tmp_path / "d")
    header, rows = read_csv(root / META)
    copy = list(rows[2])
    copy[header.index("ID")] = "9999"  # a re-pasted row gets a new record id
    line = append_rows(root / META, [copy])
    data = read(root)
    (skip,) = skips_of(data, "duplicate_row")
    assert (skip.line, skip.file) == (line, str(root.resolve() / META)) and "line 4" in skip.detail
    assert len(data.assessments) == len(baseline.assessments)
    assert len(data.image_sets) == len(baseline.image_sets)


def test_blank_rows_are_skipped_and_counted(demo_dir_small, baseline, tmp_path):
    root = clone(demo_dir_small, tmp_path / "d")
    header, _ = read_csv(root / META)
    line = append_rows(root / META, [[""] * len(header)])
    data = read(root)
    assert [s.line for s in skips_of(data, "blank_row")] == [line]
    assert len(data.assessments) == len(baseline.assessments)


def test_duplicate_and_conflicting_box_rows(demo_dir_small, baseline, tmp_path):
    root = clone(demo_dir_small, tmp_path / "d")
    header, rows = read_csv(root / DEPTH)
    used = [i for i, row in enumerate(rows) if in_sets(baseline, row, header)]
    same, other = list(rows[used[0]]), list(rows[used[5]])
    other[header.index("Xmin")] = str(int(other[header.index("Xmin")]) + 1)
    first = append_rows(root / DEPTH, [same, other])
    data = read(root)
    assert [s.line for s in skips_of(data, "duplicate_box")] == [first]
    before = {s.line for s in skips_of(baseline, "conflicting_boxes")}
    new = sorted(s.line for s in skips_of(data, "conflicting_boxes") if s.line not in before)
    assert new == [used[5] + 2, first + 1]
    assert in_sets(data, rows[used[0]], header)
    assert not in_sets(data, rows[used[5]], header)
    assert len(data.image_sets) == len(baseline.image_sets) - 1
