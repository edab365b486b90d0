"""A trained combination packed for new patients: the fold models of a run, in one folder.

    <bundle>/bundle.json                  combination, folds, class order, feature columns
    <bundle>/config.yaml                  the run's config (image size, model shape, ...)
    <bundle>/fold{k}/metadata_model.joblib  the fold's random-forest Pipeline (with metadata)
    <bundle>/fold{k}/model.weights.h5       the fold's Keras weights (with images)

Each fold's model was trained without that fold's patients; none saw all patients. A new
patient gets the average of the fold models' probabilities (per image set, then averaged
per assessment, as the report scores them), so the bundle predicts like the validated
models did and nothing is refitted on the test folds.

The forest is the very pipeline each fold's trials used (``folds/fold{k}/metadata_model
.joblib``, saved by the fold's metadata unit), never a refit; the Keras weights are the
trial's own (``model.weights.h5`` in its folder).
"""

from __future__ import annotations

import json
import shutil
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
from dfu.config import CLASSES, Config, load_config
from dfu.data.cache import Cache
from dfu.data.errors import DataError
from dfu.metrics import PROBA_COLUMNS
from dfu.report_data import configured_folds
from dfu.results import RunError, read_trials
from dfu.run_layout import RunLayout
from dfu.selection import choose, most_chosen
from dfu.trial_output import MODEL_WEIGHTS_FILE, TRIAL_FILE

BUNDLE_FILE = "bundle.json"
CONFIG_FILE = "config.yaml"
METADATA_MODEL_FILE = "metadata_model.joblib"  # also looked for in each trial folder
WEIGHTS_FILE = MODEL_WEIGHTS_FILE  # written by a trial into its folder (dfu.trial_output)
ID_COLUMNS = ["set_id", "assessment_id", "patient", "appt", "dfu"]


def best_combo(layout: RunLayout, cfg: Config) -> str:
    """The combination inner validation chose in most outer folds (``dfu.selection``; ties:
    the better mean inner-val kappa). Never chosen on test scores.

    Candidates are the configured combinations: not the ensemble (several models, not one
    combination's), not a linear baseline."""
    names = [combo_name(c) for c in parse_combinations(cfg.search.combinations)]
    results = read_trials(layout, configured_folds(cfg), names)
    if results.empty:
        raise RunError(f"{layout.root}: no finished trial to choose from")
    return most_chosen(choose(results, names), results)


def save_bundle(run_dir: str | Path, combo: str | None = None,
                out_dir: str | Path | None = None) -> Path:  # fmt: skip
    """Pack ``combo`` (default: ``best_combo``, chosen on inner validation) of a run into ``out_dir``
    (default ``<run>/bundle``); returns the bundle folder. ValueError names what is missing."""
    layout = RunLayout(Path(run_dir).expanduser().resolve())
    cfg = load_config(layout.config)
    chosen = parse_combo(combo or best_combo(layout, cfg))
    folds = [k for k in configured_folds(cfg) if (layout.trial(k, chosen) / TRIAL_FILE).exists()]
    if not folds:
        raise ValueError(f"{layout.root}: no finished trial of {combo_name(chosen)}")
    out = Path(out_dir) if out_dir else layout.root / "bundle"
    tmp = out.with_name(f".{out.name}.tmp")  # whole or nothing under the final name
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        columns = _write_models(layout, cfg, chosen, folds, tmp)
        cfg.save(tmp / CONFIG_FILE)
        info = {"combo": combo_name(chosen), "folds": folds, "classes": list(CLASSES), **columns,
                "run": str(layout.root), "created": time.strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip
        (tmp / BUNDLE_FILE).write_text(json.dumps(info, indent=1))
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _write_models(layout: RunLayout, cfg: Config, combo: Combo, folds: list[int],
                  out: Path) -> dict:  # fmt: skip
    """Per fold: Keras weights and/or the metadata model into ``out/fold{k}``; returns the
    metadata model's feature columns."""
    columns: dict = {"numeric_columns": [], "categorical_columns": []}
    for k in folds:
        (out / f"fold{k}").mkdir(parents=True, exist_ok=True)
    if image_modalities(combo):  # first: a missing file fails before any refit
        _copy_weights(layout, combo, folds, out)
    if has_metadata(combo):
        models = _metadata_models(layout, folds)
        for k, model in models.items():
            joblib.dump(model, out / f"fold{k}" / METADATA_MODEL_FILE)
        for key in columns:
            columns[key] = list(getattr(models[folds[0]], key, None) or [])
    return columns


def _metadata_models(layout: RunLayout, folds: list[int]) -> dict:
    """fold -> the random-forest pipeline the fold's trials used (saved by its metadata unit)."""
    models = {}
    for k in folds:
        path = layout.fold_metadata_model(k)
        if not path.exists():
            raise RunError(f"{path}: missing; it is written by the fold's metadata unit (rerun the "
                           "search to finish it)")  # fmt: skip
        models[k] = joblib.load(path)
    return models


def _copy_weights(layout: RunLayout, combo: Combo, folds: list[int], out: Path) -> None:
    for k in folds:
        source = layout.trial(k, combo) / WEIGHTS_FILE
        if not source.exists():
            raise ValueError(f"{source}: missing; the trial must save its Keras weights there "
                             "(model.save_weights) for its combination to be bundled")  # fmt: skip
        shutil.copy2(source, out / f"fold{k}" / WEIGHTS_FILE)


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
            model.load_weights(str(self.path / f"fold{k}" / WEIGHTS_FILE))
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
            raise DataError(f"metadata column {missing[0]!r} is missing; the bundle's "
                            f"{combo_name(self.combo)} model needs it")  # fmt: skip
        rows = cache.assessments.set_index("assessment_id").loc[sets["assessment_id"].unique()]
        out = {}
        for k in folds:
            proba = pd.DataFrame(self.metadata_models[k].predict_proba(rows), index=rows.index)
            # float32, as the trial fed them to its model (dfu.fold_data.fold_arrays)
            out[k] = proba.loc[sets["assessment_id"]].to_numpy(np.float32)
        return out

    def _keras_model(self):
        from dfu.models import combo_model

        cfg = self.cfg
        return combo_model(self.combo, cfg.model, cfg.data.image_size)


def load_bundle(path: str | Path) -> Bundle:
    path = Path(path)
    if not (path / BUNDLE_FILE).exists():
        raise DataError(f"not a bundle (no {BUNDLE_FILE}; make one with dfu.bundle.save_bundle)",
                        file=str(path))  # fmt: skip
    info = json.loads((path / BUNDLE_FILE).read_text())
    if info["classes"] != list(CLASSES):
        raise DataError(f"classes {info['classes']} differ from this version's {list(CLASSES)}",
                        file=str(path / BUNDLE_FILE))  # fmt: skip
    combo = parse_combo(info["combo"])
    folds = [int(k) for k in info["folds"]]
    models = ({k: joblib.load(path / f"fold{k}" / METADATA_MODEL_FILE) for k in folds}
              if has_metadata(combo) else {})  # fmt: skip
    return Bundle(path, combo, load_config(path / CONFIG_FILE), folds, info["numeric_columns"],
                  info["categorical_columns"], models)  # fmt: skip
