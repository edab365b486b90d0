"""Patient-grouped folds: the outer fold manifest and the inner train/validation split.

Every split here is by patient, because ~40% of patients contribute several assessments
(often with different labels) and any patient seen on both sides would leak. The outer
folds are fixed once per seed and saved as a manifest (patient -> fold); the inner split
of each outer training set is derived from ``FoldConfig.seed`` and the fold number, so it
is reproducible without being saved. Only labelled assessments take part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from dfu.config import FoldConfig
from dfu.constants import CLASSES


class FoldError(ValueError):
    """These data cannot form these folds (too few patients for the folds asked, a class
    missing from a part, a stale manifest): the user changes the fold settings or the data."""


@dataclass
class FoldSplit:
    """Assessment ids of one outer fold: inner-train, inner-val and the outer test part."""

    fold: int
    train: list[str]
    val: list[str]
    test: list[str]
    train_patients: list[int] = field(default_factory=list)
    val_patients: list[int] = field(default_factory=list)
    test_patients: list[int] = field(default_factory=list)

    def part_of(self) -> dict[str, str]:
        """assessment_id -> 'train' / 'val' / 'test'."""
        return {
            **dict.fromkeys(self.train, "train"),
            **dict.fromkeys(self.val, "val"),
            **dict.fromkeys(self.test, "test"),
        }


def encode_labels(labels: pd.Series | list) -> np.ndarray:
    """'I'/'P'/'R' -> 0/1/2; anything else is an error naming the value."""
    codes = pd.Series(labels).map({c: i for i, c in enumerate(CLASSES)})
    if codes.isna().any():
        bad = pd.Series(labels)[codes.isna().to_numpy()].iloc[0]
        raise FoldError(f"label {bad!r} is not one of {', '.join(CLASSES)}")
    return codes.to_numpy(dtype=int)


def labelled(assessments: pd.DataFrame) -> pd.DataFrame:
    """Labelled rows, in a fixed order so splits do not depend on the input row order."""
    duplicated = assessments["assessment_id"].duplicated()
    if duplicated.any():
        raise FoldError(f"assessment {assessments['assessment_id'][duplicated].iloc[0]!r} twice")
    rows = assessments[assessments["label"].notna()]
    return rows.sort_values("assessment_id", kind="stable").reset_index(drop=True)


def make_fold_manifest(assessments: pd.DataFrame, n_folds: int, seed: int) -> pd.DataFrame:
    """Patient -> outer fold (columns ``patient``, ``fold``), stratified by label."""
    rows = labelled(assessments)
    n_patients = rows["patient"].nunique()
    if n_patients < n_folds:
        raise FoldError(
            f"{n_patients} labelled patients cannot fill {n_folds} patient-grouped folds"
        )
    _require_classes(rows, "the labelled assessments")
    y = encode_labels(rows["label"])
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold_of: dict[int, int] = {}
    for k, (_, test_idx) in enumerate(splitter.split(rows, y, groups=rows["patient"])):
        fold_of.update(dict.fromkeys(rows["patient"].iloc[test_idx].tolist(), k))
    manifest = pd.DataFrame({"patient": list(fold_of), "fold": list(fold_of.values())})
    manifest = manifest.astype(int).sort_values("patient", ignore_index=True)
    for k in range(n_folds):
        if not (manifest["fold"] == k).any():
            raise FoldError(f"fold {k}: no patient assigned; use fewer folds")
        train_patients = manifest.loc[manifest["fold"] != k, "patient"]
        _require_classes(rows[rows["patient"].isin(train_patients)], f"fold {k}: outer training")
    return manifest


def save_manifest(manifest: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest[["patient", "fold"]].to_csv(path, index=False)
    return path


def load_manifest(path: str | Path) -> pd.DataFrame:
    manifest = pd.read_csv(path, dtype={"patient": int, "fold": int})
    if list(manifest.columns) != ["patient", "fold"] or manifest["patient"].duplicated().any():
        raise FoldError(f"{path}: expected columns patient,fold with one row per patient")
    return manifest


def inner_seed(seed: int, fold: int) -> int:
    """A seed for fold ``fold``'s inner split, distinct per fold, fixed per config seed."""
    return int(np.random.SeedSequence([seed, fold]).generate_state(1)[0])


def split_fold(
    assessments: pd.DataFrame, manifest: pd.DataFrame, fold: int, cfg: FoldConfig
) -> FoldSplit:
    """Outer test = patients of fold ``fold``; the rest split into inner-train / inner-val."""
    rows = labelled(assessments)
    fold_of = rows["patient"].map(manifest.set_index("patient")["fold"])
    if fold_of.isna().any():
        missing = sorted(rows.loc[fold_of.isna(), "patient"].unique())[:5]
        raise FoldError(f"patients {missing} are not in the fold manifest (stale manifest?)")
    if fold not in set(manifest["fold"]):
        raise FoldError(
            f"fold {fold} is not in the manifest (folds {sorted(set(manifest['fold']))})"
        )
    test = rows[(fold_of == fold).to_numpy()]
    rest = rows[(fold_of != fold).to_numpy()].reset_index(drop=True)

    n_inner = round(1 / cfg.inner_val_fraction)
    if rest["patient"].nunique() < n_inner:
        raise FoldError(
            f"fold {fold}: {rest['patient'].nunique()} outer-training patients cannot form "
            f"{n_inner} inner folds"
        )
    splitter = StratifiedGroupKFold(
        n_splits=n_inner, shuffle=True, random_state=inner_seed(cfg.seed, fold)
    )
    train_idx, val_idx = next(
        splitter.split(rest, encode_labels(rest["label"]), groups=rest["patient"])
    )
    train, val = rest.iloc[train_idx], rest.iloc[val_idx]
    _require_classes(train, f"fold {fold}: inner-train")
    _require_classes(val, f"fold {fold}: inner-val")

    split = FoldSplit(
        fold=fold,
        train=train["assessment_id"].tolist(),
        val=val["assessment_id"].tolist(),
        test=test["assessment_id"].tolist(),
        train_patients=sorted(train["patient"].unique().tolist()),
        val_patients=sorted(val["patient"].unique().tolist()),
        test_patients=sorted(test["patient"].unique().tolist()),
    )
    parts = (set(split.train_patients), set(split.val_patients), set(split.test_patients))
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2]), (
        f"fold {fold}: a patient is in two parts"
    )
    return split


def _require_classes(rows: pd.DataFrame, where: str) -> None:
    """Error naming the place and the class when ``rows`` lack a class."""
    absent = [c for c in CLASSES if not (rows["label"] == c).any()]
    if absent:
        raise FoldError(
            f"{where} has no assessment of class {', '.join(absent)} "
            f"({rows['patient'].nunique()} patients); use fewer folds or more data"
        )
