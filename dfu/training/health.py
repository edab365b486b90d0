"""Training-health verdicts: every failure of the clinic's old pipeline, detected loudly.

- ``no-learning``: the trainable weights changed by less than ``training.min_weight_change``
  (relative), whichever epoch was best; or the best inner-val epoch was the first one early
  stopping could pick (epoch 1, or the first after the stage's warm-up) and the training loss
  never fell ``training.loss_drop`` (1%) below epoch 1's (the old pipeline's "Restoring model
  weights from epoch 1" with a learning rate too low to learn). The weights are the steadier
  sign: dropout and batch statistics move a loss by more than 1% even at a learning rate of
  1e-9, and BatchNorm's moving statistics move inner-val predictions enough that a later
  epoch can be "best" (seen in CI: best epoch 5 of 7 at 1e-9).
  A stage whose loss falls but whose inner-val kappa never beats its first eligible epoch
  learned something that did not generalise; it is not kept (stage 2) and ``overfit`` may
  fire instead.
- ``collapsed``: (nearly) every inner-val prediction is one class
  (``training.collapse_fraction``).
- ``overfit``: train kappa exceeds inner-val kappa by more than ``training.overfit_gap``.
- ``below-baseline`` (pre-training only): the branch's inner-val assessment kappa is below
  that of a logistic regression on the same pixels (``dfu.models.baseline``): the network does
  not earn its keep on this modality.
A stage with none of these is ``ok``. Several can fire at once; all are kept.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from dfu.config import TrainingConfig

log = logging.getLogger("dfu.health")


@dataclass
class StageRecord:
    """What one training stage did, saved with every trial."""

    stage: str
    epochs_run: int
    best_epoch: int  # 1-based; > warmup
    trainable_params: int
    val_kappa: float  # inner validation, at the best epoch
    train_kappa: float  # training batches, at the best epoch
    start_val_kappa: float  # inner validation before the stage's first update
    pred_dist: list[float]  # fraction of inner-val rows predicted per class (I, P, R)
    learning_rate: float
    steps_per_epoch: int
    batch_size: int
    warmup: int = 0  # epochs trained before early stopping could pick a best one
    weight_change: float = 1.0  # largest relative L2 change of the trainable weights
    seconds: float = 0.0  # inside Keras (fit + evaluate)
    val_assessment_kappa: float | None = None  # pre-training: inner-val, per assessment
    baseline_val_kappa: float | None = None  # pre-training: its linear baseline's, likewise
    kept: bool = True
    verdicts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    history: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def judge(record: StageRecord, thresholds: TrainingConfig) -> StageRecord:
    """Fill in verdicts and warnings (``thresholds``: the training section's verdict
    thresholds), and log anything that is not ok."""
    verdicts = []
    loss = record.history.get("loss", [])
    flat = len(loss) < 2 or min(loss[1:]) > loss[0] * (1 - thresholds.loss_drop)
    unmoved = record.weight_change < thresholds.min_weight_change
    first_best = record.best_epoch == record.warmup + 1
    if record.epochs_run > 1 and (unmoved or (first_best and flat)):
        verdicts.append("no-learning")
    if max(record.pred_dist) >= thresholds.collapse_fraction:
        verdicts.append("collapsed")
    if record.train_kappa - record.val_kappa > thresholds.overfit_gap:
        verdicts.append("overfit")
    record.verdicts = verdicts or ["ok"]
    least = thresholds.min_trainable_params
    if record.trainable_params < least:
        record.warnings.append(
            f"only {record.trainable_params} trainable parameters (< {least}): "
            "too few to learn anything beyond a linear read-out"
        )
    for message in [*(v for v in verdicts), *record.warnings]:
        log.warning(
            "stage %s: %s (best epoch %d of %d, val kappa %.3f, train kappa %.3f, "
            "predicted I/P/R %s)",
            record.stage,
            message,
            record.best_epoch,
            record.epochs_run,
            record.val_kappa,
            record.train_kappa,
            "/".join(f"{p:.2f}" for p in record.pred_dist),
        )
    return record


def judge_baseline(record: StageRecord, branch_kappa: float, baseline_kappa: float | None) -> None:
    """Add ``below-baseline`` when the branch scores below its linear baseline on inner val."""
    record.val_assessment_kappa = float(branch_kappa)
    record.baseline_val_kappa = None if baseline_kappa is None else float(baseline_kappa)
    if baseline_kappa is None or branch_kappa >= baseline_kappa:
        return
    record.verdicts = [v for v in record.verdicts if v != "ok"] + ["below-baseline"]
    log.warning(
        "stage %s: below-baseline (inner-val kappa %.3f, a linear model on the same pixels %.3f)",
        record.stage,
        branch_kappa,
        baseline_kappa,
    )
