import numpy as np
import pandas as pd
import pytest

from dfu.config import FoldConfig
from dfu.constants import CLASSES
from dfu.cv.folds import (
    FoldSplit,
    encode_labels,
    load_manifest,
    make_fold_manifest,
    save_manifest,
    split_fold,
)
from dfu.data.schema import assessment_id
from tests.helpers.datasets import assessment_row

PRIOR = [0.31, 0.56, 0.13]


def synthetic_assessments(n_patients: int = 60, seed: int = 0) -> pd.DataFrame:
    """Patients with 2-6 assessments, mostly one phase each, ~31/56/13% I/P/R overall."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(1, n_patients + 1):
        base = rng.choice(3, p=PRIOR)
        for a in range(rng.integers(2, 7)):
            k = base if rng.random() < 0.8 else rng.choice(3, p=PRIOR)
            rows.append(assessment_row(p, a, CLASSES[k]))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    df = synthetic_assessments()
    # Unlabelled rows (one of a labelled patient, one patient with none) take no part.
    extra = pd.DataFrame(
        {
            "assessment_id": [assessment_id(1, 9, 2), assessment_id(999, 0, 1)],
            "patient": [1, 999],
            "appt": [9, 0],
            "dfu": [2, 1],
            "label": [None, None],
            "has_images": [True, False],
        }
    )
    return pd.concat([df, extra], ignore_index=True)


@pytest.fixture(scope="module")
def manifest(table) -> pd.DataFrame:
    return make_fold_manifest(table, n_folds=5, seed=7)


def _labelled_ids(table: pd.DataFrame) -> set[str]:
    return set(table.loc[table["label"].notna(), "assessment_id"])


def test_manifest_one_fold_per_labelled_patient(table, manifest):
    assert list(manifest.columns) == ["patient", "fold"]
    assert not manifest["patient"].duplicated().any()
    assert set(manifest["patient"]) == set(table.loc[table["label"].notna(), "patient"])
    assert sorted(manifest["fold"].unique()) == [0, 1, 2, 3, 4]


def test_every_labelled_assessment_in_exactly_one_test_fold(table, manifest):
    tests = [split_fold(table, manifest, k, FoldConfig(seed=3)).test for k in range(5)]
    flat = [i for t in tests for i in t]
    assert len(flat) == len(set(flat))
    assert set(flat) == _labelled_ids(table)


def test_split_parts_are_patient_disjoint_and_cover_labelled_rows(table, manifest):
    cfg = FoldConfig(seed=3, inner_val_fraction=0.2)
    for k in range(5):
        s = split_fold(table, manifest, k, cfg)
        assert set(s.train) | set(s.val) | set(s.test) == _labelled_ids(table)
        assert len(s.train) + len(s.val) + len(s.test) == len(_labelled_ids(table))
        parts = [set(s.train_patients), set(s.val_patients), set(s.test_patients)]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        patient_of = table.set_index("assessment_id")["patient"]
        assert set(patient_of[s.val]) == parts[1]
        assert s.test_patients == sorted(manifest.loc[manifest["fold"] == k, "patient"])
        # Inner-val holds about one patient in five of the outer-training patients.
        assert 0.1 < len(parts[1]) / (len(parts[0]) + len(parts[1])) < 0.3
        assert set(s.part_of().values()) == {"train", "val", "test"}


def test_deterministic_per_seed_and_independent_of_row_order(table, manifest):
    shuffled = table.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(make_fold_manifest(shuffled, 5, 7), manifest)
    cfg = FoldConfig(seed=3)
    assert split_fold(table, manifest, 2, cfg) == split_fold(shuffled, manifest, 2, cfg)


def test_different_seeds_give_different_folds(table, manifest):
    other = make_fold_manifest(table, 5, seed=8)
    assert not other["fold"].equals(manifest["fold"])
    a = split_fold(table, manifest, 0, FoldConfig(seed=3))
    b = split_fold(table, manifest, 0, FoldConfig(seed=4))
    assert a.test == b.test and a.val_patients != b.val_patients


def test_stratification_keeps_class_proportions(table, manifest):
    rows = table[table["label"].notna()]
    overall = rows["label"].value_counts(normalize=True)
    fold = rows["patient"].map(manifest.set_index("patient")["fold"])
    for k in range(5):
        share = rows.loc[fold == k, "label"].value_counts(normalize=True)
        deviation = (share.reindex(list(CLASSES), fill_value=0) - overall).abs().max()
        assert deviation < 0.08, f"fold {k}: {share.to_dict()} vs {overall.to_dict()}"


def test_manifest_roundtrip(tmp_path, manifest):
    path = save_manifest(manifest, tmp_path / "sub" / "folds.csv")
    pd.testing.assert_frame_equal(load_manifest(path), manifest)


def test_too_few_patients_rejected():
    with pytest.raises(ValueError, match="3 labelled patients cannot fill 5"):
        make_fold_manifest(synthetic_assessments(n_patients=3), n_folds=5, seed=0)


def test_class_absent_everywhere_is_named():
    df = synthetic_assessments(20)
    df = df[df["label"] != "R"]
    with pytest.raises(ValueError, match="no assessment of class R"):
        make_fold_manifest(df, 5, 0)


@pytest.mark.filterwarnings("ignore:The least populated class")
def test_fold_whose_training_lacks_a_class_is_named():
    df = synthetic_assessments(20)
    df["label"] = df["label"].replace("R", "P")
    df.loc[df["patient"] == 4, "label"] = "R"  # R in one patient only
    with pytest.raises(ValueError, match=r"fold \d: outer training has no assessment of class R"):
        make_fold_manifest(df, 5, 0)


def test_inner_split_lacking_a_class_is_named():
    df = synthetic_assessments(20)
    df["label"] = df["label"].replace("R", "P")
    df.loc[df["patient"].isin([4, 5]), "label"] = "R"
    # Patient 5 in the test fold leaves one R patient for inner-train + inner-val.
    manifest = pd.DataFrame({"patient": range(1, 21), "fold": [0, 1, 2, 3, 0] * 4})
    with pytest.raises(ValueError, match=r"fold 1: inner-(train|val) has no assessment of class R"):
        split_fold(df, manifest, 1, FoldConfig())


def test_stale_manifest_and_unknown_fold_rejected(table, manifest):
    with pytest.raises(ValueError, match="not in the fold manifest"):
        split_fold(table, manifest[manifest["patient"] != 2], 0, FoldConfig())
    with pytest.raises(ValueError, match="fold 9"):
        split_fold(table, manifest, 9, FoldConfig())


def test_duplicate_assessment_ids_rejected(table):
    with pytest.raises(ValueError, match="P001-A00-U1"):
        make_fold_manifest(pd.concat([table, table.iloc[:1]]), 5, 0)


def test_encode_labels():
    assert encode_labels(["I", "P", "R", "P"]).tolist() == [0, 1, 2, 1]
    with pytest.raises(ValueError, match="'X'"):
        encode_labels(["I", "X"])


def test_foldsplit_takes_positional_parts():
    s = FoldSplit(0, ["a"], ["b"], ["c"])
    assert s.part_of() == {"a": "train", "b": "val", "c": "test"}
