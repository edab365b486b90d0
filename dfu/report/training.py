"""The training sections of report.html: every stage's health verdicts, learning curves."""

from __future__ import annotations

from dfu.combos import image_modalities, parse_combo
from dfu.constants import CLASSES
from dfu.evaluation.ensemble import ENSEMBLE
from dfu.report.data import RunData, stage_records
from dfu.report.html import esc, image, nowrap, number, plain_name, table
from dfu.report.plots import learning_curves
from dfu.report.stats import Analysis

VERDICTS = {
    "ok": "nothing suspicious was detected in this stage.",
    "no-learning": "the best epoch was the first one eligible (after the warm-up) and the "
    "training loss hardly fell: the stage did not learn (often a learning rate "
    "too low, or too few steps).",
    "collapsed": "on the inner-validation patients the model predicts (almost) one phase for "
    "everyone. Such a model is useless whatever its accuracy.",
    "below-baseline": "the pre-trained image branch agrees less with the clinicians on the "
    "inner-validation patients than the linear baseline of its modality (a "
    "logistic regression on the same pixels): the network learned less than a "
    "linear model would.",
    "overfit": "agreement on the training patients exceeds agreement on the inner-validation "
    "patients by more than the configured gap: the model memorises its training data.",
    "none trained": "clinical data alone: a random forest, no neural-network stage to judge. "
    "The ensemble shows the worst verdict of its members.",
}
STAGES = {
    "stage1": "stage 1: fusion (image branches frozen)",
    "stage2": "stage 2: fine-tuning (all layers)",
}


def stage_name(stage: str) -> str:
    if stage.startswith("pretrain_"):
        return f"pre-training: {plain_name(stage[len('pretrain_') :])} alone"
    return STAGES.get(stage, stage)


def health(data: RunData, analysis: Analysis) -> tuple[str, int, int]:
    """(HTML, number of flagged stages, number of stages): the flagged stages in full view,
    every stage in a folded table."""
    records = sorted(stage_records(data), key=lambda r: _health_order(r, analysis))
    flagged = [r for r in records if r["verdicts"] != ["ok"]]
    if not records:
        return "<p>No neural-network stage was trained (clinical data alone).</p>", 0, 0
    summary = f"<p><b>{len(flagged)} of {len(records)}</b> training stages were flagged" + (
        " (below, and highlighted in red in the full table).</p>"
        if flagged
        else ": every stage passed the checks.</p>"
    )
    legend = (
        "<dl class='verdicts note'>"
        + "".join(f"<dt>{esc(v)}</dt><dd>{esc(t)}</dd>" for v, t in VERDICTS.items())
        + (
            "<dt>not used</dt><dd>stage 2 is kept only if it improves inner-validation κ; "
            "otherwise the model returns to stage 1's weights and stage 2's verdicts no longer "
            "matter (shown greyed).</dd></dl>"
        )
    )
    flagged_table = _health_table(flagged, "flagged-table") if flagged else ""
    full = (
        f"<details><summary>Every training stage ({len(records)})</summary>"
        f"{_health_table(records, 'health-table')}</details>"
    )
    return summary + flagged_table + legend + full, len(flagged), len(records)


def _health_order(r: dict, analysis: Analysis) -> tuple:
    """Image-branch pre-trainings first, then combinations in ranking order; by fold, stage."""
    rank = analysis.by_name[r["combo"]].rank if r["combo"] in analysis.by_name else 0
    return rank, r["combo"], r["fold"], r["stage"]


def _health_table(records: list[dict], table_id: str) -> str:
    headers = [
        "Where",
        "Fold",
        "Stage",
        "Verdict",
        "Best epoch / epochs run",
        "Inner-validation κ",
        "Training κ",
        "Predicted share " + " / ".join(CLASSES),
        "Used in the final model",
        "Warnings",
    ]
    rows = [_health_row(r) for r in records]
    classes = [_health_class(r) for r in records]
    return table(headers, rows, classes, {0, 2, 9}, table_id)


def _health_row(r: dict) -> list[str]:
    return [
        esc(plain_name(r["combo"])) + f"<br><span class='name'>{esc(r['combo'])}</span>",
        str(r["fold"]),
        esc(stage_name(r["stage"])),
        esc(", ".join(r["verdicts"])),
        f"{r['best_epoch']} / {r['epochs_run']}",
        number(r["val_kappa"]),
        number(r["train_kappa"]),
        nowrap(" / ".join(number(p) for p in r["pred_dist"])),
        "yes" if r.get("kept", True) else "no (reverted)",
        esc("; ".join(r.get("warnings", []))),
    ]


def _health_class(r: dict) -> str:
    if r["verdicts"] == ["ok"]:
        return ""
    return "flag" if r.get("kept", True) else "flag muted"


def curves(data: RunData, analysis: Analysis) -> str:
    records = stage_records(data)
    parts, wide = [], ""
    pretrain = _by_stage([r for r in records if r["stage"].startswith("pretrain_")])
    if pretrain:  # one panel per image modality: as wide as the page
        wide = image(
            learning_curves("Pre-training of each image branch", pretrain), "pre-training curves"
        )
    for c in analysis.combos:
        if c.name == ENSEMBLE or not image_modalities(parse_combo(c.name)):
            continue
        panels = _by_stage([r for r in records if r["combo"] == c.name])
        if panels:
            title = f"{c.rank}. {plain_name(c.name)} ({c.name})"
            parts.append(image(learning_curves(title, panels), f"learning curves {c.name}"))
    if not parts and not wide:
        return "<p>No neural-network stage was trained.</p>"
    note = (
        "<p class='note'>Per epoch: κ (top) and loss (bottom); solid lines are the "
        "inner-validation patients (used for early stopping), dashed lines the training "
        "patients; a star marks the epoch whose weights were kept. One colour per fold. A "
        "flat solid line means nothing was learned; a dashed line pulling away above the "
        "solid one means overfitting.</p>"
    )
    return note + wide + f"<div class='figures'>{''.join(parts)}</div>"


def _by_stage(records: list[dict]) -> list[tuple[str, list[dict]]]:
    stages: dict[str, list] = {}
    for r in records:
        stages.setdefault(r["stage"], []).append(r)
    return [(stage_name(s), runs) for s, runs in stages.items()]
