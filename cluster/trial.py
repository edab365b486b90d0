"""The Tune function trainable: one trial = one unit of the plan (``dfu.runs.plan``).

Units that train a network run through a Ray Train ``TensorflowTrainer``: with one worker in
Train's local mode (``num_workers=0``: the loop runs in this trial process, which Tune reuses
for later trials, so TensorFlow loads once per slot, not once per trial), with several in a
worker group under ``MultiWorkerMirroredStrategy``. CPU-only units (the random forest, the
linear baselines, metadata alone) run here directly. Every unit runs ``dfu.runs.units.run_unit``
unchanged and ends in one ``tune.report`` of its final metrics.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import ray
import ray.train
from ray import tune
from ray.train import DataConfig, FailureConfig, RunConfig

from cluster.images import read_images
from cluster.resources import scaling_config
from cluster.tf_trainer import TensorflowTrainer
from dfu.config import Config
from dfu.cv.fold_plan import FoldPlan
from dfu.runs.plan import Unit
from dfu.runs.units import Execution, Workspace, run_unit
from dfu.store.layout import RunLayout


@dataclass
class SharedInputs:
    """What every trial reads, put in the object store once (``tune.with_parameters``)."""

    folds: dict[int, FoldPlan]
    index: pd.DataFrame  # one row per image set
    assessments: pd.DataFrame  # the study's
    images: dict[str, ray.data.Dataset]  # modality -> materialized dataset (cluster.images)


def unit_trial(config: dict, *, cfg: Config, root: str, shared) -> None:
    """``shared``: the fold plans, index and assessments (``SharedInputs``) and the images."""
    started = time.time()
    unit = Unit.of(config["unit"])
    context = tune.get_context()
    where = {
        "tune_trial_id": context.get_trial_id(),
        "unit": unit.id,
        "trial_node_id": ray.get_runtime_context().get_node_id(),
        "workers": cfg.search.workers_per_trial,
    }
    if needs_network(unit):
        loop = {
            "unit": unit.to_dict(),
            "cfg": cfg,
            "root": root,
            "shared": shared,
            "where": where,
            "started": started,
        }
        metrics = _train(unit, loop)
    else:
        ws = _workspace(cfg, root, shared, lambda ms: read_images(shared.images, ms, shared.index))
        ex = Execution(threads=_threads(cfg), placement=placement(where), started=started)
        metrics = run_unit(unit, ws, ex)
    tune.report(metrics)


def needs_network(unit: Unit) -> bool:
    return unit.kind == "pretrain" or (unit.kind == "trial" and bool(unit.modalities))


def _train(unit: Unit, loop: dict) -> dict:
    """The unit on Train workers (``loop``: what ``unit_loop`` reads); returns rank 0's final
    report."""
    cfg, shared = loop["cfg"], loop["shared"]
    run = f"{unit.id}-{loop['where']['tune_trial_id']}"  # unique: a reused name would resume it
    trainer = TensorflowTrainer(
        unit_loop,
        train_loop_config=loop,
        scaling_config=scaling_config(cfg.search),
        datasets={m: shared.images[m] for m in unit.modalities},
        dataset_config=DataConfig(datasets_to_split=[]),  # every worker reads its whole fold
        run_config=RunConfig(
            name=run,
            storage_path=str(RunLayout(Path(loop["root"])).train_runs),
            # Worker deaths are retried; a worker group that cannot start fails, not hangs.
            failure_config=FailureConfig(
                max_failures=cfg.search.max_failures,
                controller_failure_limit=cfg.search.max_failures,
            ),
        ),
    )
    result = trainer.fit()
    return (result.return_value if _local(cfg) else result.metrics) or {}


def unit_loop(config: dict) -> dict | None:
    """What each Train worker runs: TensorFlow, then the unit.

    In local mode (one worker) the loop runs in the Tune trial process, where Train's
    ``report`` and ``get_context`` are refused: it is rank 0 and returns its metrics (Train
    hands them back as the run's return value). In a worker group every rank reports (Train V2
    requires it), rank 0 with the metrics.
    """
    cfg, shared = config["cfg"], config["shared"]
    strategy = start_tensorflow(cfg)
    local = _local(cfg)
    rank0 = local or ray.train.get_context().get_world_rank() == 0
    shards = {m: ray.train.get_dataset_shard(m) for m in Unit.of(config["unit"]).modalities}
    ws = _workspace(cfg, config["root"], shared, lambda ms: read_images(shards, ms, shared.index))
    ex = Execution(strategy, rank0, _threads(cfg), placement(config["where"]), config["started"])
    metrics = run_unit(Unit.of(config["unit"]), ws, ex)
    if local:
        return metrics
    ray.train.report(metrics if rank0 else {})
    return None


def _local(cfg: Config) -> bool:
    return cfg.search.workers_per_trial == 1


def start_tensorflow(cfg: Config):
    """TensorFlow for this worker (threads = its CPUs); ``MultiWorkerMirroredStrategy`` for
    several workers (created first, as TensorFlow requires), else None."""
    from dfu.keras_setup import configure_tensorflow, tf

    configure_tensorflow(_threads(cfg))
    return tf.distribute.MultiWorkerMirroredStrategy() if cfg.search.workers_per_trial > 1 else None


def _workspace(cfg: Config, root: str, shared, images) -> Workspace:
    return Workspace(
        cfg, RunLayout(Path(root)), shared.index, shared.assessments, shared.folds, images
    )


def _threads(cfg: Config) -> int:
    return max(1, round(cfg.search.cpus_per_worker))


def placement(where: dict) -> dict:
    """Where this ran (trial.json's ``ray``): node, host and pid; Tune trial and unit."""
    return {
        **where,
        "node_id": ray.get_runtime_context().get_node_id(),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
    }
