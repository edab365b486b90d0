"""A pre-trained image branch on disk: ``weights.h5`` and ``record.json`` (written last).

Saved once per (fold, modality) by its ``pretrain`` unit and loaded by every trial of that
fold whose combination contains the modality.
"""

from __future__ import annotations

import json
from pathlib import Path

from dfu.store.layout import RECORD_FILE, WEIGHTS_FILE
from dfu.store.records import atomic, write_json


def save_branch(folder: Path, model, summary: dict) -> None:
    """The branch's weights, then its record (``summary``: fold, modality, record, sizing...)."""
    folder.mkdir(parents=True, exist_ok=True)
    with atomic(folder / WEIGHTS_FILE) as tmp:
        model.save_weights(str(tmp), save_format="h5")
    write_json(folder / RECORD_FILE, summary)


def saved_branch(folder: Path) -> tuple[Path, dict]:
    """(the branch's weights file, which a fusion model loads by layer name; its pre-training
    record as a dict)."""
    return folder / WEIGHTS_FILE, json.loads((folder / RECORD_FILE).read_text())["record"]
