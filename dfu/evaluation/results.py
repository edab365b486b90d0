"""A search's results: the trial record (``trial_summary``, each trial's ``trial.json``) and
the tables made of them, one row per fold x combination, then per combination over folds.

Pure pandas over the ``trial.json`` files that every trial writes (``dfu.store.records``), so
the Ray engine, the single-process runner and the report read one format.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import pandas as pd

from dfu.combos import Combo, combo_name
from dfu.constants import CLASSES
from dfu.evaluation.metrics import score_predictions
from dfu.store.layout import TRIAL_FILE, RunLayout
from dfu.store.records import read_json

# Assessment-level metrics (the unit the clinic decides on), then image-set-level ones.
METRICS = ["kappa", "qwk", "accuracy", "f1_macro", "f1_weighted", *(f"f1_{c}" for c in CLASSES)]
SET_METRICS = ["set_kappa", "set_qwk"]
# Worst first: a collapsed model predicts one class, whatever else is true of it.
# below-baseline: a pre-trained image branch whose inner-val kappa is below its modality's
# linear baseline's (the network learned less than a linear model on the same pixels).
VERDICT_SEVERITY = ("collapsed", "no-learning", "below-baseline", "overfit", "ok")
NO_STAGES = "-"  # metadata only: no Keras stage was trained, so there is nothing to judge
# Linear baselines: trials/fold{k}/linear(<modality>)/, same trial format, never a candidate.


class RunError(ValueError):
    """A run folder cannot give what was asked of it (not a run, nothing finished yet):
    the user points a job at another folder or waits for the search."""


def trial_summary(
    fold: int,
    combo: Combo | str,
    test: pd.DataFrame,
    records: dict,
    *,
    sizing,
    config: dict,
    started: float,
    val: pd.DataFrame | None = None,
    **extra,
) -> dict:
    """Everything about one trial, JSON-ready (its ``trial.json``): ``test`` (and ``val``, the
    inner-validation rows, when given) hold image-set and assessment metrics of the predictions
    (``dfu.store.records.predictions_frame``); ``records`` the stages' records."""
    stages = [*records.get("pretrain", {}).values(), *records.get("stages", [])]
    scores = {"test": score_predictions(test)}
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


def trial_row(summary: dict) -> dict:
    """One results.csv row from a trial.json dict."""
    assessment, image_set = summary["test"]["assessment"], summary["test"]["image_set"]
    sizing = summary["sizing"]
    return {
        "fold": summary["fold"],
        "combo": summary["combo"],
        **{m: assessment[m] for m in METRICS},
        "set_kappa": image_set["kappa"],
        "set_qwk": image_set["qwk"],
        "val_kappa": val_kappa(summary),
        "assessments": assessment.get("n"),
        "verdict": worst_verdict(summary),
        "seconds": summary["seconds"],
        "batch_size": sizing["batch_size"],
        "steps_per_epoch": sizing["steps"]["train"],
    }


def val_kappa(summary: dict) -> float:
    """Inner-validation assessment kappa of the trial's final model (NaN if not recorded)."""
    value = summary.get("val", {}).get("assessment", {}).get("kappa")
    return float("nan") if value is None else float(value)


def worst_verdict(summary: dict) -> str:
    """Most severe verdict over the stages that shaped the final model.

    A stage 2 that was reverted (``kept`` false) did not, so its verdicts are left out.
    """
    stages = [*summary.get("pretrain", {}).values(), *summary.get("stages", [])]
    verdicts = [v for s in stages if s.get("kept", True) for v in s["verdicts"]]
    if not verdicts:
        return NO_STAGES
    return min(verdicts, key=_severity)


def _severity(verdict: str) -> int:
    # An unknown verdict sorts as the most severe: better shown than hidden.
    return VERDICT_SEVERITY.index(verdict) if verdict in VERDICT_SEVERITY else -1


def read_trials(
    layout: RunLayout, folds: Iterable[int] | None = None, combos: Iterable[str] | None = None
) -> pd.DataFrame:
    """results.csv rows of the finished trials under a run, optionally only some folds/combos."""
    folds = None if folds is None else set(folds)
    combos = None if combos is None else set(combos)
    rows = []
    for folder in layout.trial_dirs():
        summary = read_json(folder / TRIAL_FILE)
        if summary is None:  # cut short by an interruption: not a finished trial
            continue
        if (folds is None or summary["fold"] in folds) and (
            combos is None or summary["combo"] in combos
        ):
            rows.append(trial_row(summary))
    columns = [
        "fold",
        "combo",
        *METRICS,
        *SET_METRICS,
        "val_kappa",
        "assessments",
        "verdict",
        "seconds",
        "batch_size",
        "steps_per_epoch",
    ]
    return pd.DataFrame(rows, columns=columns).sort_values(["combo", "fold"], ignore_index=True)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Per combination: folds, mean and sd over folds of every metric, worst verdict, ranked by kappa."""
    numeric = [*METRICS, *SET_METRICS, "seconds"]
    groups = results.groupby("combo")
    stats = groups[numeric].agg(["mean", "std"])
    stats.columns = [
        f"{metric}_{'sd' if stat == 'std' else stat}" for metric, stat in stats.columns
    ]
    stats.insert(0, "folds", groups.size())
    stats["verdict"] = groups["verdict"].agg(lambda v: min(v, key=_severity_or_none))
    return stats.sort_values("kappa_mean", ascending=False).reset_index()


def _severity_or_none(verdict: str) -> int:
    return len(VERDICT_SEVERITY) if verdict == NO_STAGES else _severity(verdict)


def ranked_table(summary: pd.DataFrame) -> str:
    """The summary as a short text table, best combination first."""
    view = pd.DataFrame(
        {
            "combo": summary["combo"],
            "folds": summary["folds"],
            "kappa": [
                _mean_sd(m, s)
                for m, s in zip(summary["kappa_mean"], summary["kappa_sd"], strict=True)
            ],
            "qwk": summary["qwk_mean"].round(3),
            "f1_macro": summary["f1_macro_mean"].round(3),
            "set_kappa": summary["set_kappa_mean"].round(3),
            "verdict": summary["verdict"],
            "seconds": summary["seconds_mean"].round(0).astype(int),
        }
    )
    view.index = range(1, len(view) + 1)
    return view.to_string()


def _mean_sd(mean: float, sd: float) -> str:
    return f"{mean:.3f}" if pd.isna(sd) else f"{mean:.3f} ± {sd:.3f}"
