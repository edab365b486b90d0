"""The ensemble: the plain average of the probabilities of every combination with metadata.

Fixed in advance, so it is as honest as any single combination: its members are *all*
the run's combinations that contain metadata (image-only ones and the linear baselines
never), each with the same weight, and it is made in the folds where every member finished.
Nothing is chosen by looking at an outer test fold: not the members, not the weights; the
average reads only the members' probabilities, never a test label (``y_true`` is carried
along for scoring, like any trial's predictions). It is scored per fold like a combination
and named ``ensemble(metadata+*)`` in results and the report. Computed here from the members'
files, in memory; the run's publisher (``dfu.runs.publish``) writes it to
``<run>/ensemble/fold{k}/`` (trial.json + predictions.parquet, the trial format).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dfu.combos import has_metadata, is_baseline, parse_combo
from dfu.constants import PROBA_COLUMNS
from dfu.evaluation.metrics import score_predictions
from dfu.store.layout import RunLayout
from dfu.store.records import predictions_frame, read_trial

ENSEMBLE = "ensemble(metadata+*)"
MIN_MEMBERS = 2  # an "ensemble" of one combination is that combination


def ensemble_members(combos) -> list[str]:
    """The metadata-containing combinations among ``combos`` (names), in the given order;
    never a linear baseline (``linear(m)``, a yardstick, not a combination)."""
    return [
        c for c in combos if c != ENSEMBLE and not is_baseline(c) and has_metadata(parse_combo(c))
    ]


def average_probabilities(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Equal-weight mean of the members' probabilities, row by row (image sets, by set_id).

    Every member must hold the same image sets; the ids and ``y_true`` of the first are kept.
    """
    first = frames[0].set_index("set_id")
    proba = np.zeros((len(first), len(PROBA_COLUMNS)))
    for frame in frames:
        rows = frame.set_index("set_id")
        if len(rows) != len(first) or not rows.index.sort_values().equals(
            first.index.sort_values()
        ):
            raise ValueError(
                f"{frame['combo'].iloc[0]}: not the same test image sets as "
                f"{frames[0]['combo'].iloc[0]}"
            )
        proba += rows.loc[first.index, PROBA_COLUMNS].to_numpy(dtype=float)
    out = first.reset_index()[["set_id", "assessment_id", "patient", "y_true"]]
    out[PROBA_COLUMNS] = proba / len(frames)
    return out


def fold_ensemble(
    fold: int, members: dict[str, tuple[dict, pd.DataFrame]]
) -> tuple[dict, pd.DataFrame]:
    """(trial.json dict, predictions) of the ensemble in one fold, from its members'
    (trial.json dict, predictions) keyed by combination name."""
    names = list(members)
    mean = average_probabilities([members[m][1] for m in names])
    predictions = predictions_frame(
        fold, (ENSEMBLE,), mean, mean["y_true"].to_numpy(), mean[PROBA_COLUMNS].to_numpy()
    )
    first = members[names[0]][0]
    summary = {
        "fold": fold,
        "combo": ENSEMBLE,
        "test": score_predictions(predictions),
        "sizing": first["sizing"],  # one sizing per fold, shared by all its trials
        "members": names,
        "weights": [1 / len(names)] * len(names),
        "verdicts": {},
        # The ensemble costs its members' training and nothing more.
        "seconds": round(sum(members[m][0]["seconds"] for m in names), 2),
        "config": first.get("config", {}),
    }
    return summary, predictions


def fold_ensembles(layout: RunLayout, folds, combos) -> list[tuple[dict, pd.DataFrame]]:
    """The ensemble's (trial.json dict, predictions) per fold, read from its members' files.

    ``combos``: the run's combination names. Members: every one with metadata that finished
    in at least one of ``folds``; the ensemble is made in the folds where all of them
    finished. Fewer than two members: no ensemble, returns [].
    """
    names = ensemble_members(combos)
    done = {(k, c): read_trial(layout.trial(k, parse_combo(c))) for k in folds for c in names}
    members = [c for c in names if any(done[(k, c)] for k in folds)]
    if len(members) < MIN_MEMBERS:
        return []
    complete = [k for k in folds if all(done[(k, c)] for c in members)]
    return [fold_ensemble(k, {c: done[(k, c)] for c in members}) for k in complete]
