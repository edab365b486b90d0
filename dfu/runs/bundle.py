"""A trained combination packed for new patients: the fold models of a run, in one folder
(its files: ``dfu.store.layout.BundleLayout``).

Each fold's model was trained without that fold's patients; none saw all patients. A new
patient gets the average of the fold models' probabilities (per image set, then averaged
per assessment, as the report scores them), so the bundle predicts like the validated
models did and nothing is refitted on the test folds.

The forest is the very pipeline each fold's trials used (``folds/fold{k}/metadata_model
.joblib``, saved by the fold's metadata unit), never a refit; the Keras weights are the
trial's own (``model_weights.h5`` in its folder).
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from dfu.combos import (
    Combo,
    combo_name,
    has_metadata,
    image_modalities,
    parse_combinations,
    parse_combo,
)
from dfu.config import Config, load_config
from dfu.constants import CLASSES, PROBA_COLUMNS
from dfu.data.cache import Cache
from dfu.data.errors import DataError
from dfu.evaluation.results import RunError, read_trials
from dfu.evaluation.selection import choose, most_chosen
from dfu.store.layout import BUNDLE_FILE, MODEL_WEIGHTS_FILE, TRIAL_FILE, BundleLayout, RunLayout

ID_COLUMNS = ["set_id", "assessment_id", "patient", "appt", "dfu"]
# Where the forest's classes lived when older runs and bundles pickled them (a pickle names a
# class by its module): those files still load.
PICKLED_MODULES = {"dfu.metadata_model": "dfu.models.metadata"}


def load_model(path: Path):
    """A fitted model saved with joblib, by this version or one before its modules moved."""
    for old, new in PICKLED_MODULES.items():
        sys.modules.setdefault(old, importlib.import_module(new))
    return joblib.load(path)


def best_combo(layout: RunLayout, cfg: Config) -> str:
    """The combination inner validation chose in most outer folds (``dfu.evaluation.selection``;
    ties: the better mean inner-val kappa). Never chosen on test scores.

    Candidates are the configured combinations: not the ensemble (several models, not one
    combination's), not a linear baseline."""
    names = [combo_name(c) for c in parse_combinations(cfg.search.combinations)]
    results = read_trials(layout, cfg.outer_folds(), names)
    if results.empty:
        raise RunError(f"{layout.root}: no finished trial to choose from")
    return most_chosen(choose(results, names), results)


def save_bundle(
    run_dir: str | Path, combo: str | None = None, out_dir: str | Path | None = None
) -> Path:
    """Pack ``combo`` (default: ``best_combo``, chosen on inner validation) of a run into
    ``out_dir`` (default ``<run>/bundle``); returns the bundle folder. ValueError names what is
    missing."""
    layout = RunLayout(Path(run_dir).expanduser().resolve())
    cfg = load_config(layout.config)
    chosen = parse_combo(combo or best_combo(layout, cfg))
    folds = [k for k in cfg.outer_folds() if (layout.trial(k, chosen) / TRIAL_FILE).exists()]
    if not folds:
        raise ValueError(f"{layout.root}: no finished trial of {combo_name(chosen)}")
    out = Path(out_dir) if out_dir else layout.bundle
    tmp = BundleLayout(out.with_name(f".{out.name}.tmp"))  # whole or nothing under the final name
    shutil.rmtree(tmp.root, ignore_errors=True)
    try:
        columns = _write_models(layout, cfg, chosen, folds, tmp)
        cfg.save(tmp.config)
        info = {
            "combo": combo_name(chosen),
            "folds": folds,
            "classes": list(CLASSES),
            **columns,
            "run": str(layout.root),
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        tmp.info.write_text(json.dumps(info, indent=1))
        shutil.rmtree(out, ignore_errors=True)
        tmp.root.rename(out)
    finally:
        shutil.rmtree(tmp.root, ignore_errors=True)
    return out


def _write_models(
    layout: RunLayout, cfg: Config, combo: Combo, folds: list[int], out: BundleLayout
) -> dict:
    """Per fold: Keras weights and/or the metadata model into ``out``'s fold folders; returns
    the metadata model's feature columns."""
    columns: dict = {"numeric_columns": [], "categorical_columns": []}
    for k in folds:
        out.fold_dir(k).mkdir(parents=True, exist_ok=True)
    if image_modalities(combo):  # first: a missing file fails before any refit
        _copy_weights(layout, combo, folds, out)
    if has_metadata(combo):
        models = _metadata_models(layout, folds)
        for k, model in models.items():
            joblib.dump(model, out.metadata_model(k))
        for key in columns:
            columns[key] = list(getattr(models[folds[0]], key, None) or [])
    return columns


def _metadata_models(layout: RunLayout, folds: list[int]) -> dict:
    """fold -> the random-forest pipeline the fold's trials used (saved by its metadata unit)."""
    models = {}
    for k in folds:
        path = layout.fold_metadata_model(k)
        if not path.exists():
            raise RunError(
                f"{path}: missing; it is written by the fold's metadata unit (rerun the search "
                "to finish it)"
            )
        models[k] = load_model(path)
    return models


def _copy_weights(layout: RunLayout, combo: Combo, folds: list[int], out: BundleLayout) -> None:
    for k in folds:
        source = layout.trial(k, combo) / MODEL_WEIGHTS_FILE
        if not source.exists():
            raise ValueError(
                f"{source}: missing; the trial must save its Keras weights there "
                "(model.save_weights) for its combination to be bundled"
            )
        shutil.copy2(source, out.weights(k))


@dataclass
class Bundle:
    path: Path
    combo: Combo
    cfg: Config
    folds: list[int]
    numeric_columns: list[str]
    categorical_columns: list[str]
    metadata_models: dict  # fold -> fitted metadata model (combinations with metadata)

    @property
    def modalities(self) -> tuple[str, ...]:
        """Image modalities whose folders new data must have."""
        return image_modalities(self.combo)

    def predict_sets(self, cache: Cache, folds: list[int] | None = None) -> pd.DataFrame:
        """Per image set: ids and the fold models' mean probabilities (``folds``: a subset)."""
        folds = self.folds if folds is None else folds
        sets = cache.index[ID_COLUMNS].reset_index(drop=True)
        metadata = self._metadata_inputs(cache, sets, folds)
        model = self._keras_model() if self.modalities else None
        total = np.zeros((len(sets), len(CLASSES)))
        for k in folds:
            if model is None:
                total += metadata[k]
                continue
            model.load_weights(str(BundleLayout(self.path).weights(k)))
            inputs = {m: cache.images[m] for m in self.modalities}
            if has_metadata(self.combo):
                inputs["metadata"] = metadata[k]
            total += model.predict(inputs, batch_size=self.cfg.training.batch_size, verbose=0)
        out = sets.copy()
        out[PROBA_COLUMNS] = total / len(folds)
        return out

    def predict(self, cache: Cache) -> pd.DataFrame:
        """Per assessment: ids, mean probabilities over its image sets, predicted phase."""
        sets = self.predict_sets(cache)
        groups = sets.groupby("assessment_id", sort=True)
        out = groups[["patient", "appt", "dfu"]].first().join(groups[PROBA_COLUMNS].mean())
        out["predicted_phase"] = np.asarray(CLASSES)[out[PROBA_COLUMNS].to_numpy().argmax(axis=1)]
        return out.reset_index()

    def _metadata_inputs(self, cache: Cache, sets: pd.DataFrame, folds) -> dict[int, np.ndarray]:
        """fold -> (sets, 3) float32 forest probabilities of each set's assessment."""
        if not has_metadata(self.combo):
            return {}
        columns = [*self.numeric_columns, *self.categorical_columns]
        missing = [c for c in columns if c not in cache.assessments.columns]
        if missing:
            raise DataError(
                f"metadata column {missing[0]!r} is missing; the bundle's "
                f"{combo_name(self.combo)} model needs it"
            )
        rows = cache.assessments.set_index("assessment_id").loc[sets["assessment_id"].unique()]
        out = {}
        for k in folds:
            proba = pd.DataFrame(self.metadata_models[k].predict_proba(rows), index=rows.index)
            # float32, as the trial fed them to its model (dfu.cv.fold_data.fold_arrays)
            out[k] = proba.loc[sets["assessment_id"]].to_numpy(np.float32)
        return out

    def _keras_model(self):
        from dfu.models.fusion import combo_model

        cfg = self.cfg
        return combo_model(self.combo, cfg.model, cfg.data.image_size)


def load_bundle(path: str | Path) -> Bundle:
    files = BundleLayout(Path(path))
    if not files.info.exists():
        raise DataError(
            f"not a bundle (no {BUNDLE_FILE}; make one with dfu.runs.bundle.save_bundle)",
            file=str(files.root),
        )
    info = json.loads(files.info.read_text())
    if info["classes"] != list(CLASSES):
        raise DataError(
            f"classes {info['classes']} differ from this version's {list(CLASSES)}",
            file=str(files.info),
        )
    combo = parse_combo(info["combo"])
    folds = [int(k) for k in info["folds"]]
    models = {}
    if has_metadata(combo):
        models = {k: load_model(files.metadata_model(k)) for k in folds}
    cfg = load_config(files.config)
    columns = info["numeric_columns"], info["categorical_columns"]
    return Bundle(files.root, combo, cfg, folds, *columns, models)
