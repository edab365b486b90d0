"""The staged training protocol of one trial (one fold x one modality combination).

Read top to bottom, it is the protocol:
  1. the metadata branch's probabilities are already an input column (``metadata``);
  2. ``pretrain_branch``: each image branch alone, early stopping on inner-val kappa;
  3. ``build_fusion``: transfer each pre-trained branch by layer name, its head included (the
     fusion starts from its experts), freeze the branches' backbones;
  4. stage 1: train fusion weights and heads;
  5. stage 2: unfreeze, fine-tune at a learning rate that can still learn, keep only if
     inner-val kappa improved;
  6. ``fit_fusion_weights``: refit the fusion's per-source weights and class bias on the
     inner-val rows, where every source is held out (``dfu.fusion_fit``);
  7. scoring the outer test fold is the caller's job, once, after this returns.
Every stage stops early on inner-val kappa (after its ``warmup`` epochs), best weights restored.
Every stage ends in a ``StageRecord`` with its verdicts (``dfu.health``).

The data come from a *source* (``dfu.fold_data.ArraySource`` in one process, a Ray shard
source in ``cluster/``); a ``tf.distribute`` strategy may be passed for multi-worker runs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dfu.combos import Combo, combo_name, image_modalities
from dfu.config import CLASSES, Config, StageConfig
from dfu.fusion_fit import choose_fusion
from dfu.health import StageRecord, judge
from dfu.keras_metrics import stage_metrics
from dfu.keras_setup import keras, tf
from dfu.losses import class_alpha, focal_loss
from dfu.models import (
    branch_model,
    combo_model,
    fusion_layer,
    input_names,
    set_branches_trainable,
    source_outputs,
    trainable_parameters,
    transfer_branch,
)

log = logging.getLogger("dfu.training")


@dataclass
class TrialResult:
    combo: Combo
    model: keras.Model | None
    stages: list[StageRecord] = field(default_factory=list)
    pretrain: dict[str, StageRecord] = field(default_factory=dict)
    fusion: dict | None = None  # the fitted fusion weights (dfu.fusion_fit), None for one source

    def records(self) -> dict:
        return {
            "pretrain": {m: r.to_dict() for m, r in self.pretrain.items()},
            "stages": [r.to_dict() for r in self.stages],
            "fusion": self.fusion,
        }


def run_trial(source, combo: Combo, cfg: Config, pretrained: dict | None = None, strategy=None,
              log_dir: str | Path | None = None, callbacks=()) -> TrialResult:  # fmt: skip
    """Steps 2-5 for one combination. ``pretrained`` maps modality -> pre-trained branch model
    (reused across combinations); missing branches are pre-trained here."""
    strategy = strategy or tf.distribute.get_strategy()
    images = image_modalities(combo)
    if not images:
        return TrialResult(combo, model=None)  # metadata only: the RF probabilities are the answer
    keras.utils.set_random_seed(cfg.training.seed)
    pretrained, pre_records = dict(pretrained or {}), {}
    for m in images:
        if m not in pretrained:
            pretrained[m], pre_records[m] = pretrain_branch(
                source, m, cfg, strategy, log_dir, callbacks
            )
    model = build_fusion(combo, cfg, pretrained, strategy)
    alpha = class_alpha(_train_labels(source), cfg.training)
    stage1 = run_stage(model, source, combo, cfg.training.stage1, alpha, "stage1", cfg, strategy,
                       log_dir, callbacks)  # fmt: skip
    stage2 = fine_tune(model, source, combo, alpha, stage1, cfg, strategy, log_dir, callbacks)
    plain = local_copy(model, strategy, lambda: combo_model(
        combo, cfg.model, cfg.data.image_size, augmentations(cfg)))  # fmt: skip
    fusion = fit_fusion_weights(plain, source, combo, alpha, cfg)
    return TrialResult(combo, plain, [stage1, stage2], pre_records, fusion)


def pretrain_branch(source, modality: str, cfg: Config, strategy=None, log_dir=None, callbacks=()):
    """Step 2: one image branch alone, classes weighted as in every stage (capped at 3x).

    Equal weights let a hard modality sit on its "everything is the common class" plateau
    (kappa 0) until early stopping ended it: measured on real digit images, 1-2 folds of 3.
    The cap keeps the rare class from becoming the attractor instead (seed analysis RC2).
    """
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = branch_model(modality, cfg.model, cfg.data.image_size, augmentations(cfg))
    alpha = class_alpha(_train_labels(source), cfg.training)
    record = run_stage(model, source, (modality,), cfg.training.pretrain, alpha,
                       f"pretrain_{modality}", cfg, strategy, log_dir, callbacks)  # fmt: skip
    if record.val_kappa <= 0:
        log.warning("pre-training %s: inner-val kappa %.3f <= 0; its features are no better than "
                    "chance", modality, record.val_kappa)  # fmt: skip
    return model, record


def build_fusion(combo: Combo, cfg: Config, pretrained: dict, strategy) -> keras.Model:
    """Step 3: a fresh fusion model with pre-trained, frozen branch backbones."""
    with strategy.scope():
        model = combo_model(combo, cfg.model, cfg.data.image_size, augmentations(cfg))
        for m in image_modalities(combo):
            copied = transfer_branch(pretrained[m], model, m)
            log.info("transferred %s: %s", m, ", ".join(copied))
        set_branches_trainable(model, image_modalities(combo), False, cfg.model.freeze_hidden)
    return model


def fine_tune(model, source, combo, alpha, stage1: StageRecord, cfg: Config, strategy, log_dir,
              callbacks) -> StageRecord:  # fmt: skip
    """Step 5: unfreeze and fine-tune; revert to stage 1 unless inner-val kappa improves."""
    before = model.get_weights()
    with strategy.scope():
        set_branches_trainable(model, image_modalities(combo), True, hidden=True,
                               fraction=cfg.model.unfreeze_fraction)  # fmt: skip
    record = run_stage(model, source, combo, cfg.training.stage2, alpha, "stage2", cfg, strategy,
                       log_dir, callbacks)  # fmt: skip
    if record.val_kappa <= stage1.val_kappa:
        model.set_weights(before)
        record.kept = False
        log.info("stage2 reverted: inner-val kappa %.3f did not beat stage1's %.3f",
                 record.val_kappa, stage1.val_kappa)  # fmt: skip
    return record


def fit_fusion_weights(model, source, combo: Combo, alpha, cfg: Config) -> dict | None:
    """Step 6: the fusion layer's weights and bias refitted on inner-val rows (held out for
    every source); None when there is nothing to fuse (one source). ``model`` is this process's
    own (``local_copy``): every worker fits the same numbers from the same rows."""
    layer = fusion_layer(model)
    if layer is None:
        return None
    columns = input_names(combo)
    rows = source.dataset("val", columns, local=True)
    probabilities = source_outputs(model, combo).predict(rows, verbose=0)
    w, b = (v.numpy() for v in (layer.w, layer.bias))
    ids = source.arrays["val"].ids
    fit = choose_fusion(list(probabilities), source.labels("val"), ids["assessment_id"],
                        ids["patient"], layer.sources, alpha, w, b, cfg.model.fusion,
                        cfg.training.fusion_l2)  # fmt: skip
    layer.w.assign(np.asarray(fit.weights, dtype="float32"))
    layer.bias.assign(np.asarray(fit.bias, dtype="float32"))
    log.info("fusion: %s, weights %s (val loss %.3f -> %.3f)", fit.chosen, fit.weights,
             fit.val_loss_before, fit.val_loss_after)  # fmt: skip
    return fit.to_dict(layer.sources)


def local_copy(model, strategy, build):
    """The model outside ``MultiWorkerMirroredStrategy``, for one worker to fit, save or predict
    alone; the model itself without a strategy.

    Call it on every worker: under the strategy, reading the weights includes BatchNorm's
    sync-on-read statistics, an all-reduce that hangs when one worker alone does it (seen: rank
    0 stuck in ``save_weights`` while rank 1 waited elsewhere).
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return model
    weights = model.get_weights()
    plain = build()
    plain.set_weights(weights)
    return plain


def augmentations(cfg: Config) -> dict[str, list[str]]:
    return cfg.data.augment.by_modality()


def run_stage(model, source, combo, stage: StageConfig, alpha, name: str, cfg: Config, strategy,
              log_dir=None, callbacks=()) -> StageRecord:  # fmt: skip
    """Compile, fit with early stopping on inner-val kappa (best weights restored), record."""
    columns = input_names(combo)
    with strategy.scope():
        model.compile(
            optimizer=keras.optimizers.Adam(stage.learning_rate),
            loss=focal_loss(alpha, cfg.training.focal_gamma),
            metrics=stage_metrics(),
        )
    train = source.dataset("train", columns, shuffle=True)
    val = source.dataset("val", columns)
    start = model.evaluate(val, verbose=0, return_dict=True)
    warmup = min(stage.warmup, stage.epochs - 1)
    mode = "max" if stage.monitor == "val_kappa" else "min"
    early = keras.callbacks.EarlyStopping(monitor=stage.monitor, mode=mode, patience=stage.patience,
                                          restore_best_weights=True, start_from_epoch=warmup)  # fmt: skip
    steps = source.sizing.steps["train"]
    motion = WeightMotion()
    cbs = [early, StepsGuard(steps, name), motion, *_tensorboard(log_dir, name), *callbacks]
    started = time.perf_counter()
    history = model.fit(
        train, validation_data=val, epochs=stage.epochs, callbacks=cbs, verbose=0
    ).history
    final = model.evaluate(val, verbose=0, return_dict=True)  # best weights restored
    seconds = time.perf_counter() - started
    best = early.best_epoch
    record = StageRecord(
        stage=name,
        epochs_run=len(history["loss"]),
        best_epoch=best + 1,
        warmup=warmup,
        trainable_params=trainable_parameters(model),
        val_kappa=float(final["kappa"]),
        train_kappa=float(history["kappa"][best]),
        start_val_kappa=float(start["kappa"]),
        pred_dist=[float(final[f"pred_{c}"]) for c in CLASSES],
        learning_rate=stage.learning_rate,
        steps_per_epoch=steps,
        batch_size=source.sizing.batch_size,
        history={k: [float(v) for v in vals] for k, vals in history.items()},
        weight_change=motion.largest,
        seconds=round(seconds, 2),
    )
    return judge(record, cfg.training.overfit_gap, cfg.training.min_trainable_params)


class StepsGuard(keras.callbacks.Callback):
    """Fails the stage if an epoch did not run exactly the planned number of batches."""

    def __init__(self, expected: int, stage: str):
        super().__init__()
        self.expected, self.stage, self.seen = expected, stage, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1

    def on_epoch_end(self, epoch, logs=None):
        if self.seen != self.expected:
            raise RuntimeError(
                f"{self.stage} epoch {epoch + 1} ran {self.seen} batches, planned "
                f"{self.expected} (= ceil(rows / batch)): the data source and sizing disagree"
            )


class WeightMotion(keras.callbacks.Callback):
    """The largest relative change of the trainable weights from the stage's start, per epoch:
    how ``no-learning`` tells a stage that could not move from one that moved to no avail."""

    def on_train_begin(self, logs=None):
        self.start = [w.numpy() for w in self.model.trainable_weights]
        self.norm = max(float(np.sqrt(sum(np.sum(w**2) for w in self.start))), 1e-12)
        self.largest = 0.0

    def on_epoch_end(self, epoch, logs=None):
        now = [w.numpy() for w in self.model.trainable_weights]
        moved = float(np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(now, self.start, strict=True))))
        self.largest = max(self.largest, moved / self.norm)


def predict(model, source, combo: Combo, split: str) -> np.ndarray:
    """(N, 3) class probabilities for a split, in the source's row order."""
    if model is None:
        raise ValueError(f"{combo_name(combo)}: no Keras model (metadata only)")
    return model.predict(source.dataset(split, input_names(combo)), verbose=0)


def _train_labels(source) -> np.ndarray:
    counts = source.sizing.class_counts
    return np.repeat(np.arange(len(counts)), counts)


def _tensorboard(log_dir, name: str) -> list:
    if not log_dir:
        return []
    return [
        keras.callbacks.TensorBoard(str(Path(log_dir) / name), write_graph=False, profile_batch=0)
    ]
