"""What a trial leaves behind: ``trial.json`` and ``predictions.parquet``.

Written the same way by the single-process runner and by Ray trials, so the search's
aggregation and the report read one format.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dfu.combos import Combo, combo_name
from dfu.metrics import PROBA_COLUMNS, score_predictions

TRIAL_FILE = "trial.json"
PREDICTIONS_FILE = "predictions.parquet"
MODEL_WEIGHTS_FILE = "model.weights.h5"  # the trained fusion model (rebuilt from config + combo)


def predictions_frame(fold: int, combo: Combo, ids: pd.DataFrame, labels: np.ndarray,
                      proba: np.ndarray) -> pd.DataFrame:  # fmt: skip
    """One row per test image set: ids, true class, probabilities."""
    frame = ids[["set_id", "assessment_id", "patient"]].reset_index(drop=True).copy()
    frame.insert(0, "combo", combo_name(combo))
    frame.insert(0, "fold", fold)
    frame["y_true"] = np.asarray(labels, dtype=int)
    frame[PROBA_COLUMNS] = np.asarray(proba, dtype=float)
    return frame


def trial_summary(fold: int, combo: Combo, predictions: pd.DataFrame, records: dict, sizing,
                  config: dict, started: float, **extra) -> dict:  # fmt: skip
    """Everything about one trial, JSON-ready; ``test`` holds image-set and assessment metrics."""
    stages = [*records.get("pretrain", {}).values(), *records.get("stages", [])]
    return {
        "fold": fold,
        "combo": combo_name(combo),
        "test": score_predictions(predictions),
        "sizing": sizing.to_dict(),
        "verdicts": {s["stage"]: s["verdicts"] for s in stages},
        **records,
        "seconds": round(time.time() - started, 2),
        **extra,
        "config": config,
    }


def write_trial(out: str | Path, summary: dict, predictions: pd.DataFrame, model=None) -> Path:
    """trial.json, predictions.parquet and, for image combinations, the model's weights."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if model is not None:
        model.save_weights(str(out / MODEL_WEIGHTS_FILE))
    predictions.to_parquet(out / PREDICTIONS_FILE, index=False)
    (out / TRIAL_FILE).write_text(json.dumps(summary, indent=2, default=_jsonable))
    return out


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
