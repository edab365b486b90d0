"""What every unit of one outer fold shares, decided once by the driver: the split and the sizing.

The split (inner-train / inner-val / outer test assessments) follows from the fold manifest
and the config; batch size and steps per epoch from the real row counts of each part (the
clinic's old pipeline reused one steps-per-epoch for datasets of different sizes: seed
analysis RC6). Both are small and travel with every unit of the fold, so no worker re-derives
them differently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dfu.config import Config
from dfu.constants import CLASSES
from dfu.cv.fold_data import split_rows
from dfu.cv.folds import FoldSplit, split_fold
from dfu.cv.sizing import Sizing, plan_sizing


@dataclass(frozen=True)
class FoldPlan:
    fold: int
    split: FoldSplit
    sizing: Sizing


def study_assessments(assessments: pd.DataFrame, index: pd.DataFrame) -> pd.DataFrame:
    """Labelled assessments with at least one complete image set.

    Every combination, metadata-only included, is scored on these same rows, so
    combinations can be compared pairwise.
    """
    with_images = set(index["assessment_id"])
    a = assessments
    return a[a["assessment_id"].isin(with_images) & a["label"].notna()].reset_index(drop=True)


def plan_folds(
    index: pd.DataFrame, assessments: pd.DataFrame, manifest: pd.DataFrame, cfg: Config, folds
) -> dict[int, FoldPlan]:
    """``FoldPlan`` of each fold in ``folds``; ``assessments``: the study's (see above)."""
    plans = {}
    for k in folds:
        split = split_fold(assessments, manifest, k, cfg.folds)
        rows = split_rows(index, split)
        train = index[index["assessment_id"].isin(set(split.train))]["label_idx"]
        counts = np.bincount(train.to_numpy(), minlength=len(CLASSES)).tolist()
        sizing = plan_sizing(
            rows,
            counts,
            cfg.training.batch_size,
            cfg.search.workers_per_trial,
            cfg.training.min_steps_per_epoch,
        )
        plans[k] = FoldPlan(k, split, sizing)
    return plans
