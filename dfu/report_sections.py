"""The results sections of report.html (summary, ranking, comparisons, image sets, confusion);
each returns an HTML string. Selection: ``dfu.report_selection``; linear baselines:
``dfu.report_baselines``; data, files and config: ``dfu.report_context``; training:
``dfu.report_training``."""

from __future__ import annotations

from dfu import report_baselines as baselines
from dfu import report_selection as selection
from dfu.combos import baseline_name, is_baseline
from dfu.config import CLASSES
from dfu.ensemble import ENSEMBLE
from dfu.report_data import RunData
from dfu.report_html import (
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
from dfu.report_plots import confusion_grid, kappa_chart
from dfu.report_stats import REFERENCE, Analysis, CombinationStats
from dfu.results import NO_STAGES

RANKING_TITLE = "Ranking by test κ (best-of-N: optimistic)"
LEAD_SENTENCES = 2  # the score of choosing, and what was chosen; the rest are bullets


# --- what this says -----------------------------------------------------------------------


def headline(analysis: Analysis, flagged: int, stages: int) -> tuple[str, str]:
    """(plain text, HTML) of the summary at the top: the lead, then bullets."""
    lead = selection.lead(analysis) if analysis.selection else [_best_sentence(analysis.best)]
    sentences = [
        *lead,
        *baselines.sentences(analysis),
        *_health_sentence(flagged, stages),
        *_oracle_sentence(analysis.best),
    ]
    first = " ".join(sentences[:LEAD_SENTENCES])
    bullets = "".join(f"<li>{esc(s)}</li>" for s in sentences[LEAD_SENTENCES:])
    return " ".join(sentences), f"<p>{esc(first)}</p><ul>{bullets}</ul>"


def _best_sentence(best: CombinationStats) -> str:
    """Only when nothing could be chosen on inner validation (no configured combination)."""
    k = best.assessment["kappa"]
    return (
        f"The top-ranked combination is {plain_name(best.name)} ({best.name}): Cohen's kappa "
        f"{number(k.value)} (95% confidence interval {number(k.low)} to {number(k.high)}; "
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
    headers = ["Rank", "Combination (what the model sees)", "Assessments scored",
               "Agreement with clinicians: Cohen's κ [95% CI]",
               "Agreement allowing for near misses: weighted κ (QWK) [95% CI]",
               "Accuracy [95% CI]", "Balanced F1 (macro) [95% CI]",
               "F1 per phase " + " / ".join(CLASSES), "κ per fold: mean ± sd",
               "Training health (worst verdict)"]  # fmt: skip
    if oracle:
        headers += ["Share of best achievable κ (oracle)"]
    rows = [_ranking_row(c, data, oracle) for c in shown(analysis)]
    classes = [_row_class(c, analysis) for c in shown(analysis)]
    return table(headers, rows, classes, text_columns=2, table_id="ranking-table")


def _ranking_row(c: CombinationStats, data: RunData, oracle: bool) -> list[str]:
    a, linear = c.assessment, is_baseline(c.name)
    row = [str(c.rank) if not linear else "–", _name_cell(c, data),
           f"{c.assessments}<br><span class='ci'>{c.patients} patients</span>",
           _est(a["kappa"]), _est(a["qwk"]), _est(a["accuracy"]), _est(a["f1_macro"]),
           nowrap(" / ".join(number(a[f"f1_{k}"].value) for k in CLASSES)),
           nowrap(f"{number(c.fold_mean['kappa'])} ± {number(c.fold_sd['kappa'])}")
           + f"<br><span class='ci'>({c.folds} folds)</span>",
           "linear baseline" if linear else _verdict(c.verdict)]  # fmt: skip
    return [*row, _oracle_cell(c)] if oracle else row


def _name_cell(c: CombinationStats, data: RunData) -> str:
    if not is_baseline(c.name):
        return combo_cell(c.name)
    note = baselines.input_note(data, c.name)
    return (combo_cell(c.name) + "<br><span class='tag'>linear baseline, not a candidate</span>"
            + (f" <span class='ci'>{esc(note)}</span>" if note else ""))  # fmt: skip


def _verdict(verdict: str) -> str:
    if verdict == NO_STAGES:
        return "none trained"
    return esc(verdict) if verdict == "ok" else f"<span class='bad'>{esc(verdict)}</span>"


def _est(e) -> str:
    return with_ci(e.value, e.low, e.high)


def _oracle_cell(c: CombinationStats) -> str:
    if c.oracle_kappa is None:
        return "–"
    return f"{percent(c.oracle_fraction)} <span class='ci'>(oracle κ {c.oracle_kappa:.2f})</span>"


def _row_class(c: CombinationStats, analysis: Analysis) -> str:
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
        f"on. The 95% intervals come from {analysis.n_boot} bootstrap resamples of patients "
        "(all assessments of a patient together, because visits of one patient are not "
        "independent).",
        "Ranked by κ averaged over folds (the column 'κ per fold'), the figure the search "
        "reports; the pooled κ and its interval describe the same models on all patients.",
        "κ (Cohen's kappa) measures agreement beyond chance: 0 = chance, 0.2-0.4 fair, "
        "0.4-0.6 moderate, 0.6-0.8 substantial, above 0.8 almost perfect. Weighted κ counts "
        "I-vs-R errors as worse than neighbouring-phase errors.",
    ]
    if analysis.baselines:
        notes.append("Greyed rows: the linear baseline of an image modality (a logistic "
                     "regression on its pixels), shown beneath the network on that modality "
                     "alone; not ranked, never chosen, not in the ensemble.")  # fmt: skip
    if ENSEMBLE in analysis.by_name:
        notes.append(f"<b>{esc(plain_name(ENSEMBLE))}</b> ({esc(ENSEMBLE)}): the equal-weight "
                     "average of the probabilities of every combination containing clinical "
                     "data, fixed before looking at any test fold.")  # fmt: skip
    if analysis.oracle:
        notes.append("Oracle: the demo data's Bayes-optimal prediction from exactly what the "
                     "combination sees; no model can be expected to beat it.")  # fmt: skip
    return "<ul class='note'>" + "".join(f"<li>{n}</li>" for n in notes) + "</ul>"


def kappa_figure(analysis: Analysis) -> str:
    bars = [{"label": plain_name(c.name), "value": c.assessment["kappa"].value,
             "low": c.assessment["kappa"].low, "high": c.assessment["kappa"].high,
             "folds": c.fold_kappas, "oracle": c.oracle_kappa,
             "role": "best" if c.rank == 1 else ("reference" if c.name == REFERENCE else "")}
            for c in shown(analysis)]  # fmt: skip
    return image(kappa_chart(bars), "kappa of every combination with 95% intervals")


def comparisons(analysis: Analysis, data: RunData) -> str:
    best = plain_name(analysis.best.name)
    headers = ["Combination", "κ", f"Difference from the best ({esc(best)}) [95% CI]",
               "Resamples where it beats the best"]  # fmt: skip
    if analysis.reference is not None:
        headers += ["Difference from clinical data alone [95% CI]",
                    "Resamples where it beats clinical data alone"]  # fmt: skip
    rows = []
    for c in analysis.combos:
        row = [combo_cell(c.name), number(c.assessment["kappa"].value)]
        row += _difference(c.vs_best, c.rank == 1)
        if analysis.reference is not None:
            row += _difference(c.vs_reference, c.name == REFERENCE)
        rows.append(row)
    classes = [_row_class(c, analysis) for c in analysis.combos]
    note = ("<p class='note'>Each difference is this combination's κ minus the other's, on the "
            "assessments both scored (their number is under each difference), with the same "
            "patients resampled for both (a paired bootstrap). An interval that excludes 0 "
            "means the data support a real difference; the share of resamples says how often "
            "this combination came out ahead.</p>")  # fmt: skip
    return (table(headers, rows, classes, text_columns=1, table_id="comparison-table") + note
            + baselines.comparison(analysis, data))  # fmt: skip


def _difference(d, itself: bool) -> list[str]:
    if d is None or itself:
        return ["(itself)", ""]
    return [with_ci(d.value, d.low, d.high, sign=True)
            + f"<br><span class='ci'>on {d.n} assessments</span>", percent(d.above_zero)]  # fmt: skip


def image_set_table(analysis: Analysis) -> str:
    headers = ["Combination", "Image sets", "Cohen's κ [95% CI]", "Weighted κ (QWK) [95% CI]",
               "Accuracy [95% CI]", "Balanced F1 (macro) [95% CI]"]  # fmt: skip
    rows = [[combo_cell(c.name), str(c.image_sets), _est(c.image_set["kappa"]),
             _est(c.image_set["qwk"]), _est(c.image_set["accuracy"]),
             _est(c.image_set["f1_macro"])] for c in shown(analysis)]  # fmt: skip
    classes = [_row_class(c, analysis) for c in shown(analysis)]
    note = (
        "<p class='note'>The same models scored on every image set (one photo set of one "
        "ulcer) instead of every assessment. Intervals again resample patients.</p>"
    )
    return table(headers, rows, classes, text_columns=1, table_id="image-set-table") + note


def confusions(analysis: Analysis) -> str:
    items = [(f"{c.rank}. {plain_name(c.name)}" if c.rank else plain_name(c.name), c.confusion)
             for c in shown(analysis)]  # fmt: skip
    note = (
        "<p class='note'>Rows: the clinicians' phase; columns: the model's. Numbers are "
        "assessments (all folds pooled); the shading is the share of each true phase, so "
        "a dark diagonal is good. I = inflammatory, P = proliferative, R = remodelling.</p>"
    )
    return note + image(confusion_grid(items), "confusion matrices")
