"""What a trial leaves behind: ``trial.json`` and ``predictions.parquet``.

Written the same way by the single-process runner and by Ray trials, so the search's
aggregation and the report read one format.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from dfu.combos import Combo, combo_name
from dfu.metrics import PROBA_COLUMNS, score_predictions

TRIAL_FILE = "trial.json"
PREDICTIONS_FILE = "predictions.parquet"
MODEL_WEIGHTS_FILE = "model.weights.h5"  # the trained fusion model (rebuilt from config + combo)


def predictions_frame(fold: int, combo: Combo | str, ids: pd.DataFrame, labels: np.ndarray,
                      proba: np.ndarray) -> pd.DataFrame:  # fmt: skip
    """One row per image set: ids, true class, probabilities (``combo``: a name or a tuple)."""
    frame = ids[["set_id", "assessment_id", "patient"]].reset_index(drop=True).copy()
    frame.insert(0, "combo", combo if isinstance(combo, str) else combo_name(combo))
    frame.insert(0, "fold", fold)
    frame["y_true"] = np.asarray(labels, dtype=int)
    frame[PROBA_COLUMNS] = np.asarray(proba, dtype=float)
    return frame


def trial_summary(fold: int, combo: Combo | str, predictions: pd.DataFrame, records: dict,
                  sizing, config: dict, started: float, val: pd.DataFrame | None = None,
                  **extra) -> dict:  # fmt: skip
    """Everything about one trial, JSON-ready: ``test`` (and ``val``, the inner-validation rows,
    when given) hold image-set and assessment metrics."""
    stages = [*records.get("pretrain", {}).values(), *records.get("stages", [])]
    scores = {"test": score_predictions(predictions)}
    if val is not None:
        scores["val"] = score_predictions(val)
    return {
        "fold": fold,
        "combo": combo if isinstance(combo, str) else combo_name(combo),
        **scores,
        "sizing": sizing.to_dict(),
        "verdicts": {s["stage"]: s["verdicts"] for s in stages},
        **records,
        "seconds": round(time.time() - started, 2),
        **extra,
        "config": config,
    }


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
