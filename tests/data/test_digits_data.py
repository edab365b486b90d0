"""The digits dataset (tests/helpers/digits.py) as the project's reader and cache see it."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from dfu.config import load_config
from dfu.constants import CLASSES, IMAGE_MODALITIES
from dfu.data.cache import build_cache, load_cache
from dfu.data.schema import parse_image_name
from dfu.data.zivot import read_zivot
from tests.helpers.digits import CLASS_DIGITS, write_digits_dataset

SIZE = 32


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The default digits dataset, its writer's summary, the reader's view and the cache."""
    root = tmp_path_factory.mktemp("digits")
    summary = write_digits_dataset(root)
    cfg = load_config(
        overrides=[
            f"data.root={root}",
            f"data.image_size={SIZE}",
            f"data.cache_dir={root / '_cache'}",
        ]
    ).data
    data = read_zivot(cfg, check_images=False)  # headers only: the cache decodes every image
    cache = load_cache(build_cache(cfg, progress=False))
    return root, summary, data, cache


def test_reader_reads_every_image_set(digits):
    _, summary, data, cache = digits
    assert data.skips == []
    assert cache.summary["skip_list"] == []
    assert data.summary["patients"] == summary["patients"] == 110
    assert data.summary["assessments"] == summary["assessments"]
    assert data.summary["assessments_with_images"] == summary["assessments"]
    assert data.summary["image_sets"] == summary["image_sets"] == 2 * summary["assessments"]
    assert 250 <= summary["assessments"] <= 360
    assert data.summary["classes"]["assessments"] == summary["classes"]
    assert all(summary["classes"][c] > 0 for c in CLASSES)
    assert set(data.image_sets["match_step"]) == {0}


def test_no_digit_sample_is_shown_to_two_patients(digits):
    root, summary, data, _ = digits
    patients = defaultdict(set)
    for path, sample in summary["image_samples"].items():
        patients[sample].add(parse_image_name(Path(path).name).patient)
    assert all(len(found) == 1 for found in patients.values())
    assert len(summary["image_samples"]) == 4 * len(data.image_sets)


def test_four_modalities_show_four_samples_of_the_class(digits):
    root, summary, data, _ = digits
    target = load_digits().target
    for _, row in data.image_sets.iterrows():
        paths = [Path(row[f"{m}_path"]).relative_to(root) for m in IMAGE_MODALITIES]
        samples = {summary["image_samples"][str(p)] for p in paths}
        assert len(samples) == 4
        assert {int(target[s]) for s in samples} <= set(CLASS_DIGITS[row["label"]])


def test_cache_crops_have_the_size_and_differ(digits):
    _, summary, _, cache = digits
    n = summary["image_sets"]
    assert len(cache.index) == n
    assert sorted(set(cache.index["label"])) == sorted(CLASSES)
    for m in IMAGE_MODALITIES:
        assert cache.images[m].shape == (n, SIZE, SIZE, 3)
        assert cache.images[m].dtype == np.uint8
    for i in range(n):
        crops = [cache.images[m][i] for m in IMAGE_MODALITIES]
        for a in range(4):
            for b in range(a + 1, 4):
                assert not np.array_equal(crops[a], crops[b]), (i, a, b)


def test_metadata_is_noise_with_the_expected_columns(digits):
    _, _, data, _ = digits
    table = data.assessments
    for column in ("Age", "Weight (Kg)", "Pain Level", "Sex (F:0, M:1)", "Foot Aspect"):
        assert column in table.columns
    assert table["Appt Days"].ge(0).all()
    assert set(table["dfu"]) == {1, 2}


def _digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root)}\n".encode() + path.read_bytes())
    return digest.hexdigest()


def test_deterministic_for_a_seed_whatever_the_workers(tmp_path):
    first = write_digits_dataset(tmp_path / "a", patients=4, seed=5, workers=1)
    again = write_digits_dataset(tmp_path / "b", patients=4, seed=5, workers=2)
    write_digits_dataset(tmp_path / "c", patients=4, seed=6, workers=1)
    assert first == again
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")
