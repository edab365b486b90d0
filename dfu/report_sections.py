"""The results sections of report.html (summary, ranking, comparisons, confusion, data,
TensorBoard, config); each returns an HTML string. Training sections: ``dfu.report_training``."""

from __future__ import annotations

import yaml

from dfu.config import CLASSES
from dfu.ensemble import ENSEMBLE
from dfu.report_data import RunData, fold_sizes
from dfu.report_html import (
    combo_cell,
    esc,
    image,
    nowrap,
    number,
    percent,
    plain_name,
    signed,
    table,
    with_ci,
)
from dfu.report_plots import confusion_grid, kappa_chart
from dfu.report_stats import REFERENCE, Analysis, CombinationStats
from dfu.results import NO_STAGES

KAPPA_WORDS = ((0.8, "almost perfect"), (0.6, "substantial"), (0.4, "moderate"), (0.2, "fair"),
               (0.0, "slight"))  # fmt: skip


def kappa_words(kappa: float) -> str:
    """Landis & Koch's labels, the scale clinicians usually read kappa with."""
    return next((w for t, w in KAPPA_WORDS if kappa > t), "no better than chance")


# --- what this says -----------------------------------------------------------------------


def headline(analysis: Analysis, flagged: int, stages: int) -> tuple[str, str]:
    """(plain text, HTML) of the summary at the top: the lead sentence, then bullets."""
    best = analysis.best
    sentences = [
        _best_sentence(best),
        *_single_sentence(analysis),
        *_reference_sentence(analysis),
        *_health_sentence(flagged, stages),
        *_oracle_sentence(best),
    ]
    bullets = "".join(f"<li>{esc(s)}</li>" for s in sentences[1:])
    return " ".join(sentences), f"<p>{esc(sentences[0])}</p><ul>{bullets}</ul>"


def _best_sentence(best: CombinationStats) -> str:
    k = best.assessment["kappa"]
    return (
        f"The best combination is {plain_name(best.name)} ({best.name}). On {best.assessments} "
        f"assessments of {best.patients} patients, each predicted by a model that never saw that "
        "patient, its predicted healing phase agreed with the clinicians' phase with Cohen's "
        f"kappa {number(k.value)} (95% confidence interval {number(k.low)} to "
        f"{number(k.high)}; {kappa_words(k.value)} agreement; 0 = chance, 1 = perfect)."
    )


def _single_sentence(analysis: Analysis) -> list[str]:
    if analysis.best.name != ENSEMBLE:
        return []
    single = next(c for c in analysis.combos if c.name != ENSEMBLE)
    k = single.assessment["kappa"]
    return [
        f"It is an average of several models; the best single combination is "
        f"{plain_name(single.name)} ({single.name}), kappa {number(k.value)} "
        f"({number(k.low)} to {number(k.high)})."
    ]


def _reference_sentence(analysis: Analysis) -> list[str]:
    best, ref = analysis.best, analysis.reference
    if ref is None:
        return []
    if best.name == REFERENCE:
        return ["No combination with images did better than clinical data alone."]
    d = best.vs_reference
    start = (
        f"Clinical data alone reached kappa {number(ref.assessment['kappa'].value)}; the "
        f"difference is {signed(d.value)} (95% CI {signed(d.low)} to {signed(d.high)}), "
        f"higher in {percent(d.above_zero)} of patient resamples,"
    )
    if d.low > 0:
        return [f"{start} so the best combination does agree better than clinical data alone."]
    return [
        f"{start} so these data do not show that it does better than clinical data alone "
        "(the interval includes 0)."
    ]


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
        f"This is {percent(best.oracle_fraction)} of the kappa the best achievable model (the "
        "demo's oracle) reaches on the same assessments."
    ]


# --- ranking and comparisons --------------------------------------------------------------


def ranking(analysis: Analysis) -> str:
    oracle = analysis.oracle
    headers = ["Rank", "Combination (what the model sees)",
               "Agreement with clinicians: Cohen's κ [95% CI]",
               "Agreement allowing for near misses: weighted κ (QWK) [95% CI]",
               "Accuracy [95% CI]", "Balanced F1 (macro) [95% CI]",
               "F1 per phase " + " / ".join(CLASSES), "κ per fold: mean ± sd",
               "Training health (worst verdict)"]  # fmt: skip
    if oracle:
        headers += ["Share of best achievable κ (oracle)"]
    rows, classes = [], []
    for c in analysis.combos:
        a = c.assessment
        row = [str(c.rank), combo_cell(c.name), _est(a["kappa"]), _est(a["qwk"]),
               _est(a["accuracy"]), _est(a["f1_macro"]),
               nowrap(" / ".join(number(a[f"f1_{k}"].value) for k in CLASSES)),
               nowrap(f"{number(c.fold_mean['kappa'])} ± {number(c.fold_sd['kappa'])}")
               + f"<br><span class='ci'>({c.folds} folds)</span>", _verdict(c.verdict)]  # fmt: skip
        if oracle:
            row.append(_oracle_cell(c))
        rows.append(row)
        classes.append(_row_class(c, analysis))
    return table(headers, rows, classes, text_columns=2, table_id="ranking-table")


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
    if c.rank == 1:
        return "best"
    return "reference" if c.name == REFERENCE else ""


def ranking_notes(analysis: Analysis) -> str:
    notes = [
        "Scores are at the assessment level (one visit, one ulcer): the probabilities of its "
        "image sets are averaged, as a clinician would get one answer per visit.",
        "Each assessment is scored once, by the model of the fold that held its patient out "
        "(pooled out-of-fold predictions). The 95% intervals come from "
        f"{analysis.n_boot} bootstrap resamples of patients (all assessments of a patient "
        "together, because visits of one patient are not independent).",
        "Ranked by κ averaged over folds (the column 'κ per fold'), the figure the search "
        "reports; the pooled κ and its interval describe the same models on all patients.",
        "κ (Cohen's kappa) measures agreement beyond chance: 0 = chance, 0.2-0.4 fair, "
        "0.4-0.6 moderate, 0.6-0.8 substantial, above 0.8 almost perfect. Weighted κ counts "
        "I-vs-R errors as worse than neighbouring-phase errors.",
    ]
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
            for c in analysis.combos]  # fmt: skip
    return image(kappa_chart(bars), "kappa of every combination with 95% intervals")


def comparisons(analysis: Analysis) -> str:
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
            "same assessments, with the same patients resampled for both (a paired bootstrap). "
            "An interval that excludes 0 means the data support a real difference; the share "
            "of resamples says how often this combination came out ahead.</p>")  # fmt: skip
    return table(headers, rows, classes, text_columns=1, table_id="comparison-table") + note


def _difference(d, itself: bool) -> list[str]:
    if d is None or itself:
        return ["(itself)", ""]
    return [with_ci(d.value, d.low, d.high, sign=True), percent(d.above_zero)]


def image_set_table(analysis: Analysis) -> str:
    headers = ["Combination", "Image sets", "Cohen's κ [95% CI]", "Weighted κ (QWK) [95% CI]",
               "Accuracy [95% CI]", "Balanced F1 (macro) [95% CI]"]  # fmt: skip
    rows = [[combo_cell(c.name), str(c.image_sets), _est(c.image_set["kappa"]),
             _est(c.image_set["qwk"]), _est(c.image_set["accuracy"]),
             _est(c.image_set["f1_macro"])] for c in analysis.combos]  # fmt: skip
    note = (
        "<p class='note'>The same models scored on every image set (one photo set of one "
        "ulcer) instead of every assessment. Intervals again resample patients.</p>"
    )
    return table(headers, rows, text_columns=1, table_id="image-set-table") + note


def confusions(analysis: Analysis) -> str:
    items = [(f"{c.rank}. {plain_name(c.name)}", c.confusion) for c in analysis.combos]
    note = (
        "<p class='note'>Rows: the clinicians' phase; columns: the model's. Numbers are "
        "assessments (all folds pooled); the shading is the share of each true phase, so "
        "a dark diagonal is good. I = inflammatory, P = proliferative, R = remodelling.</p>"
    )
    return note + image(confusion_grid(items), "confusion matrices")


# --- data, folds, how to look further, configuration -----------------------------------


def data_section(data: RunData) -> str:
    if data.data_summary:
        parts = [_data_summary(data.data_summary)]
    else:
        parts = ["<p>data_summary.json not found in the run directory.</p>"]
    sizes = fold_sizes(data)
    if not sizes.empty:
        parts.append(
            "<h3>Folds</h3><p class='note'>Folds are made of whole patients: no patient is ever "
            "in both the training and the test part of a fold.</p>" + _fold_table(sizes)
        )
    return "".join(parts)


def _fold_table(sizes) -> str:
    headers = ["Fold", "Test patients", "Test assessments", "Training image sets",
               "Inner-validation image sets", "Test image sets",
               "Training image sets per phase " + " / ".join(CLASSES), "Batch size",
               "Steps per epoch"]  # fmt: skip
    rows = [[str(r.fold), str(r.test_patients), str(r.test_assessments),
             str(r.train_image_sets), str(r.val_image_sets), str(r.test_image_sets),
             " / ".join(map(str, r.train_classes)), str(r.batch_size), str(r.steps_per_epoch)]
            for r in sizes.itertuples()]  # fmt: skip
    return table(headers, rows, text_columns=1, table_id="fold-table")


def _data_summary(s: dict) -> str:
    classes = s.get("classes", {}).get("assessments", {})
    rows = [["Dataset folder", f"<code>{esc(s.get('root', '?'))}</code>"],
            ["Patients (with images)", f"{s.get('patients')} ({s.get('patients_with_images')})"],
            ["Assessments (with images)",
             f"{s.get('assessments')} ({s.get('assessments_with_images')})"],
            ["Image sets", str(s.get("image_sets"))],
            ["Assessments per phase",
             esc(", ".join(f"{k}: {v}" for k, v in classes.items()))]]  # fmt: skip
    skips = s.get("skips", {})
    skip_rows = [[esc(reason), str(v["count"]), esc(", ".join(v.get("examples", [])[:3]))]
                 for reason, v in skips.items()]  # fmt: skip
    out = table(["What the reader found", ""], rows, text_columns=2, table_id="data-table")
    if skip_rows:
        out += ("<p class='note'>Skipped while reading (each counted, never silently "
                "dropped):</p>" + table(["Reason", "Count", "Examples"], skip_rows,
                                        text_columns={0, 2}, table_id="skip-table"))  # fmt: skip
    return out


def tensorboard_command(run_dir) -> str:
    """TensorBoard over every trial and pre-training of a run, served to this machine only."""
    return f".venv/bin/tensorboard --logdir {run_dir} --host 127.0.0.1 --port 6006"


def look_further(data: RunData) -> str:
    return (
        "<p>Every stage of every trial logged its curves for TensorBoard. To browse them "
        "(on this machine only, at <a href='http://localhost:6006'>http://localhost:6006</a>):</p>"
        f"<p class='cmd'>{esc(tensorboard_command(data.layout.root))}</p>"
        "<p class='note'>Files of this run: <code>results.csv</code> (one row per fold and "
        "combination), <code>summary.csv</code> (mean and sd over folds), "
        "<code>summary.json</code> (every number of this report), "
        "<code>trials/fold*/&lt;combination&gt;/trial.json</code> and "
        "<code>predictions.parquet</code> (each trial's stages and test predictions), "
        "<code>ensemble/</code> (the ensemble's, same format).</p>"
    )  # fmt: skip


def configuration(data: RunData) -> str:
    text = yaml.safe_dump(data.cfg.to_dict(), sort_keys=False)
    return ("<details><summary>The full configuration of this run (config.yaml)</summary>"
            f"<pre>{esc(text)}</pre></details>")  # fmt: skip
