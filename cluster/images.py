"""The image crops as Ray Datasets: read once from the Parquet cache, shared by every trial.

One materialized dataset per image modality (``set_id`` + that modality's tensor column):
the object store holds each crop once, whatever the number of folds, and a trial reads only
its own modalities. A trial iterates its datasets as they are: a materialized dataset needs no
Ray Data task to read (a projection would, and could wait forever for a CPU that the running
trials hold). The rows are then put in the cache index's order, the order every
``dfu.cv.fold_data`` array follows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import ray

from dfu.data.cache import image_sets_file


def image_datasets(cache: Path, modalities) -> dict[str, ray.data.Dataset]:
    path = str(image_sets_file(cache))
    return {m: ray.data.read_parquet(path, columns=["set_id", m]).materialize() for m in modalities}


def read_images(sources: dict, modalities, index: pd.DataFrame) -> dict[str, np.ndarray]:
    """modality -> (N, S, S, 3) crops in ``index`` order. ``sources``: a modality's Ray Dataset
    or, inside a Train run, its dataset shard (both iterate the same way)."""
    return {m: _column(sources[m], m, index["set_id"]) for m in modalities}


def _column(source, modality: str, order: pd.Series) -> np.ndarray:
    ids, parts = [], []
    for batch in source.iter_batches(batch_size=None, batch_format="numpy"):
        ids.append(batch["set_id"])
        parts.append(batch[modality])
    where = pd.Index(np.concatenate(ids)).get_indexer(order)
    if (where < 0).any():
        raise RuntimeError(
            f"{modality}: image set {order[where < 0].iloc[0]} is not in its "
            "dataset: the cache and the run disagree"
        )
    crops = np.concatenate(parts)
    return crops if np.array_equal(where, np.arange(len(crops))) else crops[where]
