"""The context sections of report.html: the data and folds behind the numbers, how to look
further (TensorBoard, files), and the configuration; each returns an HTML string."""

from __future__ import annotations

import yaml

from dfu.constants import CLASSES
from dfu.report.data import RunData, fold_sizes
from dfu.report.html import esc, table

# What the reader's summary may say depth frames without a map cost (same shape, two names).
ZOOM_COST_KEYS = ("zoom_cost", "missing_map_cost")


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
    headers = [
        "Fold",
        "Test patients",
        "Test assessments",
        "Training image sets",
        "Inner-validation image sets",
        "Test image sets",
        "Training image sets per phase " + " / ".join(CLASSES),
        "Batch size",
        "Steps per epoch",
    ]
    rows = [
        [
            str(r.fold),
            str(r.test_patients),
            str(r.test_assessments),
            str(r.train_image_sets),
            str(r.val_image_sets),
            str(r.test_image_sets),
            " / ".join(map(str, r.train_classes)),
            str(r.batch_size),
            str(r.steps_per_epoch),
        ]
        for r in sizes.itertuples()
    ]
    return table(headers, rows, text_columns=1, table_id="fold-table")


def _data_summary(s: dict) -> str:
    classes = s.get("classes", {}).get("assessments", {})
    rows = [
        ["Dataset folder", f"<code>{esc(s.get('root', '?'))}</code>"],
        ["Patients (with images)", f"{s.get('patients')} ({s.get('patients_with_images')})"],
        [
            "Assessments (with images)",
            f"{s.get('assessments')} ({s.get('assessments_with_images')})",
        ],
        ["Image sets", str(s.get("image_sets"))],
        ["Assessments per phase", esc(", ".join(f"{k}: {v}" for k, v in classes.items()))],
        *_zoom_cost(s),
    ]
    skips = s.get("skips", {})
    skip_rows = [
        [esc(reason), str(v["count"]), esc(", ".join(v.get("examples", [])[:3]))]
        for reason, v in skips.items()
    ]
    out = table(["What the reader found", ""], rows, text_columns=2, table_id="data-table")
    if skip_rows:
        out += (
            "<p class='note'>Skipped while reading (each counted, never silently "
            "dropped):</p>"
            + table(
                ["Reason", "Count", "Examples"],
                skip_rows,
                text_columns={0, 2},
                table_id="skip-table",
            )
        )
    return out


def _zoom_cost(s: dict) -> list[list[str]]:
    """The data-table row saying what depth frames without a map (zoomed frames) cost."""
    cost = next((s[k] for k in ZOOM_COST_KEYS if s.get(k)), None)
    if cost is None:
        return []
    sets, assessments = cost.get("image_sets", 0), cost.get("assessments", 0)
    total = (s.get("image_sets") or 0) + sets
    share = f" ({100 * sets / total:.1f}% of them)" if total else ""
    return [
        [
            "Zoom cost: depth frames without a map (zoomed frames)",
            f"{sets} image sets{share} and {assessments} assessments skipped for every combination",
        ]
    ]


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
        "<code>trials/fold*/linear(&lt;modality&gt;)/</code> (the linear baselines) and "
        "<code>ensemble/</code> (the ensemble's), in the same format.</p>"
    )


def configuration(data: RunData) -> str:
    text = yaml.safe_dump(data.cfg.to_dict(), sort_keys=False)
    return (
        "<details><summary>The full configuration of this run (config.yaml)</summary>"
        f"<pre>{esc(text)}</pre></details>"
    )
