"""What each Train worker runs: pre-train one (fold, modality) branch, or train and score one
(fold, combination). Both call ``dfu.training`` unchanged through a ``RayShardSource``.

Every rank trains (under ``MultiWorkerMirroredStrategy`` when a trial has several workers)
and calls ``ray.train.report`` at each epoch end and once at the end (Train V2 requires
every rank to report); rank 0 alone writes files and carries the final metrics.
TensorFlow is imported inside the functions: this module is also imported, to unpickle the
loops, by the Tune trial and Train controller processes, which must stay TensorFlow-free
(and is kept light: the controller's import is on every trial's critical path).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import time
from pathlib import Path

import ray
import ray.train

from cluster.columns import ID_COLUMNS, LABEL
from cluster.ray_source import RayShardSource
from dfu.combos import image_modalities, parse_combo
from dfu.config import Config

WEIGHTS_FILE = "weights.h5"
RECORD_FILE = "record.json"
TENSORBOARD_DIR = "tensorboard"
EPOCH_KEYS = ("loss", "kappa", "val_loss", "val_kappa")
# Test-only fault injection: the first worker to end an epoch creates this file and kills itself.
KILL_ONCE_VAR = "DFU_CV_TEST_KILL_WORKER_ONCE"


def pretrain_loop(config: dict) -> None:
    """Phase 1: one image branch alone; rank 0 saves weights.h5, then record.json (= done)."""
    cfg, strategy, source, rank0 = _start(config)
    out, modality = Path(config["out"]), config["modality"]
    from dfu.models import branch_model
    from dfu.training import pretrain_branch

    model, record = pretrain_branch(source, modality, cfg, strategy, _log_dir(out, rank0),
                                    [epoch_reporter()])  # fmt: skip
    model = local_copy(model, strategy, lambda: branch_model(
        modality, cfg.model, cfg.data.image_size, cfg.training.augment))  # fmt: skip
    if rank0:
        _save_branch(out, model, record, config)
    ray.train.report({"val_kappa": record.val_kappa, "best_epoch": record.best_epoch})


def combo_loop(config: dict) -> None:
    """Phase 2: fusion stages 1 and 2 on pre-trained branches; rank 0 scores the test fold once."""
    cfg, strategy, source, rank0 = _start(config)
    out, combo = Path(config["out"]), parse_combo(config["combo"])
    from dfu.models import combo_model
    from dfu.training import run_trial

    branches = {m: load_branch(Path(config["branches"][m]), m, cfg)
                for m in image_modalities(combo)}  # fmt: skip
    result = run_trial(source, combo, cfg, pretrained={m: b[0] for m, b in branches.items()},
                       strategy=strategy, log_dir=_log_dir(out, rank0),
                       callbacks=[epoch_reporter()])  # fmt: skip
    model = local_copy(result.model, strategy, lambda: combo_model(
        combo, cfg.model, cfg.data.image_size, cfg.training.augment))  # fmt: skip
    metrics = {}
    if rank0:
        records = {**result.records(), "pretrain": {m: b[1] for m, b in branches.items()}}
        summary = _score_and_write(model, source, combo, records, config)
        metrics = test_metrics(summary)
    ray.train.report(metrics)


def _start(config: dict) -> tuple[Config, object, RayShardSource, bool]:
    """TensorFlow started, this worker's data source, and whether it is rank 0."""
    cfg: Config = config["cfg"]
    strategy = start_tensorflow(cfg)
    source = RayShardSource(config["sizing"], cfg.training.seed, cfg.search.workers_per_trial)
    return cfg, strategy, source, ray.train.get_context().get_world_rank() == 0


def start_tensorflow(cfg: Config):
    """TensorFlow for this worker: GPU memory growth, threads = its CPUs, a seed; the strategy.

    Returns ``MultiWorkerMirroredStrategy`` for several workers (created first, as TF
    requires), else None (Keras' default strategy).
    """
    from dfu.keras_setup import keras, tf

    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    # As many compute threads as CPUs reserved: concurrent trials do not oversubscribe cores.
    threads = max(1, math.ceil(cfg.search.cpus_per_worker))
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    several = cfg.search.workers_per_trial > 1
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if several else None
    keras.utils.set_random_seed(cfg.training.seed)
    return strategy


def local_copy(model, strategy, build):
    """The model outside ``MultiWorkerMirroredStrategy``, for rank 0 to save or predict alone.

    Call it on every rank: under the strategy, reading the weights includes BatchNorm's
    sync-on-read statistics, an all-reduce that hangs when rank 0 alone does it (seen: rank 0
    stuck in ``save_weights`` while rank 1 waited in ``ray.train.report``).
    """
    if strategy is None:
        return model
    weights = model.get_weights()
    plain = build()
    plain.set_weights(weights)
    return plain


def epoch_reporter():
    """A Keras callback reporting each epoch's metrics to Train (and through it, to Tune).

    Our own, on tf-keras: Ray's Keras callbacks are built on the other Keras.
    """
    from dfu.keras_setup import keras

    class EpochReport(keras.callbacks.Callback):
        fits = 0  # which fit() of the trial: stage 1 = 1, stage 2 = 2 (pre-training: 1)

        def on_train_begin(self, logs=None):
            self.fits += 1

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            ray.train.report({"fit": self.fits, "epoch": epoch + 1,
                              **{k: float(logs[k]) for k in EPOCH_KEYS if k in logs}})  # fmt: skip
            _kill_once_for_test()

    return EpochReport()


def load_branch(folder: Path, modality: str, cfg: Config):
    """A pre-trained branch rebuilt from its weights (outside any strategy: only its weights are
    copied into the fusion model), and its pre-training record."""
    from dfu.models import branch_model

    model = branch_model(modality, cfg.model, cfg.data.image_size, cfg.training.augment)
    model.load_weights(str(folder / WEIGHTS_FILE))
    return model, json.loads((folder / RECORD_FILE).read_text())["record"]


def test_metrics(summary: dict) -> dict:
    """The trial's last report: what Tune's results table and the progress line show."""
    a, s = summary["test"]["assessment"], summary["test"]["image_set"]
    return {"test_kappa": a["kappa"], "test_qwk": a["qwk"], "test_f1_macro": a["f1_macro"],
            "set_kappa": s["kappa"], "trial_seconds": summary["seconds"]}  # fmt: skip


def placement(config: dict) -> dict:
    """Where this ran (trial.json's ``ray``): node, host and pid of rank 0; Tune and Train ids."""
    return {**config.get("ray", {}), "node_id": ray.get_runtime_context().get_node_id(),
            "hostname": socket.gethostname(), "pid": os.getpid()}  # fmt: skip


def _score_and_write(model, source: RayShardSource, combo, records: dict, config: dict) -> dict:
    import pandas as pd

    from dfu.models import input_names
    from dfu.trial_output import predictions_frame, trial_summary, write_trial

    names = input_names(combo)
    rows = source.rows("test", names)
    features = {c: rows[c] for c in names}
    proba = model.predict(features, batch_size=source.sizing.batch_size, verbose=0)
    ids = pd.DataFrame({c: rows[c] for c in ID_COLUMNS})
    predictions = predictions_frame(config["fold"], combo, ids, rows[LABEL], proba)
    cfg, started = config["cfg"], config["started"]
    summary = trial_summary(config["fold"], combo, predictions, records, source.sizing,
                            cfg.to_dict(), started, ray=placement(config))  # fmt: skip
    write_trial(config["out"], summary, predictions, model)  # weights for dfu.bundle; trial.json last
    return summary


def _save_branch(out: Path, model, record, config: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{WEIGHTS_FILE}.tmp"
    model.save_weights(str(tmp), save_format="h5")
    os.replace(tmp, out / WEIGHTS_FILE)
    seconds = round(time.time() - config["started"], 2)
    summary = {"fold": config["fold"], "modality": config["modality"], "record": record.to_dict(),
               "sizing": config["sizing"].to_dict(), "seconds": seconds,
               "ray": placement(config)}  # fmt: skip
    _write_json(out / RECORD_FILE, summary)


def _write_json(path: Path, value: dict) -> None:
    """Write then rename: a reader never sees half a file (record.json marks a branch done)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2))
    os.replace(tmp, path)


def _log_dir(out: Path, rank0: bool) -> Path | None:
    """Rank 0's TensorBoard folder, emptied first: a retried or resumed run starts a fresh log."""
    if not rank0:
        return None
    shutil.rmtree(out / TENSORBOARD_DIR, ignore_errors=True)
    return out / TENSORBOARD_DIR


def _kill_once_for_test() -> None:
    """Simulate a worker crash mid-training (SIGKILL, as the OOM killer does) once per marker file.

    (A worker dying while Train is still launching the loop is a controller error, which Ray
    Train does not retry; deaths during training are retried up to ``search.max_failures``.)
    """
    marker = os.environ.get(KILL_ONCE_VAR)
    if not marker:
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))  # exactly one worker wins
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)
