"""How a run's records are written and read: the trial format (``trial.json`` and
``predictions.parquet``), JSON files, and atomic writes.

Written the same way by the single-process runner and by Ray trials, so the search's
aggregation and the report read one format. Every writer writes to a temporary name and
renames (``atomic``): a reader never sees half a file, and an interrupted unit is not taken
for a finished one.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from dfu.combos import Combo, combo_name
from dfu.constants import PROBA_COLUMNS
from dfu.store.layout import MODEL_WEIGHTS_FILE, PREDICTIONS_FILE, TRIAL_FILE


def predictions_frame(
    fold: int, combo: Combo | str, ids: pd.DataFrame, labels: np.ndarray, proba: np.ndarray
) -> pd.DataFrame:
    """One row per image set: ids, true class, probabilities (``combo``: a name or a tuple)."""
    frame = ids[["set_id", "assessment_id", "patient"]].reset_index(drop=True).copy()
    frame.insert(0, "combo", combo if isinstance(combo, str) else combo_name(combo))
    frame.insert(0, "fold", fold)
    frame["y_true"] = np.asarray(labels, dtype=int)
    frame[PROBA_COLUMNS] = np.asarray(proba, dtype=float)
    return frame


def write_trial(out: str | Path, summary: dict, predictions: pd.DataFrame, model=None) -> Path:
    """The model's weights (image combinations), predictions.parquet, then trial.json, which
    marks the trial done: each written to a temporary name and renamed, so a reader never
    sees half a file and an interrupted trial is not taken for a finished one."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if model is not None:
        with atomic(out / MODEL_WEIGHTS_FILE) as tmp:
            model.save_weights(str(tmp), save_format="h5")
    with atomic(out / PREDICTIONS_FILE) as tmp:
        predictions.to_parquet(tmp, index=False)
    write_json(out / TRIAL_FILE, summary)
    return out


def write_json(path: Path, value: dict) -> None:
    with atomic(path) as tmp:
        tmp.write_text(json.dumps(value, indent=2, default=_jsonable))


def read_json(path: str | Path) -> dict | None:
    """A JSON file's content, or None when it is missing or cut short (an interrupted write)."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read_trial(folder: Path) -> tuple[dict, pd.DataFrame] | None:
    """(trial.json, predictions) of a finished trial folder, or None."""
    summary = read_json(folder / TRIAL_FILE)
    if summary is None or not (folder / PREDICTIONS_FILE).exists():
        return None
    return summary, pd.read_parquet(folder / PREDICTIONS_FILE)


@contextmanager
def atomic(path: Path):
    """Yield a temporary sibling of ``path`` to write; renamed onto ``path`` when done."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
