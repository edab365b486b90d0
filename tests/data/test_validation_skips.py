"""Every way a dataset's images and boxes can be broken, on a copy of the shared demo clinic
(``tests.helpers.datasets.clone``): each is skipped and counted, the rest stays usable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from dfu.config import DataConfig
from dfu.data import schema
from dfu.data.zivot import read_zivot
from tests.helpers.damage import (
    CFG,
    DEPTH,
    META,
    in_sets,
    line_of,
    read,
    single_sets,
    skips_of,
)
from tests.helpers.datasets import clone, edit_csv, read_csv, write_csv

# --- counted skips: images ------------------------------------------------------------------------


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
