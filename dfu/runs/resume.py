"""Whether an existing run may resume: the same science settings, the same data, the same folds.

A run's folder keeps its config (``config.yaml``), fold manifest (``folds.csv``) and data
fingerprint (``run.json``). A rerun with the same name resumes only if none of them changed
in a way that would change what a finished unit computed; otherwise it stops, saying what
changed, touching nothing.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import yaml

from dfu.config import Config, ConfigError
from dfu.cv.folds import load_manifest, make_fold_manifest
from dfu.evaluation.results import RunError
from dfu.store.layout import RunLayout
from dfu.store.records import read_json

# Settings that do not change what a unit computes: a run may resume with them changed.
RESUMABLE_KEYS = {"search", "report", "data.cache_dir", "data.workers", "metadata.n_jobs"}


def manifest(layout: RunLayout, study: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """The run's own fold manifest when resuming, else made from the config's seed."""
    if layout.folds.exists() and layout.config.exists():
        return load_manifest(layout.folds)
    return make_fold_manifest(study, cfg.folds.n_folds, cfg.folds.seed)


def fingerprint(cache, manifest: pd.DataFrame) -> dict:
    """What a resumed run must find unchanged: the data (cache key, image sets, patients) and
    the folds (the manifest's hash)."""
    folds_csv = manifest[["patient", "fold"]].to_csv(index=False).encode()
    return {
        "cache_key": cache.summary["cache"]["key"],
        "folds_sha256": hashlib.sha256(folds_csv).hexdigest(),
        "image_sets": sorted(cache.index["set_id"].astype(str)),
        "patients": sorted(int(p) for p in cache.index["patient"].unique()),
    }


def check_resumable(layout: RunLayout, cfg: Config, now: dict) -> None:
    """An existing run resumes only with the same science settings (``search.*`` may change),
    the same data and the same folds; otherwise stop, saying what changed, touching nothing."""
    check_settings(layout, cfg)
    old = read_json(layout.fingerprint)
    if old is not None and old["cache_key"] != now["cache_key"]:
        raise RunError(
            f"run {layout.root} was made with other data: {_data_change(old, now)}; "
            "use a new --name for the new data"
        )
    if old is not None and old["folds_sha256"] != now["folds_sha256"]:
        raise RunError(
            f"run {layout.root}: its folds.csv changed since the run began; restore "
            "it or use a new --name"
        )


def check_settings(layout: RunLayout, cfg: Config) -> None:
    """The run's saved config against ``cfg``, key by key (``RESUMABLE_KEYS`` aside). A key the
    saved config lacks (a run made before the key existed) counts as its default."""
    if not layout.config.is_file():
        return
    defaults = _flatten(Config().to_dict())
    before = {**defaults, **_flatten(yaml.safe_load(layout.config.read_text()))}
    after = _flatten(cfg.to_dict())
    for key in sorted(set(before) | set(after)):
        if key.split(".")[0] in RESUMABLE_KEYS or key in RESUMABLE_KEYS:
            continue
        if before.get(key) != after.get(key):
            raise ConfigError(
                f"{key}: run {layout.root} was made with {before.get(key)!r}, this config has "
                f"{after.get(key)!r}; resume with the same settings or choose another --name"
            )


def _data_change(old: dict, now: dict) -> str:
    parts = []
    for what, key in (("image sets", "image_sets"), ("patients", "patients")):
        added = len(set(now[key]) - set(old[key]))
        removed = len(set(old[key]) - set(now[key]))
        parts += [f"{added} {what} added"] if added else []
        parts += [f"{removed} {what} removed"] if removed else []
    return ", ".join(parts) or "the same image sets and patients, but changed files"


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
