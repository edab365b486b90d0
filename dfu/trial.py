"""Trials in this process, no Ray: cache -> fold -> staged training -> test scores -> files.

``python -m jobs.run_trial`` runs one trial; ``run_folds`` runs folds x combinations
sequentially, pre-training each (fold, image modality) once and reusing it for every
combination, which is the plan the Ray engine follows in parallel.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dfu.combos import Combo, image_modalities
from dfu.config import Config
from dfu.data.cache import build_cache, load_cache
from dfu.experiment import FoldContext, fold_manifest, prepare_fold
from dfu.fold_data import ArraySource
from dfu.trial_output import predictions_frame, trial_summary, write_trial


@dataclass
class TrialOutput:
    summary: dict
    predictions: pd.DataFrame


def run_local_trial(
    cfg: Config, fold: int, combo: Combo, out: str | Path | None = None
) -> TrialOutput:
    """Train and score one (fold, combination); writes trial.json + predictions.parquet to ``out``."""
    started = time.time()
    cache = load_cache(build_cache(cfg.data))
    manifest = fold_manifest(cache, cfg, Path(out) / "folds.csv" if out else None)
    context = prepare_fold(cache, manifest, fold, cfg)
    return train_and_score(context, combo, cfg, out=out, started=started)


def run_folds(cfg: Config, combos: list[Combo]) -> Iterator[TrialOutput]:
    """Every configured fold x combination, in order, one process."""
    cache = load_cache(build_cache(cfg.data))
    manifest = fold_manifest(cache, cfg)
    folds = cfg.search.folds if cfg.search.folds is not None else range(cfg.folds.n_folds)
    for fold in folds:
        context = prepare_fold(cache, manifest, fold, cfg)
        needed = sorted({m for c in combos for m in image_modalities(c)})
        branches = pretrain_all(context, needed, cfg)
        for combo in combos:
            mine = {m: branches[m] for m in image_modalities(combo)}
            output = train_and_score(
                context, combo, cfg, pretrained={m: b[0] for m, b in mine.items()}
            )
            output.summary["pretrain"] = {m: b[1].to_dict() for m, b in mine.items()}
            output.summary["verdicts"].update({b[1].stage: b[1].verdicts for b in mine.values()})
            yield output


def pretrain_all(context: FoldContext, modalities, cfg: Config) -> dict:
    """modality -> (pre-trained branch model, its StageRecord), for one fold."""
    from dfu.training import pretrain_branch

    source = ArraySource(context.arrays, context.sizing, seed=cfg.training.seed)
    return {m: pretrain_branch(source, m, cfg) for m in modalities}


def train_and_score(context: FoldContext, combo: Combo, cfg: Config, out=None,
                    started: float | None = None, pretrained: dict | None = None) -> TrialOutput:  # fmt: skip
    started = started or time.time()
    test = context.arrays["test"]
    records: dict = {}
    model = None
    if image_modalities(combo):
        from dfu.training import (  # TensorFlow only when an image model is trained
            predict,
            run_trial,
        )

        source = ArraySource(context.arrays, context.sizing, seed=cfg.training.seed)
        log_dir = Path(out) / "tensorboard" if out else None
        result = run_trial(source, combo, cfg, pretrained=pretrained, log_dir=log_dir)
        proba = predict(result.model, source, combo, "test")
        records, model = result.records(), result.model
    else:
        proba = test.inputs["metadata"]
    predictions = predictions_frame(context.fold, combo, test.ids, test.labels, proba)
    summary = trial_summary(context.fold, combo, predictions, records, context.sizing,
                            cfg.to_dict(), started)  # fmt: skip
    if out is not None:
        write_trial(out, summary, predictions, model)
    return TrialOutput(summary, predictions)

