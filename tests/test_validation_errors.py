"""Every way a dataset can be broken: fatal errors name file/line/column, skips are counted.

Each test copies the shared demo clinic (CSVs copied, image folders symlinked unless the
test damages them) and breaks one thing.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from conftest_data import NAMES, clone, csv_style, edit_csv, read_csv, write_csv
from PIL import Image

from dfu.config import DataConfig
from dfu.data import schema
from dfu.data.errors import DataError
from dfu.data.zivot import read_zivot

CFG = DataConfig(workers=1)
# Tests about CSVs and boxes read PNG headers only (fast); tests about corrupt images decode.
HEADERS_ONLY = {"check_images": False}
META, DEPTH, THERMAL = NAMES.metadata_csv, NAMES.bbox_depth_csv, NAMES.bbox_thermal_csv


@pytest.fixture(scope="module")
def baseline(demo_dir_small):
    return read_zivot(CFG, demo_dir_small)


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


# --- counted skips: images ------------------------------------------------------------------------


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


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_png_is_skipped_naming_the_file(
    demo_dir_small, baseline, tmp_path, damage, workers
):
    row = single_sets(baseline)[0]
    victim = Path(row["depth_map_path"])
    root = clone(demo_dir_small, tmp_path / "d", copy=("Depth_Map_IMG",))
    path = root.resolve() / "Depth_Map_IMG" / victim.name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a png" * 50)
    found = read_zivot(DataConfig(workers=workers), root)
    (skip,) = skips_of(found, "corrupt_image")
    assert skip.file == str(path)
    assert row["set_id"] not in set(found.image_sets["set_id"])
    assert len(found.image_sets) == len(baseline.image_sets) - 1


def test_header_only_check_catches_garbage_but_not_truncation(demo_dir_small, baseline, tmp_path):
    rows = single_sets(baseline)[:2]
    root = clone(demo_dir_small, tmp_path / "d", copy=("Depth_RGB",))
    folder = root.resolve() / "Depth_RGB"
    truncated, garbage = (folder / Path(r["depth_rgb_path"]).name for r in rows)
    truncated.write_bytes(truncated.read_bytes()[:-200])
    garbage.write_bytes(b"\x89PNG garbage")
    fast = read_zivot(CFG, root, check_images=False)
    assert [s.file for s in skips_of(fast, "corrupt_image")] == [str(garbage)]
    full = read_zivot(CFG, root)
    assert sorted(s.file for s in skips_of(full, "corrupt_image")) == sorted(
        [str(garbage), str(truncated)]
    )


def test_corrupt_thermal_frame_falls_back_to_another_view(demo_dir_small, baseline, tmp_path):
    sets = baseline.image_sets
    per_ulcer = sets.groupby("assessment_id")["thermal_rgb_path"].transform("nunique")
    row = sets[(sets["match_step"] == 0) & (per_ulcer > 1)].iloc[0]
    root = clone(demo_dir_small, tmp_path / "d", copy=("Thermal_RGB",))
    path = root.resolve() / "Thermal_RGB" / Path(row["thermal_rgb_path"]).name
    path.write_bytes(b"")
    data = read_zivot(CFG, root)
    assert skips_of(data, "corrupt_image")[0].file == str(path)
    again = data.image_sets.set_index("set_id").loc[row["set_id"]]
    assert again["match_step"] > 0 and again["thermal_rgb_path"] != str(path)


def test_box_row_whose_image_is_missing_is_skipped(demo_dir_small, baseline, tmp_path):
    row = single_sets(baseline)[0]
    root = clone(demo_dir_small, tmp_path / "d", copy=("Depth_RGB",))
    name = Path(row["depth_rgb_path"]).name
    (root / "Depth_RGB" / name).unlink()
    data = read(root)
    (skip,) = skips_of(data, "missing_image")
    assert skip.file == str(root.resolve() / DEPTH)
    assert skip.line == line_of(root / DEPTH, name, row["dfu"]) and name in skip.detail


@pytest.mark.parametrize(
    "make_box, words",
    [
        (lambda box, w, h: (box[0], box[1], w + 3, box[3]), "outside"),
        (lambda box, w, h: (-2, box[1], box[2], box[3]), "outside"),
        (lambda box, w, h: (box[0], box[1], box[2], h + 1), "outside"),
        (lambda box, w, h: (box[0], -1, box[2], box[3]), "outside"),
        (lambda box, w, h: (box[0], box[1], box[0], box[3]), "zero area"),
        (lambda box, w, h: (box[0], box[3], box[2], box[1]), "inverted"),
    ],
)
def test_bad_box_is_skipped(demo_dir_small, baseline, tmp_path, make_box, words):
    row = single_sets(baseline)[0]
    root = clone(demo_dir_small, tmp_path / "d")
    name = Path(row["depth_rgb_path"]).name
    line = line_of(root / DEPTH, name, row["dfu"])
    with Image.open(row["depth_rgb_path"]) as img:
        width, height = img.size
    box = tuple(row[f"depth_{k}"] for k in ("xmin", "ymin", "xmax", "ymax"))
    for column, value in zip(
        ("Xmin", "Ymin", "Xmax", "Ymax"), make_box(box, width, height), strict=True
    ):
        edit_csv(root / DEPTH, line, column, str(value))
    data = read(root)
    (skip,) = skips_of(data, "bad_box")
    assert (skip.file, skip.line) == (str(root.resolve() / DEPTH), line) and words in skip.detail
    assert row["set_id"] not in set(data.image_sets["set_id"])


def test_box_row_disagreeing_with_its_file_name_is_skipped(demo_dir_small, baseline, tmp_path):
    root = clone(demo_dir_small, tmp_path / "d")
    header, rows = read_csv(root / DEPTH)
    line = next(i + 2 for i, row in enumerate(rows) if in_sets(baseline, row, header))
    edit_csv(root / DEPTH, line, "Appt#", "13")
    data = read(root)
    assert [s.line for s in skips_of(data, "box_key_mismatch")] == [line]
    assert not in_sets(data, rows[line - 2], header)


def test_image_set_without_metadata_row_is_skipped(demo_dir_small, baseline, tmp_path):
    row = single_sets(baseline)[0]
    root = clone(demo_dir_small, tmp_path / "d")
    header, rows = read_csv(root / META)
    keys = [header.index(c) for c in schema.KEY_COLUMNS]
    key = (row["patient"], row["appt"], row["dfu"])
    write_csv(root / META, header, [r for r in rows if tuple(int(r[k]) for k in keys) != key])
    data = read(root)
    lost = baseline.image_sets["assessment_id"].eq(row["assessment_id"]).sum()
    new = [s for s in skips_of(data, "no_metadata") if row["assessment_id"] in s.detail]
    assert len(new) == lost
    assert len(data.image_sets) == len(baseline.image_sets) - lost
    assert row["assessment_id"] not in set(data.assessments["assessment_id"])


def test_file_names_outside_the_grammar_are_skipped_and_counted(demo_dir_small, baseline, tmp_path):
    root = clone(demo_dir_small, tmp_path / "d", copy=("Thermal_Map_IMG",))
    folder = root / "Thermal_Map_IMG"
    some_png = next(folder.iterdir()).read_bytes()
    odd = ["notes.txt", "P001001BTMW.png", "7_P001001BTMW.PNG", "9_P001001BDMW.png"]
    for name in odd:
        (folder / name).write_bytes(some_png)
    os.mkdir(folder / "subfolder")  # not a file: ignored
    data = read(root)
    found = sorted(Path(s.file).name for s in skips_of(data, "bad_file_name"))
    assert found == sorted(odd)
    assert data.summary["skips"]["bad_file_name"]["count"] == len(odd)
    assert len(data.image_sets) == len(baseline.image_sets)


def test_windows_encoded_metadata_is_read(demo_dir_small, baseline, tmp_path):
    root = clone(demo_dir_small, tmp_path / "d")
    text = (root / META).read_text(encoding="utf-8-sig")
    (root / META).write_bytes(text.encode("cp1252"))
    data = read(root)
    assert "Wound Centre Temperature (°C)" in data.assessments.columns
    assert len(data.image_sets) == len(baseline.image_sets)
    assert [Path(n.file).name for n in data.notes if n.kind == "not_utf8"] == [META]


def test_text_record_ids_are_kept_as_text(demo_dir_small, baseline, tmp_path):
    """``ID`` is a record id, not a number: the clinic's file has ``8208A`` (line 644)."""
    root = clone(demo_dir_small, tmp_path / "d")
    edit_csv(root / META, 6, "ID", "8208A")
    data = read(root)
    assert "8208A" in set(data.assessments["ID"])
    assert all(isinstance(v, str) for v in data.assessments["ID"].dropna())
    assert 6 in {n.line for n in data.notes if n.kind == "text_id"}
    assert len(data.image_sets) == len(baseline.image_sets)
