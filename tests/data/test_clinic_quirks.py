"""The clinic's real files, as published (DATASET.md, last section): every quirk is read as
is or counted, never a stop.

``clinic_like`` writes a small dataset with each quirk of the real files: a UTF-8 metadata
CSV with a byte-order mark and CRLF line ends, an ``ID`` that is not a number (``8208A``),
an assessment on two rows differing in ``Onset (Days)``, zero-padded keys in the depth box
file only, a frame whose file name's ulcer digit is not its DFU#, a frame with two boxes
for one ulcer, zoomed depth frames without a map, and maps named like their frame.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dfu.config import DataConfig
from dfu.data import schema
from dfu.data.errors import DataError
from dfu.data.zivot import read_zivot
from jobs import validate_data
from tests.helpers.datasets import NAMES, Shot, read_csv, write_csv, write_dataset

CFG = DataConfig(workers=1)
BOX, TBOX, OTHER = (4, 5, 20, 22), (3, 6, 25, 30), (8, 9, 30, 26)
META, DEPTH = NAMES.metadata_csv, NAMES.bbox_depth_csv

SHOTS = [
    # Named after ulcer 1, showing ulcer 3 only (the clinic's 42_P261001ADRW.png).
    Shot("42_P261001ADRW.png", {3: BOX}),
    Shot("43_P261001ATRW.png", {3: TBOX}),
    Shot("44_P261001BDLW.png", {1: BOX}),
    Shot("45_P261001BTLW.png", {1: TBOX}),
    # A zoomed depth frame: no map of its own (its thermal frame has one).
    Shot("46_P261001BDLZ.png", {1: BOX}, with_map=False),
    Shot("47_P261001BTLZ.png", {1: TBOX}),
    # Two boxes for ulcer 1 in one frame (a row is added below); another view of it.
    Shot("2723_P222001BDRW.png", {1: BOX}),
    Shot("2724_P222001BTRW.png", {1: TBOX}),
    Shot("2725_P222001BDMW.png", {1: BOX}),
    Shot("2726_P222001BTMW.png", {1: TBOX}),
    Shot("1003_P092011ADLW.png", {1: BOX}),
    Shot("1004_P092011ATLW.png", {1: TBOX}),
    # An assessment seen only in a zoomed frame: map-less, it is lost.
    Shot("50_P092021BDMZ.png", {1: BOX}, with_map=False),
    Shot("51_P092021BTMZ.png", {1: TBOX}),
]
HEADER = ["ID", *schema.KEY_COLUMNS, "Appt Days", "Onset (Days)", "Age", schema.LABEL_COLUMN]
META_ROWS = [
    ["8201", 92, 1, 1, 14, 401, 61, "P"],
    ["8202", 92, 2, 1, 28, 415, 61, "P"],
    ["8203", 222, 0, 1, 0, 447, 70, "I"],
    ["8208A", 261, 0, 1, 0, 30, 55, "I"],
    ["8209", 261, 0, 3, 0, 12, 55, "I"],
    ["8210", 92, 1, 1, 14, 408, 61, "P"],  # line 7 repeats line 2 but for the onset
]


def clinic_like(root: Path) -> Path:
    write_dataset(root, SHOTS)
    header, rows = read_csv(root / DEPTH)
    extra = next(list(r) for r in rows if r[0] == "2723_P222001BDRW.png")
    extra[header.index("Xmin") : header.index("Ymax") + 1] = map(str, OTHER)
    write_csv(root / DEPTH, header, [*rows, extra])  # same ulcer, same box number
    write_csv(root / META, HEADER, META_ROWS, bom=True, crlf=True)
    return root


@pytest.fixture(scope="module")
def quirky(tmp_path_factory) -> Path:
    return clinic_like(tmp_path_factory.mktemp("clinic_like"))


def test_the_quirks_are_really_there(quirky):
    data = (quirky / META).read_bytes()
    assert data.startswith(b"\xef\xbb\xbfID,") and data.count(b"\r\n") == len(META_ROWS) + 1
    _, depth = read_csv(quirky / DEPTH)
    _, thermal = read_csv(quirky / NAMES.bbox_thermal_csv)
    assert {r[1][0] for r in depth} == {"0", "2"} and all(len(r[2]) == 2 for r in depth)
    assert all(cell == "0" or not cell.startswith("0") for r in thermal for cell in r[1:3])
    depth_shots = [s for s in SHOTS if schema.parse_image_name(s.name).camera == "D"]
    maps = sorted(p.name for p in (quirky / NAMES.depth_map_dir).iterdir())
    assert maps == sorted(s.name for s in depth_shots if s.with_map)  # named like the frame
    assert all(s.name.endswith("Z.png") for s in depth_shots if not s.with_map)


def test_every_quirk_is_read_as_is_or_counted(quirky):
    data = read_zivot(CFG, quirky)
    summary = data.summary
    sets = data.image_sets.set_index("set_id")
    assert sorted(sets.index) == [
        "1003_P092011ADLW#1",
        "2725_P222001BDMW#1",
        "42_P261001ADRW#3",
        "44_P261001BDLW#1",
    ]
    assert sets.loc["42_P261001ADRW#3", "assessment_id"] == "P261-A00-U3"
    assert (sets["match_step"] == 0).all()
    skips = {reason: found["count"] for reason, found in summary["skips"].items()}
    assert skips == {"conflicting_duplicate_row": 1, "conflicting_boxes": 2, "missing_map": 2}
    accepted = summary["accepted"]
    assert {kind: found["by_file"] for kind, found in accepted.items()} == {
        "byte_order_mark": {META: 1},
        "crlf_line_ends": {META: 1},
        "text_id": {META: 1},
        "zero_padded_key": {DEPTH: 8},
        "name_digit_not_dfu": {DEPTH: 1, NAMES.bbox_thermal_csv: 1},
    }
    assert summary["maps"]["depth"] == {
        "frames": 7,
        "same_name": 5,
        "same_token": 0,
        "ambiguous": 0,
        "none": 2,
        "none_zoomed": 2,
    }
    assert summary["maps"]["thermal"]["same_name"] == 7
    # The zoomed frame of P261-A00-U1 costs one image set; P092-A02-U1 had only a zoomed frame.
    assert summary["missing_map_cost"] == {"image_sets": 2, "assessments": 1}
    has = data.assessments.set_index("assessment_id")["has_images"]
    assert not has["P092-A02-U1"] and has.drop("P092-A02-U1").all()


def test_record_ids_are_text_and_the_first_of_repeated_rows_is_kept(quirky):
    data = read_zivot(CFG, quirky, check_images=False)
    meta = data.assessments.set_index("assessment_id")
    assert meta.loc["P261-A00-U1", "ID"] == "8208A"
    assert list(meta["ID"]) == ["8201", "8202", "8203", "8208A", "8209"]
    assert meta.loc["P092-A01-U1", "Onset (Days)"] == 401
    (skip,) = [s for s in data.skips if s.reason == "conflicting_duplicate_row"]
    assert skip.line == 7 and "line 2," in skip.detail
    assert "'Onset (Days)' 401 there, 408 here" in skip.detail
    (text_id,) = [n for n in data.notes if n.kind == "text_id"]
    assert text_id.line == 5 and "'8208A'" in text_id.detail


def test_conflicting_boxes_of_one_ulcer_are_both_dropped(quirky):
    data = read_zivot(CFG, quirky, check_images=False)
    header, rows = read_csv(quirky / DEPTH)
    lines = [i + 2 for i, r in enumerate(rows) if r[0] == "2723_P222001BDRW.png"]
    found = [s for s in data.skips if s.reason == "conflicting_boxes"]
    assert sorted(s.line for s in found) == lines and len(lines) == 2
    assert all(f"lines {lines[0]}, {lines[1]}" in s.detail for s in found)
    assert "2723_P222001BDRW#1" not in set(data.image_sets["set_id"])


def test_duplicate_assessments_error_stops_naming_both_lines(quirky):
    with pytest.raises(DataError) as err:
        read_zivot(dataclasses.replace(CFG, duplicate_assessments="error"), quirky)
    assert (err.value.file, err.value.line, err.value.column) == (
        str((quirky / META).resolve()),
        7,
        "Onset (Days)",
    )
    assert "line 2" in str(err.value) and "401" in str(err.value) and "408" in str(err.value)


def test_duplicate_assessments_setting_is_validated(quirky, capsys):
    assert validate_data.main([str(quirky), "data.duplicate_assessments=last"]) == 2
    assert "data.duplicate_assessments" in capsys.readouterr().err


def test_validate_data_reports_every_quirk(quirky, capsys):
    assert validate_data.main([str(quirky), "data.workers=1"]) == 0
    out = capsys.readouterr().out
    assert "depth frames without a map cost 2 image sets (33.3%) and 1 assessments" in out
    assert (
        "maps of depth frames: 7 frames, 5 same name, 0 same token only, 2 none (2 zoomed)" in out
    )
    for line in (
        "conflicting_duplicate_row 1",
        "conflicting_boxes",
        "missing_map",
        "text_id",
        "zero_padded_key",
        "name_digit_not_dfu",
        "byte_order_mark",
        "crlf_line_ends",
    ):
        assert f"  {line}" in out, line
    assert "ok: 4 image sets, 5 assessments" in out
