"""What report.html says about choosing a combination: the headline's procedure (choose on
inner validation, score on the test fold; ``dfu.evaluation.selection``), its section and its JSON."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dfu.evaluation.bootstrap import finite_or_none
from dfu.evaluation.selection import RULE
from dfu.report.data import RunData
from dfu.report.html import (
    combo_cell,
    esc,
    kappa_words,
    named,
    number,
    percent,
    signed,
    table,
    with_ci,
)
from dfu.report.stats import REFERENCE, Analysis, SelectionStats

BIAS_NOTE = (
    "Choosing the maximum of N noisy test scores overstates it: with many combinations, one "
    "of them scores high partly by luck (selection bias)."
)
OPTIMISM_NOTE = (
    "Inner-validation κ of image combinations is optimistic: the same inner-validation "
    "patients chose their early-stopping epoch, whether to keep stage 2, and their fusion "
    "weights (clinical data alone is not: its random forest never saw them). The choice does "
    "not correct for this, and need not: the number reported is the chosen combination's "
    "test κ, which the choice never looked at, so a choice tilted towards image combinations "
    "can only pick a worse model and lower that number, never inflate it."
)


# --- the headline ------------------------------------------------------------------------


def lead(analysis: Analysis) -> list[str]:
    """The headline's first sentences: the procedure's score, what it chose, best-of-N, and
    the procedure against clinical data alone."""
    sel = analysis.selection
    return [
        _score_sentence(sel, analysis.level),
        _choice_sentence(sel),
        *_unscored_sentence(sel),
        *_best_of_n_sentence(sel),
        *_reference_sentence(sel, analysis),
    ]


def _score_sentence(sel: SelectionStats, level: str) -> str:
    k = sel.kappa
    return (
        "Choosing the combination on inner validation in each outer fold and scoring that "
        "choice on the fold's held-out patients, the predicted healing phase agrees with the "
        f"clinicians' phase with Cohen's kappa {number(k.value)} ({level} confidence interval "
        f"{number(k.low)} to {number(k.high)}; {kappa_words(k.value)} agreement; 0 = chance, "
        f"1 = perfect), on {sel.assessments} assessments of {sel.patients} patients, each "
        "predicted by a model that never saw that patient."
    )


def _choice_sentence(sel: SelectionStats) -> str:
    folds = len(sel.choices)
    counts = list(sel.counts.items())
    if len(sel.unscored) == folds:
        return (
            "No trial recorded an inner-validation score (trial files of an older "
            "version), so every fold took the candidate with the fewest modalities: "
            f"{named(counts[0][0])}."
        )
    if len(counts) == 1:
        every = "both outer folds" if folds == 2 else f"all {folds} outer folds"
        return f"Inner validation chose {named(counts[0][0])} in {every}."
    parts = [f"{named(name)} in {n} of {folds} folds" for name, n in counts]
    return "Inner validation chose " + ", ".join(parts[:-1]) + f" and {parts[-1]}."


def _unscored_sentence(sel: SelectionStats) -> list[str]:
    if not sel.unscored or len(sel.unscored) == len(sel.choices):
        return []
    folds = ", ".join(map(str, sel.unscored))
    return [
        f"In fold(s) {folds} no trial recorded an inner-validation score (trial files of "
        "an older version), so the candidate with the fewest modalities was taken."
    ]


def _best_of_n_sentence(sel: SelectionStats) -> list[str]:
    n = len(sel.candidates)
    if n < 2:
        return []
    k = sel.best_of_n.assessment["kappa"]
    return [
        f"The highest test kappa among the {n} combinations, {number(k.value)} for "
        f"{named(sel.best_of_n.name)}, is a best-of-{n} figure: the maximum of {n} noisy "
        "test scores overstates what that combination would reach on new patients."
    ]


def _reference_sentence(sel: SelectionStats, analysis: Analysis) -> list[str]:
    ref = analysis.reference
    if ref is None or sel.vs_reference is None:
        return []
    if set(sel.counts) == {REFERENCE}:
        if sel.unscored:  # chosen for being simplest, not on any score
            return []
        return [
            "Inner validation chose clinical data alone in every fold: no combination "
            "with images did better on the inner-validation patients."
        ]
    d = sel.vs_reference
    start = (
        f"Clinical data alone reached kappa {number(ref.assessment['kappa'].value)}; the chosen "
        f"models differ by {signed(d.value)} ({analysis.ci} {signed(d.low)} to {signed(d.high)}) on "
        f"the {d.n} assessments both scored, higher in {percent(d.above_zero)} of patient "
        "resamples,"
    )
    if d.low > 0:
        return [f"{start} so the chosen models do agree better than clinical data alone."]
    return [
        f"{start} so these data do not show that they do better than clinical data alone "
        "(the interval includes 0)."
    ]


def not_better(analysis: Analysis) -> bool:
    """The headline warns: what inner validation chose is not shown to beat clinical data."""
    sel = analysis.selection
    d = sel.vs_reference if sel else None
    return d is not None and set(sel.counts) != {REFERENCE} and d.low <= 0


# --- the section -------------------------------------------------------------------------


def section(analysis: Analysis, data: RunData) -> str:
    sel = analysis.selection
    if sel is None:
        return "<p>No configured combination finished a trial: nothing to choose from.</p>"
    intro = (
        "<p>The headline's score is that of a procedure, the one a new study would follow: "
        f"<b>{esc(RULE)}</b>. Pooled over the folds, each assessment is scored once, by its "
        f"fold's chosen model. The candidates are the run's {len(sel.candidates)} configured "
        "combinations; linear baselines and the ensemble are not candidates.</p>"
    )
    notes = [
        BIAS_NOTE + " The ranking below is such a best-of-N view; this procedure is "
        "not, because no test label takes part in the choice.",
        OPTIMISM_NOTE,
        "Folds may choose differently: the score is that of choosing, not of one "
        "combination. The prediction bundle packs the combination chosen most often "
        "(ties: the better mean inner-validation κ).",
    ]
    return (
        intro
        + _fold_table(sel, data.results)
        + _pooled_table(sel, analysis.ci)
        + "<ul class='note'>"
        + "".join(f"<li>{esc(n)}</li>" for n in notes)
        + "</ul>"
        + _val_table(sel, data.results)
    )


def _fold_table(sel: SelectionStats, results: pd.DataFrame) -> str:
    headers = [
        "Fold",
        "Candidates",
        "Chosen: best inner-validation κ",
        "Its inner-validation κ",
        "Its test κ (this fold)",
        "Best test κ of any candidate in this fold",
    ]
    rows = []
    for c in sel.choices:
        fold = results[(results["fold"] == c.fold) & results["combo"].isin(sel.candidates)]
        top = fold.loc[fold["kappa"].idxmax()]
        rows.append(
            [
                str(c.fold),
                str(c.candidates),
                combo_cell(c.combo),
                number(c.val_kappa),
                number(c.test_kappa),
                f"{number(top['kappa'])} <span class='name'>{esc(top['combo'])}</span>",
            ]
        )
    return table(headers, rows, text_columns={2, 5}, table_id="selection-table")


def _pooled_table(sel: SelectionStats, ci: str) -> str:
    k, best = sel.kappa, sel.best_of_n.assessment["kappa"]
    rows = [
        [
            "Choosing on inner validation (the headline)",
            str(sel.assessments),
            with_ci(k.value, k.low, k.high),
        ],
        [
            f"Best of {len(sel.candidates)} by test κ: {esc(named(sel.best_of_n.name))} "
            "(optimistic)",
            str(sel.best_of_n.assessments),
            with_ci(best.value, best.low, best.high),
        ],
    ]
    return table(
        ["All folds pooled", "Assessments", f"Cohen's κ [{ci}]"],
        rows,
        text_columns=1,
        table_id="selection-pooled",
    )


def _val_table(sel: SelectionStats, results: pd.DataFrame) -> str:
    """Every candidate's inner-validation κ per fold, the chosen ones in bold."""
    rows = results[results["combo"].isin(sel.candidates)]
    grid = rows.pivot(index="combo", columns="fold", values="val_kappa")
    chosen = {(c.combo, c.fold) for c in sel.choices}
    body = [
        [combo_cell(name)]
        + [_val_cell(grid.loc[name, k], (name, k) in chosen) for k in grid.columns]
        for name in grid.index
    ]
    headers = ["Combination", *(f"Fold {k}" for k in grid.columns)]
    return (
        "<details><summary>What inner validation saw: every candidate's inner-validation "
        "κ per fold (chosen in bold)</summary>"
        + table(headers, body, table_id="val-table")
        + "</details>"
    )


def _val_cell(value: float, chosen: bool) -> str:
    text = number(value) if np.isfinite(value) else "–"
    return f"<b>{text}</b>" if chosen else text


# --- summary.json ------------------------------------------------------------------------


def selection_json(analysis: Analysis) -> dict | None:
    sel = analysis.selection
    if sel is None:
        return None
    best = sel.best_of_n.assessment["kappa"]
    return {
        "rule": RULE,
        "candidates": sel.candidates,
        "folds": [c.to_dict() for c in sel.choices],
        "chosen": sel.counts,
        "kappa": sel.kappa.to_dict(),
        "assessments": sel.assessments,
        "patients": sel.patients,
        "best_of_n": {
            "combo": sel.best_of_n.name,
            "n": len(sel.candidates),
            "kappa": finite_or_none(best.value),
        },
        "vs_reference": sel.vs_reference.to_dict() if sel.vs_reference else None,
        "folds_without_val": sel.unscored,
    }
