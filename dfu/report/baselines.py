"""What report.html says about the linear baselines: does each image network beat a linear
model (logistic regression) on the same pixels, scored on the same assessments?

The search fits ``linear(m)`` per fold for every image modality m it uses; the report sets
each beside its network on m alone (``m``), compares the two paired over the assessments
both scored, and says so in the headline when the network does not beat it.
"""

from __future__ import annotations

from dfu.combos import baseline_modality, baseline_name
from dfu.evaluation.bootstrap import finite_or_none
from dfu.report.data import RunData
from dfu.report.html import esc, named, number, percent, table, with_ci
from dfu.report.stats import Analysis

NOTE = (
    "A linear baseline is a logistic regression on the standardised pixels of the same crops, "
    "fitted on the same inner-training patients, its regularisation chosen on inner "
    "validation, scored once on the same test folds. A network that does not beat it adds "
    "nothing a linear read-out of the pixels would not. The difference is the network's κ "
    "minus the linear model's, paired over the assessments both scored, with the same "
    "patients resampled for both."
)


def sentences(analysis: Analysis) -> list[str]:
    """One headline sentence per image modality whose network does not beat its baseline."""
    out = []
    for m, d in analysis.vs_linear.items():
        if d.low > 0:
            continue
        cnn = number(analysis.by_name[m].assessment["kappa"].value)
        linear = number(analysis.by_name[baseline_name(m)].assessment["kappa"].value)
        if d.value <= 0:
            out.append(
                f"The network on {named(m)} does not beat a linear model on the same "
                f"pixels (kappa {cnn} vs {linear})."
            )
        else:
            out.append(
                f"The network on {named(m)} is not shown to beat a linear model on "
                f"the same pixels (kappa {cnn} vs {linear}; the interval of the "
                "difference includes 0)."
            )
    return out


def not_beaten(analysis: Analysis) -> bool:
    return any(d.low <= 0 for d in analysis.vs_linear.values())


def input_note(data: RunData, name: str) -> str:
    """How many pixels the baseline saw, saying so when it used a downscaled copy."""
    records = data.baseline_records(name)
    sizes = sorted({r["image_size"] for r in records if r.get("image_size")})
    if not sizes:
        return ""
    size = "/".join(map(str, sizes))
    if any(r.get("downscaled") for r in records):
        return f"{size} px copies (downscaled from {data.cfg.data.image_size} px)"
    return f"{size} px crops"


def comparison(analysis: Analysis, data: RunData) -> str:
    """The paired 'network minus linear' table of every baseline of the run."""
    if not analysis.baselines:
        return ""
    headers = [
        "Image modality",
        "Network on it alone: κ",
        "Linear baseline: κ",
        f"Network minus linear [{analysis.ci}]",
        "Resamples where the network is ahead",
        "Assessments compared",
        "Linear model's input",
    ]
    rows = [_row(analysis, data, b.name) for b in analysis.baselines]
    downscaled = any("downscaled" in input_note(data, b.name) for b in analysis.baselines)
    note = NOTE + (
        " A baseline marked downscaled saw average-pooled copies of the crops, "
        "fewer pixels than the network."
        if downscaled
        else ""
    )
    return (
        "<h3>Does the network add anything? Each image network against a linear model on "
        "the same pixels</h3>"
        + table(headers, rows, text_columns={0, 6}, table_id="baseline-table")
        + f"<p class='note'>{esc(note)}</p>"
    )


def _row(analysis: Analysis, data: RunData, name: str) -> list[str]:
    m = baseline_modality(name)
    linear = analysis.by_name[name].assessment["kappa"]
    d = analysis.vs_linear.get(m)
    cnn = analysis.by_name.get(m)
    if d is None or cnn is None:
        cells = ["(no network on it alone was run)", "", ""]
    else:
        cells = [with_ci(d.value, d.low, d.high, sign=True), percent(d.above_zero), str(d.n)]
    return [
        esc(named(m)),
        number(cnn.assessment["kappa"].value) if cnn else "–",
        with_ci(linear.value, linear.low, linear.high),
        *cells,
        esc(input_note(data, name)),
    ]


def baselines_json(analysis: Analysis, data: RunData) -> list[dict]:
    out = []
    for b in analysis.baselines:
        m = baseline_modality(b.name)
        d = analysis.vs_linear.get(m)
        records = data.baseline_records(b.name)
        out.append(
            {
                "modality": m,
                "baseline": b.name,
                "kappa": finite_or_none(b.assessment["kappa"].value),
                "network_kappa": (
                    finite_or_none(analysis.by_name[m].assessment["kappa"].value)
                    if m in analysis.by_name
                    else None
                ),
                "network_minus_linear": d.to_dict() if d else None,
                "C": [r.get("C") for r in records],
                "image_size": [r.get("image_size") for r in records],
                "downscaled": any(r.get("downscaled") for r in records),
            }
        )
    return out
