"""The report's figures, each returned as a base64 PNG so report.html stays one file."""

from __future__ import annotations

import base64
import functools
import io

import numpy as np

from dfu.constants import CLASSES

DPI = 90
BEST, REFERENCE, OTHER, ORACLE = "#1b7837", "#2166ac", "#8c8c8c", "#d6604d"
FOLD_COLOURS = [f"C{i}" for i in range(10)]  # matplotlib's default cycle (tab10)


@functools.cache
def _pyplot():
    """pyplot, imported on the first figure: a search's processes never load it (~25 MiB and
    ~0.5 s each) until the report is drawn."""
    import matplotlib

    matplotlib.use("Agg")  # no display: figures only ever go to PNG bytes
    import matplotlib.pyplot as plt

    return plt


def to_base64(fig) -> str:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def kappa_chart(bars: list[dict]) -> str:
    """Horizontal bars of pooled kappa with their intervals, best at the top.

    Each bar: label, value, low, high, folds (per-fold kappas, drawn as dots), oracle
    (kappa or None), role ('best', 'reference' or '').
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 0.45 * len(bars) + 1.4))
    y = np.arange(len(bars))[::-1]
    colours = [{"best": BEST, "reference": REFERENCE}.get(b["role"], OTHER) for b in bars]
    values = np.array([b["value"] for b in bars])
    errors = np.array([[b["value"] - b["low"], b["high"] - b["value"]] for b in bars]).T
    ax.barh(y, values, color=colours, alpha=0.85, height=0.6)
    ax.errorbar(values, y, xerr=errors, fmt="none", ecolor="black", capsize=4, lw=1.2)
    for yi, bar in zip(y, bars, strict=True):
        ax.scatter(
            bar["folds"],
            [yi] * len(bar["folds"]),
            s=14,
            color="white",
            edgecolor="black",
            zorder=3,
            linewidth=0.7,
        )
        if bar["oracle"] is not None:
            ax.scatter([bar["oracle"]], [yi], marker="|", s=300, color=ORACLE, zorder=4)
    ax.set_yticks(y, [b["label"] for b in bars])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("Cohen's kappa (0 = chance agreement, 1 = perfect)")
    ax.set_xlim(min(-0.05, float(np.nanmin([b["low"] for b in bars])) - 0.05), 1.0)
    ax.grid(axis="x", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in (BEST, REFERENCE, OTHER)]
    labels = ["best", "clinical data alone", "other"]
    handles.append(plt.Line2D([], [], marker="o", ls="", mfc="white", mec="black"))
    labels.append("one fold")
    if any(b["oracle"] is not None for b in bars):
        handles.append(plt.Line2D([], [], marker="|", ls="", color=ORACLE, ms=14))
        labels.append("best achievable (oracle)")
    ax.legend(handles, labels, loc="lower right", fontsize=8, framealpha=0.9)
    return to_base64(fig)


def confusion_grid(items: list[tuple[str, list[list[int]]]], columns: int = 4) -> str:
    """One small matrix per combination: counts, shaded by the share of each true class."""
    plt = _pyplot()
    rows = -(-len(items) // columns)
    columns = min(columns, len(items))
    fig, axes = plt.subplots(rows, columns, figsize=(3.1 * columns, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(items) :]:
        ax.axis("off")
    for ax, (label, matrix) in zip(axes.flat, items, strict=False):
        counts = np.asarray(matrix, dtype=float)
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for (i, j), n in np.ndenumerate(counts):
            ax.text(
                j,
                i,
                f"{int(n)}",
                ha="center",
                va="center",
                fontsize=10,
                color="white" if share[i, j] > 0.6 else "black",
            )
        ticks = range(len(CLASSES))
        ax.set_xticks(ticks, CLASSES)
        ax.set_yticks(ticks, CLASSES)
        ax.set_xlabel("predicted phase", fontsize=8)
        ax.set_ylabel("clinicians' phase", fontsize=8)
        ax.set_title(label, fontsize=9, wrap=True)
    fig.tight_layout()
    return to_base64(fig)


def learning_curves(title: str, panels: list[tuple[str, list[dict]]]) -> str:
    """Per stage (columns): kappa (top; solid inner-val, dashed training) and loss (bottom)
    per epoch, one colour per fold, a star at the best epoch. ``panels``: (stage title,
    [stage record with ``fold``, ``history``, ``best_epoch``, ...])."""
    plt = _pyplot()
    fig, axes = plt.subplots(
        2, len(panels), figsize=(3.6 * len(panels) + 0.6, 4.6), squeeze=False, sharex="col"
    )
    for col, (stage, runs) in enumerate(panels):
        top, bottom = axes[0, col], axes[1, col]
        for run in runs:
            fold, history = run["fold"], run.get("history", {})
            colour = FOLD_COLOURS[fold % len(FOLD_COLOURS)]
            epochs = np.arange(1, len(history.get("loss", [])) + 1)
            _line(top, epochs, history.get("val_kappa"), colour, style="-", label=f"fold {fold}")
            _best(top, run, colour)
            _line(top, epochs, history.get("kappa"), colour, style="--")
            _line(bottom, epochs, history.get("val_loss"), colour, style="-")
            _line(bottom, epochs, history.get("loss"), colour, style="--")
        top.set_title(stage, fontsize=10)
        top.set_ylabel("kappa" if col == 0 else "")
        bottom.set_ylabel("loss" if col == 0 else "")
        bottom.set_xlabel("epoch")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
            ax.xaxis.get_major_locator().set_params(integer=True)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles += [plt.Line2D([], [], color="black"), plt.Line2D([], [], color="black", ls="--")]
    labels += ["inner validation", "training"]
    fig.legend(
        handles,
        labels,
        loc="upper center",
        ncol=min(len(labels), 7),
        fontsize=8,
        bbox_to_anchor=(0.5, 1.0),
        frameon=False,
    )
    fig.suptitle(title, y=1.07, fontsize=11)
    fig.tight_layout()
    return to_base64(fig)


def _best(ax, run: dict, colour) -> None:
    best, values = run.get("best_epoch"), run.get("history", {}).get("val_kappa") or []
    if best and best <= len(values):
        ax.plot([best], [values[best - 1]], "*", color=colour, ms=11, mec="black", mew=0.5)


def _line(ax, epochs, values, colour, *, style: str, label: str | None = None) -> None:
    if values:
        ax.plot(epochs[: len(values)], values, style, color=colour, label=label, marker=".", ms=4)
