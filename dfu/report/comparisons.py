"""The comparison sections of report.html: paired differences between combinations, scores
per image set, confusion matrices; each returns an HTML string (rows in the ranking's order,
``dfu.report.sections.shown``)."""

from __future__ import annotations

from dfu.report import baselines as baselines
from dfu.report.data import RunData
from dfu.report.html import combo_cell, esc, image, number, percent, plain_name, table, with_ci
from dfu.report.plots import confusion_grid
from dfu.report.sections import est, row_class, shown
from dfu.report.stats import REFERENCE, Analysis


def comparisons(analysis: Analysis, data: RunData) -> str:
    best = plain_name(analysis.best.name)
    headers = [
        "Combination",
        "κ",
        f"Difference from the best ({esc(best)}) [{analysis.ci}]",
        "Resamples where it beats the best",
    ]
    if analysis.reference is not None:
        headers += [
            f"Difference from clinical data alone [{analysis.ci}]",
            "Resamples where it beats clinical data alone",
        ]
    rows = []
    for c in analysis.combos:
        row = [combo_cell(c.name), number(c.assessment["kappa"].value)]
        row += _difference(c.vs_best, c.rank == 1)
        if analysis.reference is not None:
            row += _difference(c.vs_reference, c.name == REFERENCE)
        rows.append(row)
    classes = [row_class(c, analysis) for c in analysis.combos]
    note = (
        "<p class='note'>Each difference is this combination's κ minus the other's, on the "
        "assessments both scored (their number is under each difference), with the same "
        "patients resampled for both (a paired bootstrap). An interval that excludes 0 "
        "means the data support a real difference; the share of resamples says how often "
        "this combination came out ahead.</p>"
    )
    return (
        table(headers, rows, classes, text_columns=1, table_id="comparison-table")
        + note
        + baselines.comparison(analysis, data)
    )


def _difference(d, itself: bool) -> list[str]:
    if d is None or itself:
        return ["(itself)", ""]
    return [
        with_ci(d.value, d.low, d.high, sign=True)
        + f"<br><span class='ci'>on {d.n} assessments</span>",
        percent(d.above_zero),
    ]


def image_set_table(analysis: Analysis) -> str:
    headers = [
        "Combination",
        "Image sets",
        f"Cohen's κ [{analysis.ci}]",
        f"Weighted κ (QWK) [{analysis.ci}]",
        f"Accuracy [{analysis.ci}]",
        f"Balanced F1 (macro) [{analysis.ci}]",
    ]
    rows = [
        [
            combo_cell(c.name),
            str(c.image_sets),
            est(c.image_set["kappa"]),
            est(c.image_set["qwk"]),
            est(c.image_set["accuracy"]),
            est(c.image_set["f1_macro"]),
        ]
        for c in shown(analysis)
    ]
    classes = [row_class(c, analysis) for c in shown(analysis)]
    note = (
        "<p class='note'>The same models scored on every image set (one photo set of one "
        "ulcer) instead of every assessment. Intervals again resample patients.</p>"
    )
    return table(headers, rows, classes, text_columns=1, table_id="image-set-table") + note


def confusions(analysis: Analysis) -> str:
    items = [
        (f"{c.rank}. {plain_name(c.name)}" if c.rank else plain_name(c.name), c.confusion)
        for c in shown(analysis)
    ]
    note = (
        "<p class='note'>Rows: the clinicians' phase; columns: the model's. Numbers are "
        "assessments (all folds pooled); the shading is the share of each true phase, so "
        "a dark diagonal is good. I = inflammatory, P = proliferative, R = remodelling.</p>"
    )
    return note + image(confusion_grid(items), "confusion matrices")
