"""The repository's root (the working folder of subprocess tests) and the tests' one shrunken
config, ``dfu/configs/tiny.yaml``: the smallest real run (16 px crops, 2 patient-grouped folds,
one epoch a stage), which every test needing a small run starts from."""

from __future__ import annotations

from pathlib import Path

import dfu

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = Path(dfu.__file__).resolve().parent / "configs" / "tiny.yaml"
