"""The staged training protocol of one trial (one fold x one modality combination).

Read top to bottom, it is the protocol:
  1. the metadata branch's probabilities are already an input column (``metadata``);
  2. ``pretrain_branch``: each image branch alone, equal alpha, early stopping on inner-val kappa;
  3. ``build_fusion``: transfer branch weights by layer name (not the pre-training head),
     freeze the branches' backbones;
  4. stage 1: train fusion weights and heads;
  5. stage 2: unfreeze, fine-tune at a learning rate that can still learn, keep only if
     inner-val kappa improved;
  6. scoring the outer test fold is the caller's job, once, after this returns.
Every stage stops early on inner-val kappa (after its ``warmup`` epochs), best weights restored.
Every stage ends in a ``StageRecord`` with its verdicts (``dfu.health``).

The data come from a *source* (``dfu.fold_data.ArraySource`` in one process, a Ray shard
source in ``cluster/``); a ``tf.distribute`` strategy may be passed for multi-worker runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dfu.combos import Combo, combo_name, image_modalities
from dfu.config import CLASSES, Config, StageConfig
from dfu.health import StageRecord, judge
from dfu.keras_metrics import stage_metrics
from dfu.keras_setup import keras, tf
from dfu.losses import class_alpha, focal_loss
from dfu.models import (
    MetadataFusion,
    branch_model,
    combo_model,
    input_names,
    set_branches_trainable,
    trainable_parameters,
    transfer_branch,
)

log = logging.getLogger("dfu.training")
EQUAL_ALPHA = [1.0] * len(CLASSES)


@dataclass
class TrialResult:
    combo: Combo
    model: keras.Model | None
    stages: list[StageRecord] = field(default_factory=list)
    pretrain: dict[str, StageRecord] = field(default_factory=dict)
    metadata_weight: float | None = None

    def records(self) -> dict:
        return {
            "pretrain": {m: r.to_dict() for m, r in self.pretrain.items()},
            "stages": [r.to_dict() for r in self.stages],
            "metadata_weight": self.metadata_weight,
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
    fusion = [layer for layer in model.layers if isinstance(layer, MetadataFusion)]
    weight = fusion[0].metadata_weight() if fusion else None
    return TrialResult(combo, model, [stage1, stage2], pre_records, weight)


def pretrain_branch(source, modality: str, cfg: Config, strategy=None, log_dir=None, callbacks=()):
    """Step 2: one image branch alone, equal class weights (no rare-class bias to collapse into)."""
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = branch_model(modality, cfg.model, cfg.data.image_size, cfg.training.augment)
    record = run_stage(model, source, (modality,), cfg.training.pretrain, EQUAL_ALPHA,
                       f"pretrain_{modality}", cfg, strategy, log_dir, callbacks)  # fmt: skip
    if record.val_kappa <= 0:
        log.warning("pre-training %s: inner-val kappa %.3f <= 0; its features are no better than "
                    "chance", modality, record.val_kappa)  # fmt: skip
    return model, record


def build_fusion(combo: Combo, cfg: Config, pretrained: dict, strategy) -> keras.Model:
    """Step 3: a fresh fusion model with pre-trained, frozen branch backbones."""
    with strategy.scope():
        model = combo_model(combo, cfg.model, cfg.data.image_size, cfg.training.augment)
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
        set_branches_trainable(model, image_modalities(combo), True, hidden=True)
    record = run_stage(model, source, combo, cfg.training.stage2, alpha, "stage2", cfg, strategy,
                       log_dir, callbacks)  # fmt: skip
    if record.val_kappa <= stage1.val_kappa:
        model.set_weights(before)
        record.kept = False
        log.info("stage2 reverted: inner-val kappa %.3f did not beat stage1's %.3f",
                 record.val_kappa, stage1.val_kappa)  # fmt: skip
    return record


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
    early = keras.callbacks.EarlyStopping(monitor="val_kappa", mode="max", patience=stage.patience,
                                          restore_best_weights=True, start_from_epoch=warmup)  # fmt: skip
    steps = source.sizing.steps["train"]
    cbs = [early, StepsGuard(steps, name), *_tensorboard(log_dir, name), *callbacks]
    history = model.fit(
        train, validation_data=val, epochs=stage.epochs, callbacks=cbs, verbose=0
    ).history
    final = model.evaluate(val, verbose=0, return_dict=True)  # best weights restored
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
