"""The Bayes-optimal answer for the demo data, written to ``<demo>/_oracle/``.

The posterior of each assessment's phase given the latent signals of a modality
combination is exact (the generator's own distributions), so it upper-bounds what any
model can reach from the images and metadata written to disk. ``_oracle/`` holds the
signals (``signals.csv``), the summary (``summary.json``: prior, each combination's oracle
kappa, what was planted) and every combination's posterior per assessment
(``posteriors.parquet``: plain columns, read by ``dfu.evaluation.oracle`` without this
package). The loader never reads ``_oracle/``; tests, the report and jobs.check_learning do.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

from dfu.combos import all_subsets, combo_name, parse_combo
from dfu.constants import CLASSES, PROBA_COLUMNS
from dfu.data.schema import ORACLE_DIR, ORACLE_POSTERIORS
from dfu.demo.signals import IMAGE_SIGNALS, METADATA_SIGNALS, MODALITY_SIGNAL, posterior

SIGNAL_COLUMNS = [*METADATA_SIGNALS, *IMAGE_SIGNALS]


def combo_posterior(signals: pd.DataFrame, combo: tuple[str, ...], prior: np.ndarray) -> np.ndarray:
    """(N, 3) posterior given the latents the combination's modalities show."""
    names = set()
    for m in combo:
        names |= set(METADATA_SIGNALS) if m == "metadata" else {MODALITY_SIGNAL[m]}
    table = {**METADATA_SIGNALS, **IMAGE_SIGNALS}
    lls = [table[n].loglik(signals[n].to_numpy(dtype=float)) for n in sorted(names)]
    return posterior(lls, prior)


def kappas(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    pred = proba.argmax(axis=1)
    labels = list(range(len(CLASSES)))
    return {
        "kappa": float(cohen_kappa_score(y, pred, labels=labels)),
        "qwk": float(cohen_kappa_score(y, pred, labels=labels, weights="quadratic")),
    }


def write_oracle(out: Path, signals: pd.DataFrame, prior: np.ndarray, planted: dict) -> dict:
    """signals: assessment_id, y, and one column per latent; rows = assessments with images."""
    folder = Path(out) / ORACLE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    signals.to_csv(folder / "signals.csv", index=False)
    y = signals["y"].to_numpy()
    summary = {
        "prior": prior.tolist(),
        "n_assessments": int(len(signals)),
        "combos": {
            combo_name(c): kappas(y, combo_posterior(signals, c, prior)) for c in all_subsets()
        },
        "planted": planted,
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    write_posteriors(out)
    return summary


def write_posteriors(root: str | Path) -> Path:
    """``_oracle/posteriors.parquet``: every combination's posterior per assessment (columns
    assessment_id, combo, y, p_I, p_P, p_R), from the oracle's signals and prior."""
    signals, summary = load_oracle(root)
    prior = np.asarray(summary["prior"])
    frames = []
    for combo in all_subsets():
        frame = pd.DataFrame(combo_posterior(signals, combo, prior), columns=PROBA_COLUMNS)
        frame.insert(0, "y", signals["y"].to_numpy())
        frame.insert(0, "combo", combo_name(combo))
        frame.insert(0, "assessment_id", signals["assessment_id"].to_numpy())
        frames.append(frame)
    path = Path(root) / ORACLE_DIR / ORACLE_POSTERIORS
    pd.concat(frames, ignore_index=True).to_parquet(path, index=False)
    return path


def ensure_posteriors(root: str | Path) -> None:
    """Write ``posteriors.parquet`` into a demo folder made before it existed (no-op for data
    without an oracle, or with the file). Best effort: a folder that cannot be written to
    keeps its report without the oracle's column."""
    folder = Path(root) / ORACLE_DIR if root else None
    if folder is None or not (folder / "summary.json").exists():
        return
    if not (folder / ORACLE_POSTERIORS).exists():
        try:
            write_posteriors(root)
        except OSError:
            pass


def load_oracle(root: str | Path) -> tuple[pd.DataFrame, dict] | None:
    """(signals, summary) of a demo dataset, or None for real data."""
    folder = Path(root) / ORACLE_DIR
    if not (folder / "summary.json").exists():
        return None
    return pd.read_csv(folder / "signals.csv"), json.loads((folder / "summary.json").read_text())


def oracle_probabilities(root: str | Path, combo: str | tuple[str, ...]) -> pd.DataFrame | None:
    """Per-assessment oracle posterior for a combination (index assessment_id), or None."""
    loaded = load_oracle(root)
    if loaded is None:
        return None
    signals, summary = loaded
    combo = parse_combo(combo) if isinstance(combo, str) else combo
    proba = combo_posterior(signals, combo, np.asarray(summary["prior"]))
    out = pd.DataFrame(proba, columns=PROBA_COLUMNS, index=signals["assessment_id"])
    out["y"] = signals["y"].to_numpy()
    return out
