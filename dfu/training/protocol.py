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
     inner rows, kept only if that beats the reference source on inner-val rows, where every
     source is held out (``dfu.training.fusion_fit``);
  7. scoring the outer test fold is the caller's job, once, after this returns.
Every stage stops early on inner-val kappa (after its ``warmup`` epochs), best weights restored.
Every stage ends in a ``StageRecord`` with its verdicts (``dfu.training.health``).

Where a trial trains is a ``TrainingContext``: its data *source* (``dfu.training.source
.ArraySource``), the config, a ``tf.distribute`` strategy for multi-worker runs, the
TensorBoard folder and extra callbacks. What one stage trains is a ``StageSpec``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dfu.combos import Combo, combo_name, image_modalities
from dfu.config import Config, StageConfig
from dfu.config.sections import FUSION_FIT_SPLITS
from dfu.constants import CLASSES
from dfu.keras_setup import keras, tf
from dfu.models.branches import branch_model
from dfu.models.fusion import (
    combo_model,
    fusion_layer,
    input_names,
    set_branches_trainable,
    source_outputs,
    trainable_parameters,
    transfer_branch,
)
from dfu.training.callbacks import StepsGuard, WeightMotion, tensorboard
from dfu.training.fusion_fit import FusionRows, FusionStart, choose_fusion
from dfu.training.health import StageRecord, judge
from dfu.training.keras_metrics import stage_metrics
from dfu.training.losses import class_alpha, focal_loss

log = logging.getLogger("dfu.training")


@dataclass
class TrainingContext:
    """Where and how a trial trains: its data, its config, the ``tf.distribute`` strategy
    (None: the default, one process), the TensorBoard folder (None: no logs) and extra Keras
    callbacks for every stage."""

    source: Any  # ArraySource: sizing, arrays, dataset(split, columns, shuffle, local), labels
    cfg: Config
    strategy: Any = None
    log_dir: str | Path | None = None
    callbacks: tuple = ()

    def __post_init__(self):
        self.strategy = self.strategy or tf.distribute.get_strategy()


@dataclass(frozen=True)
class StageSpec:
    """One stage to train: its name (``pretrain_<modality>``, ``stage1``, ``stage2``), its
    settings, the combination whose inputs it reads, and the class weights of its loss."""

    name: str
    stage: StageConfig
    combo: Combo
    alpha: list[float] | None


@dataclass
class TrialResult:
    combo: Combo
    model: keras.Model | None
    stages: list[StageRecord] = field(default_factory=list)
    pretrain: dict[str, StageRecord] = field(default_factory=dict)
    fusion: dict | None = (
        None  # the fitted fusion weights (dfu.training.fusion_fit), None for one source
    )

    @property
    def compute_seconds(self) -> float:
        """Time inside Keras evaluate/fit/predict: its stages and the fusion fit's predictions."""
        predicting = (self.fusion or {}).get("predict_seconds", 0.0)
        return sum(s.seconds for s in self.stages) + predicting

    def records(self) -> dict:
        return {
            "pretrain": {m: r.to_dict() for m, r in self.pretrain.items()},
            "stages": [r.to_dict() for r in self.stages],
            "fusion": self.fusion,
        }


def run_trial(ctx: TrainingContext, combo: Combo, pretrained: dict | None = None) -> TrialResult:
    """Steps 2-6 for one combination. ``pretrained`` maps modality -> pre-trained branch: its
    model or its saved weights file (reused across combinations); missing branches are
    pre-trained here."""
    cfg = ctx.cfg
    images = image_modalities(combo)
    if not images:
        return TrialResult(combo, model=None)  # metadata only: the RF probabilities are the answer
    keras.utils.set_random_seed(cfg.training.seed)
    pretrained, pre_records = dict(pretrained or {}), {}
    for m in images:
        if m not in pretrained:
            pretrained[m], pre_records[m] = pretrain_branch(ctx, m)
    model = build_fusion(ctx, combo, pretrained)
    alpha = class_alpha(_train_labels(ctx.source), cfg.training)
    stage1 = run_stage(model, ctx, StageSpec("stage1", cfg.training.stage1, combo, alpha))
    stage2 = fine_tune(model, ctx, StageSpec("stage2", cfg.training.stage2, combo, alpha), stage1)
    plain = local_copy(model, ctx.strategy, lambda: _fusion_model(combo, cfg))
    fusion = fit_fusion_weights(plain, ctx, combo, alpha)
    return TrialResult(combo, plain, [stage1, stage2], pre_records, fusion)


def pretrain_branch(ctx: TrainingContext, modality: str):
    """Step 2: one image branch alone, classes weighted as in every stage (capped at 3x).

    Equal weights let a hard modality sit on its "everything is the common class" plateau
    (kappa 0) until early stopping ended it: measured on real digit images, 1-2 folds of 3.
    The cap keeps the rare class from becoming the attractor instead (seed analysis RC2).
    """
    cfg = ctx.cfg
    with ctx.strategy.scope():
        model = branch_model(modality, cfg.model, cfg.data.image_size, augmentations(cfg))
    alpha = class_alpha(_train_labels(ctx.source), cfg.training)
    spec = StageSpec(f"pretrain_{modality}", cfg.training.pretrain, (modality,), alpha)
    record = run_stage(model, ctx, spec)
    if record.val_kappa <= 0:
        log.warning(
            "pre-training %s: inner-val kappa %.3f <= 0; its features are no better than chance",
            modality,
            record.val_kappa,
        )
    return model, record


def build_fusion(ctx: TrainingContext, combo: Combo, pretrained: dict) -> keras.Model:
    """Step 3: a fresh fusion model with pre-trained, frozen branch backbones."""
    cfg = ctx.cfg
    with ctx.strategy.scope():
        model = _fusion_model(combo, cfg)
        for m in image_modalities(combo):
            copied = transfer_branch(pretrained[m], model, m)
            log.info("transferred %s: %s", m, ", ".join(copied))
        set_branches_trainable(model, image_modalities(combo), False, cfg.model.freeze_hidden)
    return model


def fine_tune(model, ctx: TrainingContext, spec: StageSpec, stage1: StageRecord) -> StageRecord:
    """Step 5: unfreeze and fine-tune; revert to stage 1 unless inner-val kappa improves."""
    before = model.get_weights()
    with ctx.strategy.scope():
        fraction = ctx.cfg.model.unfreeze_fraction
        images = image_modalities(spec.combo)
        set_branches_trainable(model, images, True, hidden=True, fraction=fraction)
    record = run_stage(model, ctx, spec)
    if record.val_kappa <= stage1.val_kappa:
        model.set_weights(before)
        record.kept = False
        log.info(
            "stage2 reverted: inner-val kappa %.3f did not beat stage1's %.3f",
            record.val_kappa,
            stage1.val_kappa,
        )
    return record


def fit_fusion_weights(model, ctx: TrainingContext, combo: Combo, alpha) -> dict | None:
    """Step 6: the fusion layer's weights and bias refitted on ``training.fusion_fit_rows``
    and judged on inner-val rows (held out for every source); None when there is nothing to
    fuse (one source). ``model`` is this process's own (``local_copy``): every worker fits the
    same numbers from the same rows."""
    layer = fusion_layer(model)
    if layer is None:
        return None
    source, cfg = ctx.source, ctx.cfg
    splits = FUSION_FIT_SPLITS[cfg.training.fusion_fit_rows]
    started = time.perf_counter()
    rows = FusionRows.concat([_source_rows(model, source, combo, s) for s in splits])
    predicting = time.perf_counter() - started
    w, b = (v.numpy() for v in (layer.w, layer.bias))
    start = FusionStart(alpha, w, b, cfg.model.fusion, cfg.training.fusion_l2)
    fit = choose_fusion(rows, layer.sources, start)
    layer.w.assign(np.asarray(fit.weights, dtype="float32"))
    layer.bias.assign(np.asarray(fit.bias, dtype="float32"))
    scaled = (
        "" if fit.honest_scale is None else f"image weights x {fit.honest_scale} on inner val; "
    )
    log.info(
        "fusion: %s, weights %s (%sloss on its fit rows %.3f -> %.3f)",
        fit.chosen,
        fit.weights,
        scaled,
        fit.fit_loss_before,
        fit.fit_loss_after,
    )
    return {**fit.to_dict(layer.sources), "predict_seconds": round(predicting, 2)}


def _source_rows(model, source, combo: Combo, split: str) -> FusionRows:
    """Each source's probabilities on one split's rows, unshuffled and unaugmented."""
    rows = source.dataset(split, input_names(combo), local=True)
    probabilities = source_outputs(model, combo).predict(rows, verbose=0)
    ids = source.arrays[split].ids
    labels = source.labels(split)
    honest = np.full(len(labels), split != "train")
    return FusionRows(list(probabilities), labels, ids["assessment_id"], ids["patient"], honest)


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


def run_stage(model, ctx: TrainingContext, spec: StageSpec) -> StageRecord:
    """Compile, fit with early stopping on inner-val kappa (best weights restored), record."""
    stage, sizing = spec.stage, ctx.source.sizing
    _compile(model, ctx, spec)
    columns = input_names(spec.combo)
    train = ctx.source.dataset("train", columns, shuffle=True)
    val = ctx.source.dataset("val", columns)
    started = time.perf_counter()  # the stage's seconds: its Keras evaluate, fit, evaluate
    start = model.evaluate(val, verbose=0, return_dict=True)
    warmup = min(stage.warmup, stage.epochs - 1)
    early = _early_stopping(stage, warmup)
    motion, steps = WeightMotion(), sizing.steps["train"]
    logs = tensorboard(ctx.log_dir, spec.name)
    callbacks = [early, StepsGuard(steps, spec.name), motion, *logs, *ctx.callbacks]
    fit = model.fit(train, validation_data=val, epochs=stage.epochs, callbacks=callbacks, verbose=0)
    final = model.evaluate(val, verbose=0, return_dict=True)  # best weights restored
    seconds = time.perf_counter() - started
    history, best = fit.history, early.best_epoch
    record = StageRecord(
        stage=spec.name,
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
        batch_size=sizing.batch_size,
        history={k: [float(v) for v in vals] for k, vals in history.items()},
        weight_change=motion.largest,
        seconds=round(seconds, 2),
    )
    return judge(record, ctx.cfg.training)


def _compile(model, ctx: TrainingContext, spec: StageSpec) -> None:
    with ctx.strategy.scope():
        model.compile(
            optimizer=keras.optimizers.Adam(spec.stage.learning_rate),
            loss=focal_loss(spec.alpha, ctx.cfg.training.focal_gamma),
            metrics=stage_metrics(),
        )


def _early_stopping(stage: StageConfig, warmup: int):
    """Stop on ``stage.monitor`` after ``patience`` epochs without a better one; the best epoch
    may come only after ``warmup`` epochs; its weights are restored."""
    return keras.callbacks.EarlyStopping(
        monitor=stage.monitor,
        mode="max" if stage.monitor == "val_kappa" else "min",
        patience=stage.patience,
        restore_best_weights=True,
        start_from_epoch=warmup,
    )


def predict(model, source, combo: Combo, split: str) -> np.ndarray:
    """(N, 3) class probabilities for a split, in the source's row order."""
    if model is None:
        raise ValueError(f"{combo_name(combo)}: no Keras model (metadata only)")
    return model.predict(source.dataset(split, input_names(combo)), verbose=0)


def _fusion_model(combo: Combo, cfg: Config) -> keras.Model:
    return combo_model(combo, cfg.model, cfg.data.image_size, augmentations(cfg))


def _train_labels(source) -> np.ndarray:
    counts = source.sizing.class_counts
    return np.repeat(np.arange(len(counts)), counts)
