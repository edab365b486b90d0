"""Helpers for the Ray engine's tests: a tiny search config and a local Ray that always stops."""

from __future__ import annotations

import contextlib
from pathlib import Path

import ray

from cluster.connect import ENV_VARS
from dfu.config import Config

# One epoch per stage on 16x16 images, 2 folds: the real code path, as small as it gets.
TINY_SEARCH = (
    "data.image_size=16",
    "folds.n_folds=2",
    "folds.inner_val_fraction=0.25",
    "metadata.n_estimators=20",
    "metadata.oof_folds=2",
    "training.pretrain.epochs=1",
    "training.stage1.epochs=1",
    "training.stage2.epochs=1",
    "model.filters=[4]",
    "model.head_units=8",
)


def search_config(base: Config, data: Path, storage: Path, *overrides: str, name: str = "t") -> Config:
    cfg = base.replace(f"data.root={data}", f"search.storage={storage}", *TINY_SEARCH, *overrides)
    cfg.search.name = name
    return cfg


@contextlib.contextmanager
def local_ray(num_cpus: int = 2, **env_vars: str):
    """A fresh local Ray (never one somebody else started), shut down whatever happens."""
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {**ENV_VARS, **env_vars}})  # fmt: skip
    try:
        yield
    finally:
        ray.shutdown()


def mtimes(root: Path, pattern: str) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob(pattern)}
