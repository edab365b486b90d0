"""The Tune function trainables: one trial = one (fold, modality) pre-training or one
(fold, combination). An image trial builds a ``TensorflowTrainer`` over the fold's shared
datasets and waits for it; a metadata-only trial scores the random forest's probabilities
in the trial process itself (no Keras model, no Train run).

A trial's ``config["unit"]`` names its work: ``{"fold": k, "modality": m}`` or
``{"fold": k, "combo": "metadata+thermal_map"}``. The trial process asks for no CPU (see
``cluster.resources``) and never imports TensorFlow.
"""

from __future__ import annotations

import time
from pathlib import Path

import ray
from ray import tune
from ray.train import FailureConfig, RunConfig
from ray.tune.integration.ray_train import TuneReportCallback

from cluster.datasets import FoldData
from cluster.ray_source import data_config
from cluster.resources import scaling_config
from cluster.tf_trainer import TensorflowTrainer
from cluster.worker import combo_loop, placement, pretrain_loop, test_metrics
from dfu.combos import image_modalities, parse_combo
from dfu.config import Config
from dfu.run_layout import RunLayout
from dfu.trial_output import write_trial

TRAIN_RUNS_DIR = "train"  # under RunLayout.tune: Ray Train's own run folders


def unit_name(unit: dict) -> str:
    return f"fold{unit['fold']}-{unit.get('modality') or unit['combo']}"


def pretrain_trial(config: dict, folds: dict[int, FoldData], cfg: Config, root: str) -> None:
    started = time.time()
    unit = config["unit"]
    data = folds[unit["fold"]]
    out = RunLayout(Path(root)).branch(data.fold, unit["modality"])
    _fit(pretrain_loop, data, ("train", "val"), cfg, root, started, modality=unit["modality"],
         out=str(out))  # fmt: skip


def combo_trial(config: dict, folds: dict[int, FoldData], cfg: Config, root: str) -> None:
    started = time.time()
    unit = config["unit"]
    data, combo = folds[unit["fold"]], parse_combo(unit["combo"])
    layout = RunLayout(Path(root))
    out = layout.trial(data.fold, combo)
    images = image_modalities(combo)
    if not images:
        return _metadata_trial(data, combo, cfg, out, started)
    branches = {m: str(layout.branch(data.fold, m)) for m in images}
    _fit(combo_loop, data, ("train", "val", "test"), cfg, root, started, combo=unit["combo"],
         out=str(out), branches=branches)  # fmt: skip


def _fit(loop, data: FoldData, splits, cfg: Config, root: str, started: float,
         **loop_config) -> None:  # fmt: skip
    """Run ``loop`` on the trial's Train workers; metrics reach Tune via TuneReportCallback."""
    context, retries = tune.get_context(), cfg.search.max_failures
    run = f"{context.get_trial_name()}-{context.get_trial_id()}"  # unique: a reused name resumes
    where = {"tune_trial_id": context.get_trial_id(), "train_run": run,
             "trial_node_id": ray.get_runtime_context().get_node_id(),
             "workers": cfg.search.workers_per_trial}  # fmt: skip
    trainer = TensorflowTrainer(
        loop,
        train_loop_config={"cfg": cfg, "fold": data.fold, "sizing": data.sizing, "ray": where,
                           "started": started, **loop_config},  # fmt: skip
        scaling_config=scaling_config(cfg.search),
        datasets={s: data.datasets[s] for s in splits},
        dataset_config=data_config(),
        run_config=RunConfig(
            name=run,
            storage_path=str(RunLayout(Path(root)).tune / TRAIN_RUNS_DIR),
            # Worker deaths are retried; a worker group that cannot start fails, not hangs.
            failure_config=FailureConfig(max_failures=retries, controller_failure_limit=retries),
            callbacks=[TuneReportCallback()],
        ),
    )
    trainer.fit()


def _metadata_trial(data: FoldData, combo, cfg: Config, out: Path, started: float) -> None:
    """The random forest's test probabilities, scored exactly as in one process (dfu.trial)."""
    from dfu.trial import train_and_score

    output = train_and_score(data.context, combo, cfg, started=started)
    context = tune.get_context()
    output.summary["ray"] = placement({"ray": {"tune_trial_id": context.get_trial_id()}})
    write_trial(out, output.summary, output.predictions)
    tune.report(test_metrics(output.summary))
