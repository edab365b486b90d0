"""The report of a run: ``report.html`` (one self-contained file) and ``summary.json``.

``write_report(run_dir)`` reads the trial files of a run (``dfu.report.data``), adds the
ensemble (``dfu.evaluation.ensemble``) and the linear baselines, rewrites results.csv /
summary.csv with them, computes patient-bootstrap intervals and paired comparisons
(``dfu.report.stats``; resamples, seed and level from the run's ``report`` config), and
writes the page (``sections``, ``selection``, ``baselines``, ``context``, ``training``, figures
from ``plots``, building blocks from ``html``) and every number on it as JSON. The headline is
the score of choosing a combination on inner validation (``dfu.evaluation.selection``), not
the top of the ranking. The run's publisher (``dfu.runs.publish``) calls it at the end of a
search, and for ``python -m jobs.report RUN_DIR``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from dfu.combos import is_baseline
from dfu.evaluation.bootstrap import finite_or_none
from dfu.report import baselines as baselines
from dfu.report import comparisons as comparisons
from dfu.report import context as context
from dfu.report import sections as sections
from dfu.report import selection as selection
from dfu.report import training as training
from dfu.report.data import RunData, load_run
from dfu.report.html import esc, page, plain_name, section
from dfu.report.stats import REFERENCE, Analysis, analyse
from dfu.store.records import atomic

# The page's sections in order: (anchor, link text of the navigation bar).
NAV = [
    ("summary", "Summary"),
    ("selection", "Selection"),
    ("ranking", "Ranking"),
    ("comparisons", "Comparisons"),
    ("confusion", "Confusion"),
    ("image-sets", "Image sets"),
    ("health", "Health"),
    ("curves", "Curves"),
    ("data", "Data"),
    ("further", "TensorBoard"),
    ("config", "Config"),
]


def write_tables(data: RunData) -> Path:
    """results.csv (fold x combination, the ensemble and the baselines included) and
    summary.csv (per combination over folds): the one place that writes them."""
    with atomic(data.layout.results) as tmp:
        data.results.to_csv(tmp, index=False)
    with atomic(data.layout.summary) as tmp:
        data.summary.to_csv(tmp, index=False)
    return data.layout.results


def write_report(
    run_dir: str | Path,
    n_boot: int | None = None,
    seed: int | None = None,
    data: RunData | None = None,
) -> Path:
    """Write results.csv, summary.csv, report.html and summary.json into ``run_dir``; returns
    the report's path. ``n_boot`` / ``seed`` override the run's ``report.resamples`` /
    ``report.seed``.

    ``data``: the run as ``load_run`` read it, if the caller has it. Raises
    ``dfu.evaluation.results.RunError`` (a ValueError) when the directory is not a run or
    holds no finished trial.
    """
    data = data or load_run(run_dir)
    write_tables(data)  # first: saved even if the page below fails
    analysis = analyse(data, n_boot, seed)
    health_html, flagged, stages = training.health(data, analysis)
    text, lead = sections.headline(analysis, flagged, stages)
    layout = data.layout
    with atomic(layout.report) as tmp:
        tmp.write_text(_html(data, analysis, lead, health_html, flagged))
    summary = summary_json(data, analysis, text, flagged, stages)
    with atomic(layout.report_summary) as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    return layout.report


def _html(data: RunData, analysis: Analysis, lead: str, health_html: str, flagged: int) -> str:
    warn = " warn" if flagged or _not_better(analysis) else ""
    parts = [
        f"<section id='summary'><h2>What this says</h2><div class='takeaway{warn}'>{lead}</div>"
        "</section>",
        section(
            "selection",
            "The headline's score: choosing on inner validation",
            selection.section(analysis, data),
        ),
        section(
            "ranking",
            sections.RANKING_TITLE,
            sections.ranking(analysis, data),
            sections.ranking_notes(analysis),
            sections.kappa_figure(analysis),
        ),
        section(
            "comparisons",
            "Is a difference real? Paired comparisons",
            comparisons.comparisons(analysis, data),
        ),
        section(
            "confusion",
            "Where the models go wrong: confusion matrices",
            comparisons.confusions(analysis),
        ),
        section("image-sets", "Per image set", comparisons.image_set_table(analysis)),
        section("health", "Training health", health_html),
        section("curves", "Learning curves", training.curves(data, analysis)),
        section("data", "Data and folds", context.data_section(data)),
        section("further", "Looking further: TensorBoard and files", context.look_further(data)),
        section("config", "Configuration", context.configuration(data)),
    ]
    meta = (
        f"Run <code>{esc(data.layout.root)}</code> · {len(data.folds)} patient-grouped folds · "
        f"{len(analysis.combos)} combinations · {len(analysis.baselines)} linear baselines · "
        f"generated {time.strftime('%Y-%m-%d %H:%M')}"
    )
    return page("Healing-phase prediction: cross-validation report", meta, NAV, *parts)


def _not_better(analysis: Analysis) -> bool:
    """Warn: what was chosen does not beat clinical data, or a network not its baseline."""
    return selection.not_better(analysis) or baselines.not_beaten(analysis)


def summary_json(data: RunData, analysis: Analysis, text: str, flagged: int, stages: int) -> dict:
    """Every number of the report, machine-readable."""
    return {
        "run": str(data.layout.root),
        "headline": text,
        "best": analysis.best.name,
        "reference": REFERENCE if analysis.reference is not None else None,
        "selection": selection.selection_json(analysis),
        "bootstrap": {
            "unit": "patient",
            "resamples": analysis.n_boot,
            "seed": analysis.resampling.seed,
            "level": analysis.resampling.level,
            "over": "pooled out-of-fold test predictions",
        },
        "folds": data.folds,
        "ensemble_members": data.ensemble_members,
        "combinations": [_combination_json(c) for c in analysis.combos],
        "baselines": [_combination_json(c) for c in analysis.baselines],
        "network_vs_linear": baselines.baselines_json(analysis, data),
        "health": {"stages": stages, "flagged": flagged},
        # Counts only: the full skip list of a real dataset can run to thousands of rows.
        "data": {k: v for k, v in (data.data_summary or {}).items() if k != "skip_list"},
    }


def _combination_json(c) -> dict:
    return {
        "combo": c.name,
        "plain_name": plain_name(c.name),
        "rank": c.rank if not is_baseline(c.name) else None,
        "folds": c.folds,
        "assessments": c.assessments,
        "patients": c.patients,
        "image_sets": c.image_sets,
        "fold_mean": {k: finite_or_none(v) for k, v in c.fold_mean.items()},
        "fold_sd": {k: finite_or_none(v) for k, v in c.fold_sd.items()},
        "fold_kappas": c.fold_kappas,
        "verdict": c.verdict,
        "assessment": {k: e.to_dict() for k, e in c.assessment.items()},
        "image_set": {k: e.to_dict() for k, e in c.image_set.items()},
        "confusion": c.confusion,
        "vs_best": c.vs_best.to_dict() if c.vs_best else None,
        "vs_reference": c.vs_reference.to_dict() if c.vs_reference else None,
        "oracle_kappa": c.oracle_kappa,
        "oracle_fraction": c.oracle_fraction,
    }
