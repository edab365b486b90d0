"""Run directories for the report, ensemble, bundle, selection and predict tests.

``synthetic_run`` writes, in milliseconds, a run directory in the exact trial format
(``dfu.store.records``, with the inner-validation scores ``val`` and the linear baselines
``linear(m)`` the search writes) whose predictions are noisy versions of the demo oracle's
posterior (so the oracle columns of the report have something to show), as sharp as a test
asks per combination (``strength`` 0: pure noise, no signal at all), and whose stage
records carry whatever verdict a test plants. ``trained_run`` runs a real search in this
process (``dfu.runs.local``) on the tests' tiny config (``dfu/configs/tiny.yaml``), the path
every slow test uses; ``metadata_run`` is its TensorFlow-free part (random forest only), fast
enough for the default suite.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from dfu.combos import baseline_modality, baseline_name, image_modalities, is_baseline, parse_combo
from dfu.config import load_config
from dfu.constants import CLASSES, IMAGE_MODALITIES, PROBA_COLUMNS
from dfu.cv.sizing import plan_sizing
from dfu.demo import oracle_probabilities
from dfu.evaluation.results import trial_summary
from dfu.store.layout import RunLayout
from dfu.store.records import predictions_frame, write_trial
from tests.helpers.paths import TINY_CONFIG
from tests.helpers.records import stage_record

SYNTHETIC_COMBOS = ["metadata", "thermal_map", "metadata+thermal_map", "metadata+depth_rgb"]


def patient_of(assessment_id: str) -> int:
    """'P012-A03-U1' -> 12 (the demo's assessment ids)."""
    return int(assessment_id.split("-")[0][1:])


def synthetic_run(
    root: Path,
    demo: Path,
    combos=SYNTHETIC_COMBOS,
    *,
    n_folds: int = 2,
    plant: dict | None = None,
    seed: int = 0,
    strength: dict | None = None,
    val_strength: dict | None = None,
    baselines: bool = True,
) -> RunLayout:
    """A finished run under ``root`` over the demo's assessments. ``plant``: {(fold, combo,
    stage): [verdicts]} overrides the verdicts of those stages (all others ``ok``).
    ``strength``: {combination or baseline name: weight of the oracle's log-posterior in
    its test predictions} (default 1; 0 = predictions independent of the truth);
    ``val_strength`` likewise for its inner-validation predictions (default: ``strength``).
    ``baselines``: also write ``linear(m)`` for every image modality m of ``combos``
    (downscaled to 16 px, as the search records it)."""
    rng = np.random.default_rng(seed)
    layout = RunLayout(root)
    cfg = load_config(
        overrides=[
            f"data.root={demo}",
            f"folds.n_folds={n_folds}",
            f"search.combinations={json.dumps(list(combos))}",
        ]
    )
    cfg.save(layout.config)
    sets = _image_sets(demo, rng)
    patients = np.unique(sets["patient"])
    fold_of = dict(zip(patients, rng.permutation(len(patients)) % n_folds, strict=True))
    sets["fold"] = sets["patient"].map(fold_of)
    pd.DataFrame({"patient": patients, "fold": [fold_of[p] for p in patients]}).to_csv(
        layout.folds, index=False
    )
    layout.data_summary.write_text(json.dumps(_data_summary(demo, sets)))
    val_of = _inner_val(sets, n_folds, rng)
    names = [*combos, *(_baselines(combos) if baselines else [])]
    strength = strength or {}
    val_strength = {**strength, **(val_strength or {})}
    for combo in names:
        test = _noisy_posterior(demo, combo, sets, rng, strength.get(combo, 1.0))
        val = _noisy_posterior(demo, combo, sets, rng, val_strength.get(combo, 1.0))
        for k in range(n_folds):
            rows, inner = (sets["fold"] == k).to_numpy(), val_of[k]
            parts = {"test": (sets[rows], test[rows]), "val": (sets[inner], val[inner])}
            _write(layout, cfg, k, combo, parts=parts, plant=plant or {})
    return layout


def _baselines(combos) -> list[str]:
    used = {m for c in combos for m in image_modalities(parse_combo(c))}
    return [baseline_name(m) for m in IMAGE_MODALITIES if m in used]


def _inner_val(sets: pd.DataFrame, n_folds: int, rng) -> dict[int, np.ndarray]:
    """fold -> mask of its inner-validation image sets: a third of the other patients."""
    out = {}
    for k in range(n_folds):
        others = np.unique(sets.loc[sets["fold"] != k, "patient"])
        chosen = rng.choice(others, max(2, len(others) // 3), replace=False)
        out[k] = sets["patient"].isin(chosen).to_numpy()
    return out


def _image_sets(demo: Path, rng) -> pd.DataFrame:
    """1-3 image sets per assessment of the demo's oracle table."""
    signals = pd.read_csv(demo / "_oracle" / "signals.csv")
    repeats = rng.integers(1, 4, len(signals))
    sets = signals.loc[signals.index.repeat(repeats), ["assessment_id", "y"]].reset_index(drop=True)
    sets["set_id"] = [f"{a}#{i}" for i, a in enumerate(sets["assessment_id"])]
    sets["patient"] = sets["assessment_id"].map(patient_of)
    return sets


def _noisy_posterior(
    demo: Path, combo: str, sets: pd.DataFrame, rng, weight: float = 1.0
) -> np.ndarray:
    sees = baseline_modality(combo) if is_baseline(combo) else combo
    oracle = oracle_probabilities(demo, sees).loc[sets["assessment_id"], PROBA_COLUMNS]
    noise = rng.normal(0, 1.0, (len(sets), len(CLASSES)))
    logits = weight * np.log(oracle.to_numpy() + 1e-6) + noise
    proba = np.exp(logits)
    return proba / proba.sum(axis=1, keepdims=True)


def _write(layout, cfg, fold, combo, *, parts: dict, plant: dict) -> None:
    """One trial: ``parts``: its ``test`` and ``val`` parts, (image sets, probabilities) each."""
    test, val = parts["test"], parts["val"]
    sets = test[0]
    counts = np.bincount(sets["y"], minlength=3).tolist()
    sizing = plan_sizing(
        {"train": 3 * len(sets), "val": len(val[0]), "test": len(sets)}, counts, 32
    )
    name = (combo,)  # the trial folder's name; parse_combo refuses a baseline's
    frames = [
        predictions_frame(
            fold, name, part[["set_id", "assessment_id", "patient"]], part["y"].to_numpy(), proba
        )
        for part, proba in (test, val)
    ]
    summary = trial_summary(
        fold,
        name,
        frames[0],
        _records(fold, combo, plant),
        sizing=sizing,
        config=cfg.to_dict(),
        started=0.0,
        val=frames[1],
    )
    summary["seconds"] = 1.0
    if is_baseline(combo):
        summary["baseline"] = {"C": 0.01, "image_size": 16, "downscaled": True}
    write_trial(layout.trial(fold, name), summary, frames[0])


def _records(fold: int, combo: str, plant: dict) -> dict:
    if is_baseline(combo):
        return {}
    stages = [_stage(s, plant.get((fold, combo, s))) for s in ("stage1", "stage2")]
    pretrain = {
        m: _stage(f"pretrain_{m}", plant.get((fold, combo, f"pretrain_{m}")))
        for m in image_modalities(parse_combo(combo))
    }
    return {"pretrain": pretrain, "stages": stages} if pretrain else {}


def _stage(name: str, verdicts: list[str] | None) -> dict:
    epochs = 4
    history = {
        "loss": list(np.linspace(1.0, 0.6, epochs)),
        "kappa": list(np.linspace(0.1, 0.5, epochs)),
        "val_loss": list(np.linspace(1.0, 0.8, epochs)),
        "val_kappa": list(np.linspace(0.05, 0.3, epochs)),
    }
    record = stage_record(
        stage=name,
        epochs_run=epochs,
        best_epoch=epochs,
        val_kappa=0.3,
        train_kappa=0.5,
        start_val_kappa=0.0,
        steps_per_epoch=3,
        verdicts=verdicts or ["ok"],
        history=history,
    )
    return record.to_dict()


def _data_summary(demo: Path, sets: pd.DataFrame) -> dict:
    return {
        "root": str(demo),
        "patients": int(sets["patient"].nunique()),
        "patients_with_images": int(sets["patient"].nunique()),
        "assessments": int(sets["assessment_id"].nunique()),
        "assessments_with_images": int(sets["assessment_id"].nunique()),
        "image_sets": len(sets),
        "classes": {"assessments": {"I": 1, "P": 2, "R": 3}},
        "skips": {"no metadata row": {"count": 2, "examples": ["Depth_RGB/x.png"]}},
        "zoom_cost": {"image_sets": 3, "assessments": 1},
    }


# --- real trials, in this process --------------------------------------------------------

_TRAINED: dict[tuple, RunLayout] = {}


def trained_run(root: Path, demo: Path, combos: list[str]) -> RunLayout:
    """A real run: the search's plan, executed in this process (``dfu.runs.local``), with its
    results, report and bundle; memoised per (demo, combos), so a session's modules share it."""
    key = (str(demo), tuple(combos))
    if key not in _TRAINED:
        from dfu.runs.local import execute_local
        from dfu.runs.run import search

        cfg = load_config(
            TINY_CONFIG,
            [
                f"data.root={demo}",
                f"data.cache_dir={root / 'cache'}",
                f"search.combinations={json.dumps(combos)}",
                f"search.storage={root}",
                "search.name=run",
            ],
        )
        outcome = search(cfg, lambda run: (execute_local(run, write=lambda _: None), {}))
        assert not outcome.failed, outcome.record["errors"]
        _TRAINED[key] = outcome.layout
    return _TRAINED[key]


def unlabelled_copy(demo: Path, out: Path) -> Path:
    """The demo with the label and label-derived columns dropped (images symlinked, no oracle)."""
    from dfu.data.schema import LABEL_COLUMN, LEAK_COLUMNS

    out.mkdir(parents=True)
    for item in demo.iterdir():
        if item.is_dir() and item.name != "_oracle":
            (out / item.name).symlink_to(item.resolve(), target_is_directory=True)
        elif item.suffix == ".csv":
            table = pd.read_csv(item, dtype=str, keep_default_na=False)
            table.drop(columns=[LABEL_COLUMN, *LEAK_COLUMNS], errors="ignore").to_csv(
                out / item.name, index=False
            )
    return out


def metadata_run(root: Path, demo: Path) -> RunLayout:
    """Clinical data only: real trials without TensorFlow (seconds)."""
    return trained_run(root, demo, ["metadata"])
