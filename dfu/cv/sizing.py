"""Batch size and steps per epoch, decided once per fold from the real row counts.

The clinic's old pipeline reused one steps-per-epoch for datasets of different sizes and
papered over it with ``repeat()`` (seed analysis RC6). Here every stage of every trial of a
fold gets the same ``Sizing``, computed from the rows actually present, and the training
loop checks each epoch ran exactly ``steps['train']`` batches.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Sizing:
    batch_size: int  # global batch (all workers together)
    rows: dict[str, int]  # rows per split: train, val, test
    steps: dict[str, int]  # ceil(rows / batch_size) per split
    class_counts: list[int]  # training rows per class (I, P, R)
    workers: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def plan_sizing(
    rows: dict[str, int],
    class_counts: list[int],
    batch_size: int,
    workers: int = 1,
    min_steps: int = 1,
) -> Sizing:
    """Batch never larger than the training data, nor so large that an epoch has fewer than
    ``min_steps`` updates (small data learns per step, not per epoch: on 400 training rows a
    batch of 32 gives 13 updates an epoch, and branches stopped before they had learned); at
    least one row per worker. Steps cover every row once per epoch."""
    if rows.get("train", 0) < 1:
        raise ValueError("no training rows: cannot size batches")
    batch = min(batch_size, rows["train"], max(1, rows["train"] // max(1, min_steps)))
    batch = max(batch, workers, 1)
    steps = {split: max(1, math.ceil(n / batch)) for split, n in rows.items()}
    return Sizing(batch, dict(rows), steps, list(class_counts), workers)
