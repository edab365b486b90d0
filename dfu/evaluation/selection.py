"""Honest selection: the score of *choosing* a combination, not of the best one seen.

Ranking N combinations by their test kappa and quoting the top one overstates it: the
maximum of N noisy scores is high partly by luck (selection bias, "best-of-N"). A new study
would instead follow a procedure, and this module scores that procedure: in every outer
fold, choose the candidate whose *inner-validation* assessment kappa is highest, then score
what was chosen on that fold's *test* patients. Pooled over folds, each assessment is
scored once, by its fold's chosen model, and the choice never looked at a test label.

Inner-validation kappas of image combinations are optimistic (that split also chose their
early-stopping epoch, stage-2 keep-or-revert and fusion weights); those of clinical data
alone are not (the random forest never saw it). The choice is not corrected for this, and
need not be: the reported score is the chosen combination's *test* score, so a biased
choice can only pick a worse combination and lower it, never inflate it.

Pure pandas/numpy over a results table (``dfu.evaluation.results``: fold, combo, kappa, val_kappa) and
the trials' test predictions; ``dfu.report.stats`` adds the patient-bootstrap interval.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from dfu.evaluation.bootstrap import finite_or_none

TIE_DECIMALS = 9  # inner-val kappas equal to 9 decimals are a tie
RULE = (
    "per outer fold, the candidate with the highest inner-validation assessment kappa "
    "(ties: fewer modalities, then name; a fold where no trial recorded an inner-validation "
    "score takes the simplest candidate); scored on that fold's test patients"
)


@dataclass(frozen=True)
class FoldChoice:
    """What inner validation chose in one outer fold, and how it then did on test."""

    fold: int
    combo: str
    val_kappa: float  # NaN: the trial recorded no inner-validation score
    test_kappa: float
    candidates: int  # candidates with a finished trial in this fold

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(
            val_kappa=finite_or_none(self.val_kappa), test_kappa=finite_or_none(self.test_kappa)
        )
        return out


def modality_count(name: str) -> int:
    return len(name.split("+"))


def choose(results: pd.DataFrame, candidates: list[str]) -> list[FoldChoice]:
    """Per fold with a finished candidate: the one with the best inner-validation kappa."""
    rows = results[results["combo"].isin(candidates)]
    choices = []
    for fold, group in rows.groupby("fold", sort=True):
        best = min(group.itertuples(index=False), key=lambda r: _order(r.combo, r.val_kappa))
        choices.append(
            FoldChoice(int(fold), best.combo, float(best.val_kappa), float(best.kappa), len(group))
        )
    return choices


def _order(combo: str, val_kappa: float) -> tuple:
    """Sort key, best first: scored before unscored, higher kappa, fewer modalities, name."""
    scored = bool(np.isfinite(val_kappa))
    kappa = -round(float(val_kappa), TIE_DECIMALS) if scored else 0.0
    return (not scored, kappa, modality_count(combo), combo)


def chosen_predictions(
    choices: list[FoldChoice], predictions: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """The test image-set rows the procedure scores: each fold's rows of its chosen model."""
    frames = []
    for c in choices:
        frame = predictions[c.combo]
        frames.append(frame[frame["fold"] == c.fold])
    return pd.concat(frames, ignore_index=True)


def chosen_counts(choices: list[FoldChoice]) -> dict[str, int]:
    """Combination -> folds it was chosen in, most often first (then by name)."""
    counts = Counter(c.combo for c in choices)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def most_chosen(choices: list[FoldChoice], results: pd.DataFrame) -> str:
    """The combination chosen in most folds; ties: the better mean inner-val kappa over its
    folds, then fewer modalities, then name."""
    if not choices:
        raise ValueError("no fold has a finished candidate to choose from")
    counts = chosen_counts(choices)
    mean_val = results.groupby("combo")["val_kappa"].mean()

    def order(combo: str) -> tuple:
        return (-counts[combo], *_order(combo, mean_val.get(combo, np.nan)))

    return min(counts, key=order)


def unscored_folds(choices: list[FoldChoice]) -> list[int]:
    """Folds chosen without any inner-validation score (trial files of an older version)."""
    return [c.fold for c in choices if not np.isfinite(c.val_kappa)]
