"""Running one unit of the plan (``dfu.runs.plan``): the same code in this process and on Ray.

``Workspace`` is what every unit reads: the config, the run's folder, the cache's image-set
index and the study's assessments, each fold's ``FoldPlan``, and a function that returns the
crops of some image modalities (from the loaded cache in this process, from the shared Ray
Datasets on a Ray worker). ``Execution`` is how this unit runs here: a ``tf.distribute``
strategy for several workers, whether this worker writes files (rank 0), how many threads,
and where it ran (written into trial.json).

TensorFlow is imported only by units that train a network.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from dfu.combos import baseline_name, image_modalities
from dfu.config import Config
from dfu.cv.fold_data import SplitArrays, fold_arrays
from dfu.cv.fold_plan import FoldPlan
from dfu.data.features import feature_columns
from dfu.evaluation.results import trial_summary
from dfu.models.baseline import assessment_kappa, fit_linear_baseline
from dfu.models.metadata import MetadataTask, fit_fold_metadata
from dfu.runs.branches import save_branch, saved_branch
from dfu.runs.plan import Unit
from dfu.store.layout import TENSORBOARD_DIR, TRIAL_FILE, RunLayout
from dfu.store.records import atomic, predictions_frame, read_json, write_trial
from dfu.training.source import ArraySource

log = logging.getLogger("dfu.runs")


@dataclass
class Workspace:
    cfg: Config
    layout: RunLayout
    index: pd.DataFrame  # one row per image set: row i of every image array
    assessments: pd.DataFrame  # the study's (labelled, with images)
    folds: dict[int, FoldPlan]
    images: Callable[[tuple[str, ...]], dict[str, np.ndarray]]  # modalities -> crops


@dataclass
class Execution:
    strategy: object = None  # MultiWorkerMirroredStrategy when a unit has several workers
    rank0: bool = True  # the worker that writes files
    threads: int = 1  # CPUs this unit may use
    placement: dict = field(default_factory=dict)  # where it ran: node, pid, Ray ids
    started: float = field(default_factory=time.time)


@dataclass
class Scored:
    """What a unit scored: its name in the results (a combination, or ``linear(m)``), its rows,
    the probabilities of its test and inner-val rows, the stages' records, the model to save
    and the time spent computing (inside Keras fit/evaluate/predict, or a scikit-learn fit);
    ``extra``: more trial.json keys (a baseline's choice)."""

    name: str
    arrays: dict[str, SplitArrays]
    probas: dict[str, np.ndarray]
    records: dict = field(default_factory=dict)
    model: object = None
    compute_seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def run_unit(unit: Unit, ws: Workspace, ex: Execution | None = None) -> dict:
    """Run ``unit``, write its outputs (rank 0), return its final metrics."""
    ex = ex or Execution()
    runners = {"metadata": _metadata, "linear": _linear, "pretrain": _pretrain, "trial": _trial}
    return runners[unit.kind](unit, ws, ex)


def _metadata(unit: Unit, ws: Workspace, ex: Execution) -> dict:
    """The fold's random forest: probabilities for every assessment, and the fitted pipeline."""
    cfg, k = ws.cfg, unit.fold
    numeric, categorical = feature_columns(cfg.data, ws.assessments.columns)
    permute = cfg.training.permute_train_labels
    task = MetadataTask(numeric, categorical, cfg.metadata, cfg.folds.seed + k, permute)
    proba, model = fit_fold_metadata(ws.assessments, ws.folds[k].split, task)
    ws.layout.fold_dir(k).mkdir(parents=True, exist_ok=True)
    with atomic(ws.layout.fold_metadata_model(k)) as tmp:
        joblib.dump(model, tmp)
    with atomic(ws.layout.fold_metadata(k)) as tmp:  # last: marks the unit done
        proba.to_parquet(tmp)
    return {"seconds": round(time.time() - ex.started, 2)}


def _arrays(unit: Unit, ws: Workspace, metadata: bool) -> dict[str, SplitArrays]:
    cfg, k = ws.cfg, unit.fold
    proba = pd.read_parquet(ws.layout.fold_metadata(k)) if metadata else None
    images = ws.images(unit.modalities)
    permute, seed = cfg.training.permute_train_labels, cfg.folds.seed + k
    split = ws.folds[k].split
    return fold_arrays(ws.index, images, split, proba, permute_train_labels=permute, seed=seed)


def _linear(unit: Unit, ws: Workspace, ex: Execution) -> dict:
    """The linear baseline of one image modality, scored like a combination."""
    cfg, name = ws.cfg, baseline_name(unit.name)
    arrays = _arrays(unit, ws, metadata=False)
    ratio = cfg.metadata.class_weight_max_ratio
    started = time.perf_counter()
    fit = fit_linear_baseline(arrays, unit.name, cfg.baseline, ratio, threads=ex.threads)
    probas = {"test": fit.test_proba, "val": fit.val_proba}
    scored = Scored(
        name,
        arrays,
        probas,
        compute_seconds=time.perf_counter() - started,
        extra={"baseline": fit.record()},
    )
    return _write_scores(unit, ws, ex, scored)


def _pretrain(unit: Unit, ws: Workspace, ex: Execution) -> dict:
    """One image branch alone; flagged ``below-baseline`` if its inner-val kappa is lower."""
    from dfu.models.branches import branch_model
    from dfu.training.health import judge_baseline
    from dfu.training.protocol import TrainingContext, augmentations, local_copy, pretrain_branch

    cfg, k, m = ws.cfg, unit.fold, unit.name
    arrays = _arrays(unit, ws, metadata=False)
    source = ArraySource(arrays, ws.folds[k].sizing, cfg.training.seed)
    folder = ws.layout.branch(k, m)
    fresh_keras(cfg)
    ctx = TrainingContext(source, cfg, ex.strategy, _log_dir(folder, ex))
    model, record = pretrain_branch(ctx, m)
    model = local_copy(
        model,
        ex.strategy,
        lambda: branch_model(m, cfg.model, cfg.data.image_size, augmentations(cfg)),
    )
    val, started = arrays["val"], time.perf_counter()
    branch_kappa = assessment_kappa(val.ids, val.labels, _predict(model, source, (m,), "val"))
    compute_seconds = record.seconds + time.perf_counter() - started  # its fit and predictions
    linear = read_json(ws.layout.trial(k, baseline_name(m)) / TRIAL_FILE)
    judge_baseline(record, branch_kappa, linear["val"]["assessment"]["kappa"] if linear else None)
    if ex.rank0:
        summary = {
            "fold": k,
            "modality": m,
            "record": record.to_dict(),
            "sizing": ws.folds[k].sizing.to_dict(),
            "ray": ex.placement,
            "seconds": round(time.time() - ex.started, 2),
            "timing": _timing(ex, compute_seconds),
        }
        save_branch(folder, model, summary)
    return {"val_kappa": record.val_kappa, "best_epoch": record.best_epoch}


def _trial(unit: Unit, ws: Workspace, ex: Execution) -> dict:
    """One combination: the forest's probabilities alone, or the staged protocol's model."""
    cfg, combo, k = ws.cfg, unit.combo, unit.fold
    arrays = _arrays(unit, ws, metadata="metadata" in combo)
    images = image_modalities(combo)
    if not images:
        probas = {s: arrays[s].inputs["metadata"] for s in ("test", "val")}
        return _write_scores(unit, ws, ex, Scored(unit.name, arrays, probas))
    from dfu.training.protocol import TrainingContext, run_trial

    source = ArraySource(arrays, ws.folds[k].sizing, cfg.training.seed)
    branches = {m: saved_branch(ws.layout.branch(k, m)) for m in images}
    fresh_keras(cfg)
    ctx = TrainingContext(source, cfg, ex.strategy, _log_dir(ws.layout.trial(k, combo), ex))
    result = run_trial(ctx, combo, pretrained={m: b[0] for m, b in branches.items()})
    started = time.perf_counter()
    probas = {s: _predict(result.model, source, combo, s) for s in ("test", "val")}
    compute_seconds = time.perf_counter() - started + result.compute_seconds
    records = {**result.records(), "pretrain": {m: b[1] for m, b in branches.items()}}
    scored = Scored(unit.name, arrays, probas, records, result.model, compute_seconds)
    return _write_scores(unit, ws, ex, scored)


def _write_scores(unit: Unit, ws: Workspace, ex: Execution, scored: Scored) -> dict:
    """trial.json (test and inner-val scores) and predictions.parquet; the last report's metrics."""
    k, name, arrays = unit.fold, scored.name, scored.arrays
    frames = {
        s: predictions_frame(k, name, arrays[s].ids, arrays[s].labels, scored.probas[s])
        for s in ("test", "val")
    }
    summary = trial_summary(
        k,
        name,
        frames["test"],
        scored.records,
        sizing=ws.folds[k].sizing,
        config=ws.cfg.to_dict(),
        started=ex.started,
        val=frames["val"],
        ray=ex.placement,
        timing=_timing(ex, scored.compute_seconds),
        **scored.extra,
    )
    if ex.rank0:
        write_trial(ws.layout.trial(k, name), summary, frames["test"], scored.model)
    return test_metrics(summary)


def test_metrics(summary: dict) -> dict:
    """A trial's final report: what Tune's results table and the progress line show."""
    a, s = summary["test"]["assessment"], summary["test"]["image_set"]
    return {
        "test_kappa": a["kappa"],
        "test_qwk": a["qwk"],
        "test_f1_macro": a["f1_macro"],
        "set_kappa": s["kappa"],
        "val_kappa": summary["val"]["assessment"]["kappa"],
        "trial_seconds": summary["seconds"],
    }


def _timing(ex: Execution, compute_seconds: float) -> dict:
    """Wall time of the unit (from its trial's start), the part spent computing (Keras fit,
    evaluate and predict; a scikit-learn fit) and the rest: orchestration, data, files."""
    wall = time.time() - ex.started
    return {
        "started": round(ex.started, 2),
        "wall": round(wall, 2),
        "compute": round(compute_seconds, 2),
        "overhead": round(wall - compute_seconds, 2),
    }


def _predict(model, source: ArraySource, combo, split: str) -> np.ndarray:
    from dfu.models.fusion import input_names

    return model.predict(source.dataset(split, input_names(combo), local=True), verbose=0)


def _log_dir(folder: Path, ex: Execution) -> Path | None:
    """Rank 0's TensorBoard folder, emptied first: a retried or resumed unit starts a fresh log."""
    if not ex.rank0:
        return None
    shutil.rmtree(folder / TENSORBOARD_DIR, ignore_errors=True)
    return folder / TENSORBOARD_DIR


def fresh_keras(cfg: Config) -> None:
    """No state from an earlier unit of this process (a reused Ray actor): fresh graph, seeds."""
    from dfu.keras_setup import clear_keras_state, keras

    clear_keras_state()
    keras.utils.set_random_seed(cfg.training.seed)
