"""A plausible stage record (a few epochs, some learning, healthy), for tests to vary one field of."""

from __future__ import annotations

from dfu.training.health import StageRecord


def stage_record(**changes) -> StageRecord:
    """A stage record of 6 epochs (best: 3) that learned; ``changes`` override its fields."""
    base = dict(
        stage="s",
        epochs_run=6,
        best_epoch=3,
        trainable_params=5000,
        val_kappa=0.4,
        train_kappa=0.45,
        start_val_kappa=0.1,
        pred_dist=[0.3, 0.5, 0.2],
        learning_rate=1e-3,
        steps_per_epoch=8,
        batch_size=32,
        history={"loss": [1.0, 0.9, 0.8, 0.7, 0.7, 0.7]},
    )
    return StageRecord(**{**base, **changes})
