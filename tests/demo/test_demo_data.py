"""The demo generator: real layout, deterministic, and a problem that is neither trivial nor hopeless."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from PIL import Image

from dfu.combos import combo_name
from dfu.constants import IMAGE_MODALITIES, MODALITIES
from dfu.data import schema
from dfu.demo import make_demo, oracle_probabilities
from dfu.demo.generator import PRESETS
from dfu.demo.oracle import kappas
from jobs import make_demo_data as make_data

ALL = combo_name(MODALITIES)


@pytest.fixture(scope="module")
def default_demo(tmp_path_factory):
    """The default demo (60 patients, seed 0) exactly as the README generates it."""
    out = tmp_path_factory.mktemp("demo_default")
    return out, make_demo(out, workers=2)


def test_layout_and_names_follow_the_zivot_protocol(default_demo):
    out, _ = default_demo
    meta = pd.read_csv(out / "DataMaster_Processed_V12_WithMissing.csv")
    assert list(meta.columns) == list(schema.METADATA_COLUMNS)
    assert set(meta[schema.LABEL_COLUMN]) == {"I", "P", "R"}
    for folder in ("Depth_RGB", "Depth_Map_IMG", "Thermal_RGB", "Thermal_Map_IMG"):
        names = [p.name for p in (out / folder).iterdir()]
        assert names and all(schema.parse_image_name(n) for n in names), folder
    depth = pd.read_csv(out / "bounding_box_depth.csv", dtype=str)
    thermal = pd.read_csv(out / "bounding_box_thermal.csv", dtype=str)
    assert list(depth.columns) == list(schema.BBOX_COLUMNS)
    # Zero-padded text in the depth file, plain ints in the thermal file (as the clinic's).
    assert depth["Patient#"].str.len().eq(3).all() and depth["Appt#"].str.len().eq(2).all()
    assert not thermal["Patient#"].str.startswith("0").any()
    assert not thermal["Appt#"].str.fullmatch(r"0\d+").any()
    # Multi-ulcer frames: some files carry boxes of two ulcers.
    assert depth.groupby("Filename")["DFU#"].nunique().max() >= 2
    assert set(depth["DebriStat"]) == {"A", "B"} and set(depth["Angle"]) == {"L", "M", "R"}


def test_the_clinics_quirks_are_planted(default_demo):
    """As in the clinic's published files (DATASET.md, last section)."""
    out, summary = default_demo
    raw = (out / "DataMaster_Processed_V12_WithMissing.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfID,")  # UTF-8 with a byte-order mark
    assert raw.count(b"\r\n") == raw.count(b"\n")  # CRLF line ends
    meta = pd.read_csv(out / "DataMaster_Processed_V12_WithMissing.csv", dtype={"ID": str})
    assert (~meta["ID"].str.fullmatch(r"\d+")).sum() >= 1  # "50A", like the clinic's "8208A"
    keys = list(schema.KEY_COLUMNS)
    repeated = meta[meta.duplicated(keys, keep=False)]
    for _, rows in repeated.groupby(keys):
        differ = [c for c in meta.columns if rows[c].nunique(dropna=False) > 1]
        assert differ == ["Onset (Days)"]  # same ID, same label, another onset
    assert (
        repeated.groupby(keys).ngroups == summary["planted"]["skips"]["conflicting_duplicate_row"]
    )
    # Zoomed depth frames (~8% of them, as the clinic's) have no map; maps carry their
    # frame's file name.
    frames = {p.name for p in (out / "Depth_RGB").iterdir()}
    maps = {p.name for p in (out / "Depth_Map_IMG").iterdir()}
    zoomed = {n for n in frames if n.endswith("Z.png")}
    assert maps <= frames and not maps & zoomed
    assert 0.05 < len(zoomed) / len(frames) < 0.11
    # Multi-ulcer frames are named after one ulcer: the other ulcers' rows carry the truth.
    named_otherwise = 0
    for camera in ("depth", "thermal"):
        rows = pd.read_csv(out / f"bounding_box_{camera}.csv")
        digit = rows["Filename"].map(lambda n: schema.parse_image_name(n).dfu)
        named_otherwise += int((digit != rows["DFU#"]).sum())
    assert named_otherwise == summary["planted"]["accepted"]["name_digit_not_dfu"] > 0
    depth = pd.read_csv(out / "bounding_box_depth.csv")
    boxes = depth.groupby(["Filename", "DFU#"])
    two = boxes.filter(lambda g: len(g) > 1)
    assert len(two) == summary["planted"]["skips"]["conflicting_boxes"] > 0
    assert two.groupby(["Filename", "DFU#"])["Bounding Box Number"].nunique().eq(1).all()
    planted = summary["planted"]
    for section in ("skips", "accepted"):
        assert all(n > 0 for n in planted[section].values()), planted[section]


def test_class_mix_and_repeated_visits_look_like_the_clinic(default_demo):
    out, _ = default_demo
    meta = pd.read_csv(out / "DataMaster_Processed_V12_WithMissing.csv")
    mix = meta[schema.LABEL_COLUMN].value_counts(normalize=True)
    assert 0.22 < mix["I"] < 0.40 and 0.45 < mix["P"] < 0.68 and 0.07 < mix["R"] < 0.20
    assert meta.groupby("Patient#")[schema.LABEL_COLUMN].nunique().gt(1).mean() > 0.3
    assert meta["Type of Pain2"].isna().mean() > 0.6
    assert meta["Age"].isna().mean() < 0.06


def test_oracle_is_realistic_neither_trivial_nor_hopeless(default_demo):
    _, summary = default_demo
    combos = summary["combos"]
    best = combos[ALL]["qwk"]
    assert 0.60 <= best <= 0.85
    assert combos["metadata"]["qwk"] < best - 0.15
    for m in IMAGE_MODALITIES:
        assert combos[m]["qwk"] < best - 0.15, m
        assert combos[m]["kappa"] > 0.1, m  # each modality is informative on its own


def test_oracle_probabilities_reproduce_the_recorded_kappas(default_demo):
    out, summary = default_demo
    for name in (ALL, "metadata", "thermal_map"):
        proba = oracle_probabilities(out, name)
        got = kappas(proba["y"].to_numpy(), proba[["p_I", "p_P", "p_R"]].to_numpy())
        assert got == pytest.approx(summary["combos"][name])


def test_generation_is_deterministic_per_seed(tmp_path):
    a = make_demo(tmp_path / "a", patients=5, seed=11, workers=1)
    b = make_demo(tmp_path / "b", patients=5, seed=11, workers=2)
    c = make_demo(tmp_path / "c", patients=5, seed=12, workers=1)
    assert a == b and a != c
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.*"))
    for rel in files[:40]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_planted_faults_are_recorded(default_demo):
    out, summary = default_demo
    planted = json.loads((out / "_oracle" / "summary.json").read_text())["planted"]
    assert planted == summary["planted"]
    assert planted["skips"]["missing_map"] >= 1 and planted["skips"]["no_metadata"] >= 1
    assert planted["thermal_angle_missing"] >= 1 and planted["thermal_zoom_missing"] >= 1
    # Every assessment with images keeps an image set: the map-less frames cost none.
    assert planted["missing_map_cost"]["assessments"] == 0
    assert summary["n_assessments"] == len(pd.read_csv(out / "_oracle" / "signals.csv"))


def test_presets_and_overrides(tmp_path):
    assert PRESETS["clinic"]["frame_scale"] == 1.0 and PRESETS["demo"]["patients"] == 60
    out = tmp_path / "c"
    assert (
        make_data.main(
            ["--out", str(out), "--preset", "clinic", "--patients", "3", "--frame-scale", "0.1"]
        )
        == 0
    )
    meta = pd.read_csv(out / "DataMaster_Processed_V12_WithMissing.csv")
    assert set(meta["Patient#"]) <= {1, 2, 3}
    assert meta["Appt#"].max() < PRESETS["clinic"]["visits"][1]  # the clinic's visit counts
    with Image.open(next((out / "Thermal_RGB").iterdir())) as img:
        assert img.size == (108, 144)  # the override: a tenth of the thermal camera's frame
    with pytest.raises(ValueError, match="preset"):
        make_demo(tmp_path / "x", preset="hospital")
