"""The demo generator: real layout, deterministic, and a problem that is neither trivial nor hopeless."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dfu.combos import combo_name
from dfu.config import IMAGE_MODALITIES, MODALITIES
from dfu.data import schema
from dfu.data.demo import make_demo, oracle_probabilities
from dfu.data.demo.oracle import kappas

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
    assert depth["Patient#"].str.len().eq(3).all()  # zero-padded text in the depth file
    assert not thermal["Patient#"].str.startswith("0").any()  # plain ints in the thermal file
    # Multi-ulcer frames: some files carry boxes of two ulcers.
    assert depth.groupby("Filename")["DFU#"].nunique().max() >= 2
    assert set(depth["DebriStat"]) == {"A", "B"} and set(depth["Angle"]) == {"L", "M", "R"}


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
    assert planted["depth_map_missing_image_sets"] >= 1 and planted["no_metadata_image_sets"] >= 1
    assert planted["thermal_angle_missing"] >= 1
