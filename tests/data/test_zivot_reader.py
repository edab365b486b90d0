"""The Zivot reader: matching image sets to assessments, and what it returns."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dfu.config import DataConfig
from dfu.constants import CLASSES, IMAGE_MODALITIES
from dfu.data import schema
from dfu.data.errors import DataError
from dfu.data.zivot import read_zivot
from dfu.demo import load_oracle
from tests.helpers.datasets import NAMES, Shot, read_csv, write_csv, write_dataset

CFG = DataConfig(workers=1)
BOX = (4, 5, 20, 22)


def thermal(token: str, seq: int, **boxes: tuple) -> Shot:
    """A thermal shot; ``boxes`` as ``u1=(...)``: DFU# -> box."""
    return Shot(f"{seq}_{token}.png", {int(k[1:]): v for k, v in boxes.items()})


@pytest.fixture(scope="module")
def demo(demo_dir_small):
    return read_zivot(CFG, demo_dir_small)


@pytest.fixture(scope="module")
def planted(demo_dir_small) -> dict:
    return json.loads((demo_dir_small / "_oracle" / "summary.json").read_text())["planted"]


# --- matching, step by step -----------------------------------------------------------------


@pytest.mark.parametrize(
    "thermal_shots, step, chosen",
    [
        # The depth shot's own thermal frame wins over any other view.
        ([thermal("P001001BTLW", 4, u1=BOX), thermal("P001001BTMW", 2, u1=BOX)], 0, "P001001BTMW"),
        # Its frame has no box for ulcer 1: another angle, same zoom and debridement.
        (
            [
                thermal("P001001BTMW", 2, u2=BOX),
                thermal("P001001BTRW", 4, u1=BOX),
                thermal("P001001BTLW", 6, u1=BOX),
                thermal("P001001BTMZ", 8, u1=BOX),
            ],
            1,
            "P001001BTLW",
        ),
        # No wide thermal view: any zoom, same debridement (before another debridement).
        ([thermal("P001001ATMW", 4, u1=BOX), thermal("P001001BTRZ", 6, u1=BOX)], 2, "P001001BTRZ"),
        # Only after-debridement views: any debridement.
        ([thermal("P001001ATRZ", 4, u1=BOX), thermal("P001001ATLW", 6, u1=BOX)], 3, "P001001ATLW"),
    ],
)
def test_thermal_fallback_steps(tmp_path, thermal_shots, step, chosen):
    depth = Shot("1_P001001BDMW.png", {1: (3, 4, 30, 25)})
    data = read_zivot(CFG, write_dataset(tmp_path, [depth, *thermal_shots]))
    (row,) = data.image_sets.itertuples()
    assert row.match_step == step
    assert Path(row.thermal_rgb_path).name.endswith(f"_{chosen}.png")
    assert Path(row.thermal_map_path).name == Path(row.thermal_rgb_path).name
    assert (row.depth_xmin, row.depth_ymin, row.depth_xmax, row.depth_ymax) == (3, 4, 30, 25)
    assert data.summary["match_steps"][str(step)] == 1


def test_multi_ulcer_frame_gives_one_image_set_per_ulcer(tmp_path):
    """A frame named after ulcer 1 showing ulcers 1 and 2; ulcer 2's thermal box exists
    only in a zoomed frame named after ulcer 2 (the box's DFU#, not the file's, counts)."""
    b1, b2 = (1, 2, 15, 16), (25, 3, 40, 20)
    t1, t2 = (2, 3, 14, 17), (5, 6, 30, 40)
    shots = [
        Shot("1_P002001BDMW.png", {1: b1, 2: b2}),
        Shot("2_P002001BTMW.png", {1: t1}),
        Shot("4_P002002BTMZ.png", {2: t2}),
    ]
    data = read_zivot(CFG, write_dataset(tmp_path, shots))
    sets = data.image_sets.set_index("dfu")
    assert sorted(sets.index) == [1, 2]
    assert sets.loc[1, "assessment_id"] != sets.loc[2, "assessment_id"]
    assert sets["depth_rgb_path"].nunique() == 1 and sets["set_id"].is_unique
    for dfu, depth_box, thermal_box, step in ((1, b1, t1, 0), (2, b2, t2, 2)):
        row = sets.loc[dfu]
        assert tuple(row[f"depth_{k}"] for k in ("xmin", "ymin", "xmax", "ymax")) == depth_box
        assert tuple(row[f"thermal_{k}"] for k in ("xmin", "ymin", "xmax", "ymax")) == thermal_box
        assert row["match_step"] == step
        assert row["assessment_id"] == schema.assessment_id(2, 0, dfu)


def test_zero_padded_patient_ids_are_normalised(tmp_path):
    shots = [Shot("1_P012031BDMW.png", {1: BOX}), Shot("2_P012031BTMW.png", {1: BOX})]
    root = write_dataset(tmp_path, shots)
    # The helper writes "012" (text) in the depth file and 12 in the thermal file.
    assert read_csv(root / NAMES.bbox_depth_csv)[1][0][1] == "012"
    assert read_csv(root / NAMES.bbox_thermal_csv)[1][0][1] == "12"
    (row,) = read_zivot(CFG, root).image_sets.itertuples()
    assert (row.patient, row.appt, row.dfu, row.assessment_id) == (12, 3, 1, "P012-A03-U1")


def test_file_name_ulcer_digit_is_not_the_ulcer(tmp_path):
    """The clinic's ``42_P261001ADRW.png`` carries DFU# 3 (Bounding Box Number 3): the box
    row's DFU# is the ulcer; the file name gives patient, appointment and the shot."""
    shots = [Shot("42_P261001ADRW.png", {3: BOX}), Shot("43_P261001ATRW.png", {3: BOX})]
    data = read_zivot(CFG, write_dataset(tmp_path, shots))
    (row,) = data.image_sets.itertuples()
    assert (row.assessment_id, row.dfu, row.match_step) == ("P261-A00-U3", 3, 0)
    assert Path(row.depth_map_path).name == "42_P261001ADRW.png"
    assert data.skips == []
    accepted = data.summary["accepted"]["name_digit_not_dfu"]
    assert accepted["by_file"] == {NAMES.bbox_depth_csv: 1, NAMES.bbox_thermal_csv: 1}


def test_a_map_is_never_borrowed_from_another_frame(tmp_path):
    """Two depth frames of one shot (same token): the one without a map of its own is not
    cropped with the other's map. A map that has only the frame's token (another number) and
    belongs to no frame is still the frame's map."""
    shots = [
        Shot("1_P001001BDMW.png", {1: BOX}, with_map=False),
        Shot("3_P001001BDMW.png", {1: (6, 7, 22, 24)}),
        Shot("5_P001001BDLW.png", {1: BOX}, with_map=False),
        Shot("2_P001001BTMW.png", {1: BOX}),
        Shot("6_P001001BTLW.png", {1: BOX}),
    ]
    root = write_dataset(tmp_path, shots)
    maps_dir = root / NAMES.depth_map_dir
    # A map numbered unlike any frame, with frame 5's token.
    (maps_dir / "9_P001001BDLW.png").write_bytes((maps_dir / "3_P001001BDMW.png").read_bytes())
    data = read_zivot(CFG, root)
    maps = {
        Path(r.depth_rgb_path).name: Path(r.depth_map_path).name
        for r in data.image_sets.itertuples()
    }
    assert maps == {
        "3_P001001BDMW.png": "3_P001001BDMW.png",
        "5_P001001BDLW.png": "9_P001001BDLW.png",
    }
    (skip,) = [s for s in data.skips if s.reason == "missing_map"]
    assert Path(skip.file).name == "1_P001001BDMW.png"
    depth = data.summary["maps"]["depth"]
    assert (depth["same_name"], depth["same_token"], depth["none"]) == (1, 1, 1)
    assert data.summary["missing_map_cost"] == {"image_sets": 1, "assessments": 0}


def test_image_set_without_any_thermal_view_is_skipped_and_counted(tmp_path):
    shots = [
        Shot("1_P001001BDMW.png", {1: BOX}),
        Shot("2_P001001BTMW.png", {2: BOX}),
        Shot("3_P001002BDMW.png", {2: BOX}),
    ]
    data = read_zivot(CFG, write_dataset(tmp_path, shots))
    assert list(data.image_sets["dfu"]) == [2]
    (skip,) = [s for s in data.skips if s.reason == "no_thermal"]
    assert skip.file.endswith("1_P001001BDMW.png")
    assert data.summary["skips"]["no_thermal"]["count"] == 1


# --- the demo clinic ----------------------------------------------------------------------------


def test_every_depth_box_is_an_image_set_or_a_counted_skip(demo, demo_dir_small):
    _, depth_rows = read_csv(demo_dir_small / NAMES.bbox_depth_csv)
    box_skips = [s for s in demo.skips if not s.file.endswith(NAMES.metadata_csv)]
    assert len(demo.image_sets) + len(box_skips) == len(depth_rows)
    assert demo.image_sets["set_id"].is_unique
    assert demo.summary["image_sets"] == len(demo.image_sets)


def test_planted_faults_are_found(demo, planted):
    summary = demo.summary
    skips = {reason: found["count"] for reason, found in summary["skips"].items()}
    assert skips == {reason: n for reason, n in planted["skips"].items() if n}
    accepted = {kind: found["count"] for kind, found in summary["accepted"].items()}
    assert accepted == {kind: n for kind, n in planted["accepted"].items() if n}
    assert summary["image_sets"] == planted["image_sets"]
    assert summary["missing_map_cost"] == planted["missing_map_cost"]
    depth_maps = summary["maps"]["depth"]
    assert {k: depth_maps[k] for k in planted["depth_maps"]} == planted["depth_maps"]
    assert depth_maps["same_token"] == depth_maps["ambiguous"] == 0
    steps = summary["match_steps"]
    for step, fault in enumerate(("angle", "zoom", "debridement"), start=1):
        assert (steps[str(step)] > 0) == (planted[f"thermal_{fault}_missing"] > 0), fault


def test_oracle_lists_exactly_the_assessments_that_keep_an_image_set(demo, demo_dir_small):
    signals, _ = load_oracle(demo_dir_small)
    assert set(signals["assessment_id"]) == set(demo.image_sets["assessment_id"])
    labels = demo.assessments.set_index("assessment_id")["label"]
    y = signals.set_index("assessment_id")["y"]
    assert (labels[y.index].map(CLASSES.index) == y).all()


def test_match_step_zero_exactly_when_the_shots_own_thermal_box_exists(demo, demo_dir_small):
    header, rows = read_csv(demo_dir_small / NAMES.bbox_thermal_csv)
    thermal_boxes = {
        (schema.parse_image_name(r[0]).token, int(r[header.index("DFU#")])) for r in rows
    }
    for row in demo.image_sets.itertuples():
        depth_name = schema.parse_image_name(Path(row.depth_rgb_path).name)
        own = dataclasses.replace(depth_name, camera="T").token
        assert (row.match_step == 0) == ((own, row.dfu) in thermal_boxes), row.set_id


def test_image_sets_agree_with_files_and_metadata(demo, demo_dir_small):
    sets, meta = demo.image_sets, demo.assessments
    labels = meta.set_index("assessment_id")["label"]
    assert (sets["label"] == sets["assessment_id"].map(labels)).all()
    assert set(sets["label"]) <= set(CLASSES)
    for row in sets.itertuples():
        for m in IMAGE_MODALITIES:
            path = Path(getattr(row, f"{m}_path"))
            assert path.is_absolute() and path.is_file()
            name = schema.parse_image_name(path.name)
            assert (name.patient, name.appt) == (row.patient, row.appt)
    has = meta.set_index("assessment_id")["has_images"]
    assert set(has[has].index) == set(sets["assessment_id"])


def test_assessments_keep_the_first_metadata_row_of_each_key_with_typed_columns(
    demo, demo_dir_small
):
    raw = pd.read_csv(demo_dir_small / NAMES.metadata_csv, dtype={"ID": str})
    first = raw.drop_duplicates(list(schema.KEY_COLUMNS), keep="first")
    assert len(first) < len(raw)  # the demo repeats a few assessments, as the clinic's file
    meta = demo.assessments
    assert len(meta) == len(first) and meta["assessment_id"].is_unique
    for column in raw.columns:
        assert column in meta.columns, column
    assert all(meta[c].dtype == float for c in schema.NUMERIC_FEATURES if c in raw.columns)
    for column in (*schema.CATEGORICAL_FEATURES, "ID"):
        values = meta[column].dropna()
        assert all(isinstance(v, str) for v in values), column
    assert list(meta["ID"]) == list(first["ID"])
    onset = "Onset (Days)"  # repeated rows differ here: the first row's value is kept
    np.testing.assert_array_equal(meta[onset].to_numpy(), first[onset].to_numpy(dtype=float))
    assert meta["Age"].isna().sum() == first["Age"].isna().sum()
    counts = demo.summary["classes"]["assessments"]
    assert counts == first[schema.LABEL_COLUMN].value_counts().reindex(CLASSES).to_dict()


def test_summary_counts_modalities(demo):
    modalities = demo.summary["modalities"]
    assert modalities["metadata"]["assessments"] == len(demo.assessments)
    for m in IMAGE_MODALITIES:
        assert modalities[m]["used"] == demo.image_sets[f"{m}_path"].nunique()
        assert modalities[m]["used"] <= modalities[m]["files"]
    assert json.loads(json.dumps(demo.summary)) == demo.summary


# --- labels -------------------------------------------------------------------------------------


def _without_label_column(root: Path) -> None:
    path = root / NAMES.metadata_csv
    header, rows = read_csv(path)
    i = header.index(schema.LABEL_COLUMN)
    write_csv(path, header[:i] + header[i + 1 :], [r[:i] + r[i + 1 :] for r in rows])


def test_missing_label_column_is_fatal_unless_labels_are_optional(tmp_path):
    root = write_dataset(
        tmp_path, [Shot("1_P001001BDMW.png", {1: BOX}), Shot("2_P001001BTMW.png", {1: BOX})]
    )
    _without_label_column(root)
    with pytest.raises(DataError) as err:
        read_zivot(CFG, root)
    assert err.value.column == schema.LABEL_COLUMN
    assert err.value.file.endswith(NAMES.metadata_csv)
    data = read_zivot(CFG, root, require_labels=False)
    assert len(data.image_sets) == 1
    assert data.image_sets["label"].isna().all() and data.assessments["label"].isna().all()
    assert data.summary["classes"]["image_sets"]["unlabelled"] == 1


def test_empty_labels_are_allowed_only_when_labels_are_optional(tmp_path):
    root = write_dataset(
        tmp_path,
        [Shot("1_P001001BDMW.png", {1: BOX}), Shot("2_P001001BTMW.png", {1: BOX})],
        labels={(1, 0, 1): ""},
    )
    with pytest.raises(DataError) as err:
        read_zivot(CFG, root)
    assert (err.value.line, err.value.column) == (2, schema.LABEL_COLUMN)
    assert read_zivot(CFG, root, require_labels=False).image_sets["label"].isna().all()
