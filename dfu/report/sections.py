"""The summary and ranking sections of report.html; each returns an HTML string.
Comparisons, image sets and confusion matrices: ``dfu.report.comparisons``; selection:
``dfu.report.selection``; linear baselines: ``dfu.report.baselines``; data, files and config:
``dfu.report.context``; training: ``dfu.report.training``."""

from __future__ import annotations

from dfu.combos import baseline_name, is_baseline
from dfu.constants import CLASSES
from dfu.evaluation.ensemble import ENSEMBLE
from dfu.evaluation.results import NO_STAGES
from dfu.report import baselines as baselines
from dfu.report import selection as selection
from dfu.report.data import RunData
from dfu.report.html import (
    combo_cell,
    esc,
    image,
    kappa_words,
    nowrap,
    number,
    percent,
    plain_name,
    table,
    with_ci,
)
from dfu.report.plots import kappa_chart
from dfu.report.stats import REFERENCE, Analysis, CombinationStats

RANKING_TITLE = "Ranking by test κ (best-of-N: optimistic)"
LEAD_SENTENCES = 2  # the score of choosing, and what was chosen; the rest are bullets


# --- what this says -----------------------------------------------------------------------


def headline(analysis: Analysis, flagged: int, stages: int) -> tuple[str, str]:
    """(plain text, HTML) of the summary at the top: the lead, then bullets."""
    lead = (
        selection.lead(analysis)
        if analysis.selection
        else [_best_sentence(analysis.best, analysis.level)]
    )
    sentences = [
        *lead,
        *baselines.sentences(analysis),
        *_health_sentence(flagged, stages),
        *_oracle_sentence(analysis.best),
    ]
    first = " ".join(sentences[:LEAD_SENTENCES])
    bullets = "".join(f"<li>{esc(s)}</li>" for s in sentences[LEAD_SENTENCES:])
    return " ".join(sentences), f"<p>{esc(first)}</p><ul>{bullets}</ul>"


def _best_sentence(best: CombinationStats, level: str) -> str:
    """Only when nothing could be chosen on inner validation (no configured combination)."""
    k = best.assessment["kappa"]
    return (
        f"The top-ranked combination is {plain_name(best.name)} ({best.name}): Cohen's kappa "
        f"{number(k.value)} ({level} confidence interval {number(k.low)} to {number(k.high)}; "
        f"{kappa_words(k.value)} agreement) on {best.assessments} assessments."
    )


def _health_sentence(flagged: int, stages: int) -> list[str]:
    if flagged:
        return [
            f"{flagged} of {stages} training stages were flagged as unhealthy; see Training "
            "health before trusting the affected rows."
        ]
    return [f"All {stages} training stages passed the health checks."] if stages else []


def _oracle_sentence(best: CombinationStats) -> list[str]:
    if best.oracle_fraction is None:
        return []
    return [
        f"The top-ranked combination, {plain_name(best.name)} ({best.name}), reaches "
        f"{percent(best.oracle_fraction)} of the kappa the best achievable model (the demo's "
        "oracle) reaches on the same assessments."
    ]


# --- ranking and comparisons --------------------------------------------------------------


def shown(analysis: Analysis) -> list[CombinationStats]:
    """Rows in display order: ranked combinations, each network on one image modality
    followed by that modality's linear baseline (baselines without one at the end)."""
    rows, placed = [], set()
    for c in analysis.combos:
        rows.append(c)
        linear = analysis.by_name.get(baseline_name(c.name))
        if linear is not None:
            rows.append(linear)
            placed.add(linear.name)
    return rows + [b for b in analysis.baselines if b.name not in placed]


def ranking(analysis: Analysis, data: RunData) -> str:
    oracle = analysis.oracle
    headers = [
        "Rank",
        "Combination (what the model sees)",
        "Assessments scored",
        f"Agreement with clinicians: Cohen's κ [{analysis.ci}]",
        f"Agreement allowing for near misses: weighted κ (QWK) [{analysis.ci}]",
        f"Accuracy [{analysis.ci}]",
        f"Balanced F1 (macro) [{analysis.ci}]",
        "F1 per phase " + " / ".join(CLASSES),
        "κ per fold: mean ± sd",
        "Training health (worst verdict)",
    ]
    if oracle:
        headers += ["Share of best achievable κ (oracle)"]
    rows = [_ranking_row(c, data, oracle) for c in shown(analysis)]
    classes = [row_class(c, analysis) for c in shown(analysis)]
    return table(headers, rows, classes, text_columns=2, table_id="ranking-table")


def _ranking_row(c: CombinationStats, data: RunData, oracle: bool) -> list[str]:
    a, linear = c.assessment, is_baseline(c.name)
    row = [
        str(c.rank) if not linear else "–",
        _name_cell(c, data),
        f"{c.assessments}<br><span class='ci'>{c.patients} patients</span>",
        est(a["kappa"]),
        est(a["qwk"]),
        est(a["accuracy"]),
        est(a["f1_macro"]),
        nowrap(" / ".join(number(a[f"f1_{k}"].value) for k in CLASSES)),
        nowrap(f"{number(c.fold_mean['kappa'])} ± {number(c.fold_sd['kappa'])}")
        + f"<br><span class='ci'>({c.folds} folds)</span>",
        "linear baseline" if linear else _verdict(c.verdict),
    ]
    return [*row, _oracle_cell(c)] if oracle else row


def _name_cell(c: CombinationStats, data: RunData) -> str:
    if not is_baseline(c.name):
        return combo_cell(c.name)
    note = baselines.input_note(data, c.name)
    return (
        combo_cell(c.name)
        + "<br><span class='tag'>linear baseline, not a candidate</span>"
        + (f" <span class='ci'>{esc(note)}</span>" if note else "")
    )


def _verdict(verdict: str) -> str:
    if verdict == NO_STAGES:
        return "none trained"
    return esc(verdict) if verdict == "ok" else f"<span class='bad'>{esc(verdict)}</span>"


def est(e) -> str:
    return with_ci(e.value, e.low, e.high)


def _oracle_cell(c: CombinationStats) -> str:
    if c.oracle_kappa is None:
        return "–"
    return f"{percent(c.oracle_fraction)} <span class='ci'>(oracle κ {c.oracle_kappa:.2f})</span>"


def row_class(c: CombinationStats, analysis: Analysis) -> str:
    if is_baseline(c.name):
        return "baseline"
    if c.rank == 1:
        return "best"
    return "reference" if c.name == REFERENCE else ""


def ranking_notes(analysis: Analysis) -> str:
    n = len(analysis.combos)
    notes = [
        f"<b>Best-of-N:</b> {esc(selection.BIAS_NOTE)} The top row here is the best of {n} "
        "test scores, so it is optimistic; the headline instead scores choosing on inner "
        "validation (see the next section).",
        "Scores are at the assessment level (one visit, one ulcer): the probabilities of its "
        "image sets are averaged, as a clinician would get one answer per visit.",
        "Each assessment is scored once, by the model of the fold that held its patient out "
        "(pooled out-of-fold predictions); 'Assessments scored' says how many a row was scored "
        f"on. The {analysis.level} intervals come from {analysis.n_boot} bootstrap resamples of patients "
        "(all assessments of a patient together, because visits of one patient are not "
        "independent).",
        "Ranked by κ averaged over folds (the column 'κ per fold'), the figure the search "
        "reports; the pooled κ and its interval describe the same models on all patients.",
        "κ (Cohen's kappa) measures agreement beyond chance: 0 = chance, 0.2-0.4 fair, "
        "0.4-0.6 moderate, 0.6-0.8 substantial, above 0.8 almost perfect. Weighted κ counts "
        "I-vs-R errors as worse than neighbouring-phase errors.",
    ]
    if analysis.baselines:
        notes.append(
            "Greyed rows: the linear baseline of an image modality (a logistic "
            "regression on its pixels), shown beneath the network on that modality "
            "alone; not ranked, never chosen, not in the ensemble."
        )
    if ENSEMBLE in analysis.by_name:
        notes.append(
            f"<b>{esc(plain_name(ENSEMBLE))}</b> ({esc(ENSEMBLE)}): the equal-weight "
            "average of the probabilities of every combination containing clinical "
            "data, fixed before looking at any test fold."
        )
    if analysis.oracle:
        notes.append(
            "Oracle: the demo data's Bayes-optimal prediction from exactly what the "
            "combination sees; no model can be expected to beat it."
        )
    return "<ul class='note'>" + "".join(f"<li>{n}</li>" for n in notes) + "</ul>"


def kappa_figure(analysis: Analysis) -> str:
    bars = [
        {
            "label": plain_name(c.name),
            "value": c.assessment["kappa"].value,
            "low": c.assessment["kappa"].low,
            "high": c.assessment["kappa"].high,
            "folds": c.fold_kappas,
            "oracle": c.oracle_kappa,
            "role": "best" if c.rank == 1 else ("reference" if c.name == REFERENCE else ""),
        }
        for c in shown(analysis)
    ]
    return image(kappa_chart(bars), f"kappa of every combination with {analysis.level} intervals")
