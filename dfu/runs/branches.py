"""A pre-trained image branch on disk: ``weights.h5`` and ``record.json`` (written last).

Saved once per (fold, modality) by its ``pretrain`` unit and loaded by every trial of that
fold whose combination contains the modality.
"""

from __future__ import annotations

import json
from pathlib import Path

from dfu.config import Config
from dfu.store.layout import RECORD_FILE, WEIGHTS_FILE
from dfu.store.records import atomic, write_json


def save_branch(folder: Path, model, summary: dict) -> None:
    """The branch's weights, then its record (``summary``: fold, modality, record, sizing...)."""
    folder.mkdir(parents=True, exist_ok=True)
    with atomic(folder / WEIGHTS_FILE) as tmp:
        model.save_weights(str(tmp), save_format="h5")
    write_json(folder / RECORD_FILE, summary)


def load_branch(folder: Path, modality: str, cfg: Config):
    """(the branch rebuilt with its weights, its pre-training record as a dict)."""
    from dfu.models.branches import branch_model
    from dfu.training.protocol import augmentations

    model = branch_model(modality, cfg.model, cfg.data.image_size, augmentations(cfg))
    model.load_weights(str(folder / WEIGHTS_FILE))
    return model, json.loads((folder / RECORD_FILE).read_text())["record"]
