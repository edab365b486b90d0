"""The Parquet cache: exact round trip, content-hash key, atomic builds, parallel == serial."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from dfu.config import DataConfig, load_config
from dfu.constants import CLASSES, IMAGE_MODALITIES
from dfu.data import cache as cache_module
from dfu.data.cache import build_cache, cache_key, load_cache
from dfu.data.images import load_crops
from dfu.data.zivot import read_zivot
from tests.helpers.datasets import NAMES, Shot, clone, edit_csv, write_dataset

SIZE = 16


@pytest.fixture(scope="module")
def built(demo_dir_small, tmp_path_factory):
    """The demo clinic cached twice: in parallel (2 workers) and serially."""
    caches = {}
    for workers in (2, 1):
        cfg = DataConfig(
            image_size=SIZE,
            workers=workers,
            cache_dir=str(tmp_path_factory.mktemp(f"cache{workers}")),
        )
        caches[workers] = (cfg, build_cache(cfg, demo_dir_small, progress=False))
    return caches


def test_round_trip_equals_load_crops(built, demo_dir_small):
    cfg, path = built[2]
    cache = load_cache(path)
    sets = read_zivot(cfg, demo_dir_small, check_images=False).image_sets
    assert list(cache.index["set_id"]) == list(sets["set_id"])
    for m in IMAGE_MODALITIES:
        assert cache.images[m].shape == (len(sets), SIZE, SIZE, 3)
        assert cache.images[m].dtype == np.uint8
    # Every 7th row and the last: rows of every chunk, quick enough on two cores.
    rows = sets.to_dict("records")
    for i in [*range(0, len(rows), 7), len(rows) - 1]:
        row = rows[i]
        for m, crop in load_crops(row, SIZE).items():
            np.testing.assert_array_equal(cache.images[m][i], crop, err_msg=f"{row['set_id']} {m}")


def test_index_labels_and_files(built, demo_dir_small):
    cfg, path = built[2]
    cache = load_cache(path)
    index = cache.index
    assert list(index["label_idx"]) == [CLASSES.index(v) for v in index["label"]]
    assert set(index.columns) >= {"set_id", "assessment_id", "patient", "appt", "dfu", "label"}
    schema = pq.read_schema(path / "image_sets.parquet")
    for m in IMAGE_MODALITIES:
        assert schema.field(m).type.extension_name == "arrow.fixed_shape_tensor"
        assert list(schema.field(m).type.shape) == [SIZE, SIZE, 3]
    summary = json.loads((path / "summary.json").read_text())
    assert summary["image_sets"] == len(index) == cache.summary["image_sets"]
    reasons = [s["reason"] for s in summary["skip_list"]]
    assert {r: reasons.count(r) for r in set(reasons)} == {
        r: v["count"] for r, v in summary["skips"].items()
    }
    saved = load_config(path / "config.yaml").data
    assert saved.image_size == SIZE and saved.root == str(demo_dir_small.resolve())
    assert len(cache.assessments) == summary["assessments"]
    assert cache.assessments["has_images"].sum() == summary["assessments_with_images"]


def test_parallel_build_equals_serial_build(built):
    path2, path1 = built[2][1], built[1][1]
    assert path1.name == path2.name  # workers are not part of the key
    parallel, serial = load_cache(path2), load_cache(path1)
    assert parallel.index.equals(serial.index)
    for m in IMAGE_MODALITIES:
        np.testing.assert_array_equal(parallel.images[m], serial.images[m])


def test_second_build_reuses_the_cache_without_reading(built, demo_dir_small, monkeypatch):
    cfg, path = built[2]
    stamp = (path / "image_sets.parquet").stat().st_mtime_ns

    def must_not_read(*args, **kwargs):
        raise AssertionError("rebuilt an unchanged cache")

    monkeypatch.setattr(cache_module, "read_zivot", must_not_read)
    assert build_cache(cfg, demo_dir_small, progress=False) == path
    assert (path / "image_sets.parquet").stat().st_mtime_ns == stamp


def test_key_follows_data_and_settings(demo_dir_small, tmp_path):
    cfg = DataConfig()
    key = cache_key(cfg, demo_dir_small)
    assert key == cache_key(cfg, demo_dir_small)
    assert key == cache_key(dataclasses.replace(cfg, workers=1), demo_dir_small)
    assert key != cache_key(dataclasses.replace(cfg, image_size=32), demo_dir_small)
    assert key != cache_key(dataclasses.replace(cfg, include_treatment=True), demo_dir_small)
    root = clone(demo_dir_small, tmp_path / "d", copy=("Thermal_Map_IMG",))
    assert cache_key(cfg, root) == key  # same files, same stats
    image = next((root / "Thermal_Map_IMG").iterdir())
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 10**9))
    touched = cache_key(cfg, root)
    assert touched != key
    edit_csv(root / NAMES.metadata_csv, 2, "Age", "99")
    assert cache_key(cfg, root) not in (key, touched)


SHOTS = [Shot(f"{2 * i + 1}_P00{i + 1}001BDMW.png", {1: (2, 3, 20, 25)}) for i in range(5)] + [
    Shot(f"{2 * i + 2}_P00{i + 1}001BTMW.png", {1: (4, 5, 30, 40)}) for i in range(5)
]


@pytest.mark.parametrize("interrupt", ["_write_summary", "_crop_chunk"])
def test_interrupted_build_leaves_no_cache(tmp_path, monkeypatch, interrupt):
    root = write_dataset(tmp_path / "data", SHOTS)
    cfg = DataConfig(image_size=SIZE, workers=1, cache_dir=str(tmp_path / "cache"))
    original = getattr(cache_module, interrupt)
    calls = []

    def fail_late(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1 or interrupt == "_write_summary":
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-build
        return original(*args, **kwargs)

    monkeypatch.setattr(cache_module, "_MAX_CHUNK", 2)  # several chunks: fail after the first
    monkeypatch.setattr(cache_module, interrupt, fail_late)
    with pytest.raises(KeyboardInterrupt):
        build_cache(cfg, root, progress=False)
    assert calls and list((tmp_path / "cache").iterdir()) == []
    monkeypatch.setattr(cache_module, interrupt, original)
    path = build_cache(cfg, root, progress=False)
    assert path.name == cache_key(cfg, root) and len(load_cache(path).index) == 5


def test_unlabelled_sets_get_label_idx_minus_one_and_progress_is_shown(tmp_path, capsys):
    root = write_dataset(tmp_path / "data", SHOTS, labels={(3, 0, 1): ""})
    cfg = DataConfig(image_size=SIZE, workers=1, cache_dir=str(tmp_path / "cache"))
    path = build_cache(cfg, root, progress=True, require_labels=False)
    assert "cache: 5/5 image sets (100%)" in capsys.readouterr().err
    index = load_cache(path).index.set_index("patient")
    assert index.loc[3, "label_idx"] == -1 and index.loc[3, "label"] is None
    assert (index.drop(3)["label_idx"] >= 0).all()
