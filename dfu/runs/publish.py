"""Publishing a run once its units are done: the ensemble's trial files, the results tables
and the report (``dfu.report``), then the bundle (``dfu.runs.bundle``).

The report's loader only reads; the ensemble it computes in memory is written here, to
``<run>/ensemble/fold{k}/`` in the trial format, so the run's files hold every row of its
results tables.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dfu.evaluation.ensemble import fold_ensembles
from dfu.evaluation.results import RunError
from dfu.report.data import load_run
from dfu.report.write import write_report
from dfu.runs import bundle
from dfu.store.layout import RunLayout
from dfu.store.records import write_trial


def publish(layout: RunLayout, write=print) -> list[str]:
    """The ensemble's files, results.csv and summary.csv (written once, before the report's
    page), the report, the bundle.

    Each step that fails is reported and returned, the others still run: the search then
    exits non-zero, and a rerun redoes them (finished units are not redone).
    """
    try:
        data = load_run(layout.root)
    except RunError as err:
        return [f"results: {err}"]
    write_ensemble_files(layout, data.ensemble)
    errors = []
    steps = (
        ("report", lambda: write_report(layout.root, data=data)),
        ("bundle", lambda: bundle.save_bundle(layout.root)),
    )
    for label, step in steps:
        try:
            write(f"{label:<14} {step()}")
        except Exception as err:  # noqa: BLE001 - reported and returned: the exit code says so
            errors.append(f"{label}: {type(err).__name__}: {err}")
            write(f"FAILED {errors[-1]}")
    return errors


def report_run(run_dir: str | Path, n_boot: int | None = None, seed: int | None = None):
    """The report of a run again (``jobs.report``), with the ensemble's files, as ``publish``
    writes them; returns the run's layout. ``n_boot`` / ``seed`` override its config's."""
    data = load_run(run_dir)
    write_ensemble_files(data.layout, data.ensemble)
    write_report(run_dir, n_boot, seed, data=data)
    return data.layout


def write_ensemble(layout: RunLayout, folds, combos) -> list[tuple[dict, pd.DataFrame]]:
    """The ensemble of ``combos`` (the run's combination names) in ``folds``, computed from the
    members' files (``dfu.evaluation.ensemble.fold_ensembles``) and written beside them."""
    ensemble = fold_ensembles(layout, folds, combos)
    write_ensemble_files(layout, ensemble)
    return ensemble


def write_ensemble_files(layout: RunLayout, ensemble: list[tuple[dict, pd.DataFrame]]) -> None:
    """Each fold's (trial.json dict, predictions) of the ensemble, in the trial format."""
    for summary, predictions in ensemble:
        write_trial(layout.ensemble(summary["fold"]), summary, predictions)
