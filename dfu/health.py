"""Training-health verdicts: every failure of the clinic's old pipeline, detected loudly.

- ``no-learning``: the training loss fell by less than 5% over the stage (mean of the last
  half of the epochs vs. the first half): the weights did not move (the old pipeline's
  "Restoring model weights from epoch 1" with a learning rate too low to learn). Not the best
  epoch: early stopping picks it after a warm-up, and inner-val kappa can still drift while
  nothing learns (batch-norm statistics keep updating at any learning rate).
  A stage whose loss falls but whose inner-val kappa never beats its first eligible epoch
  learned something that did not generalise; it is not kept (stage 2) and ``overfit`` may
  fire instead.
- ``collapsed``: (nearly) every inner-val prediction is one class.
- ``overfit``: train kappa exceeds inner-val kappa by more than ``overfit_gap``.
A stage with none of these is ``ok``. Several can fire at once; all are kept.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np

log = logging.getLogger("dfu.health")

COLLAPSE_FRACTION = 0.98
LOSS_DROP = 0.05


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
    kept: bool = True
    verdicts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    history: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def judge(record: StageRecord, overfit_gap: float, min_trainable_params: int) -> StageRecord:
    """Fill in verdicts and warnings, and log anything that is not ok."""
    verdicts = []
    loss = record.history.get("loss", [])
    # Halves, not single epochs: dropout and batch statistics make one epoch's loss jitter by
    # several percent even when the weights do not move.
    half = max(len(loss) // 2, 1)
    stalled = len(loss) < 2 or np.mean(loss[-half:]) > np.mean(loss[:half]) * (1 - LOSS_DROP)
    if record.epochs_run > 1 and stalled:
        verdicts.append("no-learning")
    if max(record.pred_dist) >= COLLAPSE_FRACTION:
        verdicts.append("collapsed")
    if record.train_kappa - record.val_kappa > overfit_gap:
        verdicts.append("overfit")
    record.verdicts = verdicts or ["ok"]
    if record.trainable_params < min_trainable_params:
        record.warnings.append(
            f"only {record.trainable_params} trainable parameters (< {min_trainable_params}): "
            "too few to learn anything beyond a linear read-out"
        )
    for message in [*(v for v in verdicts), *record.warnings]:
        log.warning("stage %s: %s (best epoch %d of %d, val kappa %.3f, train kappa %.3f, "
                    "predicted I/P/R %s)", record.stage, message, record.best_epoch,
                    record.epochs_run, record.val_kappa, record.train_kappa,
                    "/".join(f"{p:.2f}" for p in record.pred_dist))  # fmt: skip
    return record
