"""Everything a report reads from a run directory, in one object; reading only.

The run's own config says which folds and combinations belong to it (a resumed run may
leave other trials on disk); ``dfu.evaluation.results`` turns the trial.json files into
results and summary tables; the ensemble (``dfu.evaluation.ensemble``, computed here in
memory; the run's publisher writes its files) is added as one more combination, and so is the
linear baseline ``linear(m)`` of every image modality m the run uses (when the search wrote
one): rows of the tables, but never candidates for selection nor ensemble members.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dfu.combos import baseline_name, combo_name, is_baseline, parse_combinations, parse_combo
from dfu.config import Config, load_config
from dfu.constants import IMAGE_MODALITIES
from dfu.cv.folds import load_manifest
from dfu.evaluation.ensemble import ENSEMBLE, fold_ensembles
from dfu.evaluation.results import (
    NO_STAGES,
    VERDICT_SEVERITY,
    RunError,
    read_trials,
    summarise,
    trial_row,
)
from dfu.store.layout import PREDICTIONS_FILE, TRIAL_FILE, RunLayout
from dfu.store.records import read_json


@dataclass
class RunData:
    layout: RunLayout
    cfg: Config
    folds: list[int]
    trials: dict[tuple[int, str], dict]  # (fold, combination) -> trial.json
    predictions: dict[str, pd.DataFrame]  # combination -> test image-set rows of all its folds
    results: pd.DataFrame  # one row per fold x combination (dfu.evaluation.results), the
    # ensemble included
    summary: pd.DataFrame  # one row per combination, best first
    data_summary: dict | None = None
    manifest: pd.DataFrame | None = None
    ensemble_members: list[str] = field(default_factory=list)
    # The ensemble per fold in the trial format (trial.json dict, predictions); the run's
    # publisher writes them to its folders.
    ensemble: list[tuple[dict, pd.DataFrame]] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)  # configured combinations (selection)

    @property
    def combos(self) -> list[str]:
        """Combination names (ensemble and linear baselines included), best first."""
        return self.summary["combo"].tolist()

    @property
    def baselines(self) -> list[str]:
        """Linear baselines with at least one finished fold, in modality order."""
        return [
            b for b in map(baseline_name, run_modalities(self.candidates)) if b in self.predictions
        ]

    def baseline_records(self, name: str) -> list[dict]:
        """The ``baseline`` block (C, image_size, downscaled) of each finished fold."""
        return [t.get("baseline", {}) for (_, c), t in sorted(self.trials.items()) if c == name]


def load_run(run_dir: str | Path) -> RunData:
    """Read a run, its ensemble computed in memory; ``RunError`` if nothing finished."""
    layout = RunLayout(Path(run_dir).expanduser().resolve())
    if not layout.config.exists():
        raise RunError(f"{layout.root}: not a run directory (no config.yaml)")
    cfg = load_config(layout.config)
    folds = cfg.outer_folds()
    names = [combo_name(c) for c in parse_combinations(cfg.search.combinations)]
    results = read_trials(layout, folds, [*names, *map(baseline_name, run_modalities(names))])
    if results[~results["combo"].map(is_baseline)].empty:
        raise RunError(f"{layout.root}: no finished trial (trials/fold*/*/trial.json)")
    trials = {
        (k, c): read_json(layout.trial(k, c) / TRIAL_FILE)
        for k, c in zip(results["fold"], results["combo"], strict=True)
    }
    predictions = {c: _pooled(layout, folds, c) for c in results["combo"].unique()}
    ensemble = fold_ensembles(layout, folds, names)
    if ensemble:
        results = _add_ensemble(ensemble, trials, predictions, results)
    return RunData(
        layout,
        cfg,
        folds,
        trials,
        predictions,
        results,
        summarise(results),
        data_summary=read_json(layout.data_summary),
        manifest=load_manifest(layout.folds) if layout.folds.exists() else None,
        ensemble_members=ensemble[0][0]["members"] if ensemble else [],
        ensemble=ensemble,
        candidates=[c for c in names if c in predictions],
    )


def _add_ensemble(
    ensemble: list, trials: dict, predictions: dict, results: pd.DataFrame
) -> pd.DataFrame:
    """The ensemble as one more combination: its trials and predictions added in place,
    results returned with its rows."""
    rows = []
    for summary, _ in ensemble:
        trials[(summary["fold"], summary["combo"])] = summary
        members = results[
            (results["fold"] == summary["fold"]) & results["combo"].isin(summary["members"])
        ]
        # No stage of its own: the ensemble is as healthy as its least healthy member.
        rows.append({**trial_row(summary), "verdict": worst(members["verdict"])})
    predictions[ENSEMBLE] = pd.concat([frame for _, frame in ensemble], ignore_index=True)
    return pd.concat([results, pd.DataFrame(rows)], ignore_index=True)


def worst(verdicts) -> str:
    """The most severe of results.csv verdicts, in dfu.evaluation.results' order (unknown = most severe)."""
    order = [*VERDICT_SEVERITY, NO_STAGES]
    return min(verdicts, key=lambda v: order.index(v) if v in order else -1, default=NO_STAGES)


def run_modalities(names: list[str]) -> list[str]:
    """The image modalities the combinations ``names`` use, in canonical order."""
    used = {m for name in names for m in parse_combo(name)}
    return [m for m in IMAGE_MODALITIES if m in used]


def _pooled(layout: RunLayout, folds: list[int], combo: str) -> pd.DataFrame:
    """The out-of-fold test predictions of a combination: every finished fold, concatenated."""
    paths = [layout.trial(k, combo) / PREDICTIONS_FILE for k in folds]
    return pd.concat([pd.read_parquet(p) for p in paths if p.exists()], ignore_index=True)


def stage_records(data: RunData) -> list[dict]:
    """Every training stage of the run, one dict each with ``combo``, ``fold`` and the
    StageRecord fields. A (fold, modality) pre-training is shared by every combination
    containing that modality, so it is listed once, under ``pre-training``."""
    records, seen = [], set()
    for (fold, combo), summary in sorted(data.trials.items()):
        for modality, record in summary.get("pretrain", {}).items():
            if (fold, modality) not in seen:
                seen.add((fold, modality))
                records.append({**record, "combo": f"pre-training {modality}", "fold": fold})
        records += [{**r, "combo": combo, "fold": fold} for r in summary.get("stages", [])]
    return records


def fold_sizes(data: RunData) -> pd.DataFrame:
    """Per fold: test patients and assessments, image sets per part, training classes, batch."""
    rows = []
    for fold in data.folds:
        trial = next((s for (k, _), s in sorted(data.trials.items()) if k == fold), None)
        if trial is None:
            continue
        sizing = trial["sizing"]
        test = next(p for p in data.predictions.values() if (p["fold"] == fold).any())
        test = test[test["fold"] == fold]
        rows.append(
            {
                "fold": fold,
                "test_patients": test["patient"].nunique(),
                "test_assessments": test["assessment_id"].nunique(),
                **{f"{part}_image_sets": n for part, n in sizing["rows"].items()},
                "train_classes": sizing["class_counts"],
                "batch_size": sizing["batch_size"],
                "steps_per_epoch": sizing["steps"]["train"],
            }
        )
    return pd.DataFrame(rows)
