"""Training-health verdicts: every failure of the clinic's old pipeline, detected loudly.

- ``no-learning``: the best inner-val epoch was the first one early stopping could pick
  (epoch 1, or the first after the stage's warm-up) *and* the training loss never fell 1%
  below epoch 1's: nothing moved (the old pipeline's "Restoring model weights from epoch 1"
  with a learning rate too low to learn).
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

log = logging.getLogger("dfu.health")

COLLAPSE_FRACTION = 0.98
LOSS_DROP = 0.01


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
    stalled = len(loss) < 2 or min(loss[1:]) > loss[0] * (1 - LOSS_DROP)
    if record.best_epoch == record.warmup + 1 and record.epochs_run > 1 and stalled:
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
