"""From the image cache to one fold's ready-to-train rows.

Shared by the single-process trial (``dfu.trial``) and the Ray engine (``cluster/``), so
both see identical folds, metadata probabilities and sizing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dfu.config import Config
from dfu.data.features import feature_columns
from dfu.fold_data import SplitArrays, fold_arrays, sizing_for
from dfu.folds import FoldSplit, load_manifest, make_fold_manifest, save_manifest, split_fold
from dfu.metadata_model import metadata_probabilities
from dfu.sizing import Sizing


@dataclass
class FoldContext:
    fold: int
    split: FoldSplit
    metadata_proba: pd.DataFrame  # index assessment_id: p_I, p_P, p_R, part
    arrays: dict[str, SplitArrays]
    sizing: Sizing


def study_assessments(cache) -> pd.DataFrame:
    """Labelled assessments that have at least one complete image set.

    Every combination, metadata-only included, is scored on these same rows, so
    combinations can be compared pairwise.
    """
    with_images = set(cache.index["assessment_id"])
    a = cache.assessments
    return a[a["assessment_id"].isin(with_images) & a["label"].notna()].reset_index(drop=True)


def fold_manifest(cache, cfg: Config, path: str | Path | None = None) -> pd.DataFrame:
    """The patient -> fold manifest: read from ``path`` if it exists, else made (and saved)."""
    if path is not None and Path(path).exists():
        return load_manifest(path)
    manifest = make_fold_manifest(study_assessments(cache), cfg.folds.n_folds, cfg.folds.seed)
    if path is not None:
        save_manifest(manifest, path)
    return manifest


def prepare_fold(cache, manifest: pd.DataFrame, fold: int, cfg: Config) -> FoldContext:
    assessments = study_assessments(cache)
    split = split_fold(assessments, manifest, fold, cfg.folds)
    numeric, categorical = feature_columns(cfg.data, assessments.columns)
    permute = cfg.training.permute_train_labels
    proba = metadata_probabilities(assessments, split, numeric, categorical, cfg.metadata,
                                   seed=cfg.folds.seed + fold, permute_train_labels=permute)  # fmt: skip
    arrays = fold_arrays(cache, split, proba, permute, seed=cfg.folds.seed + fold)
    sizing = sizing_for(arrays, cfg.training.batch_size, cfg.search.workers_per_trial)
    return FoldContext(fold, split, proba, arrays, sizing)
