"""The image crops as Ray Datasets: read once from the Parquet cache, shared by every trial.

One dataset per image modality (``set_id`` + that modality's tensor column), made in the
driver from the cache's Arrow table (``ray.data.from_arrow``: no Ray Data execution, so no
stats or autoscaling actors, ~250 MiB less than ``read_parquet`` + ``materialize``): the
object store holds each crop once, whatever the number of folds, and a trial reads only its
own modalities. A trial in this node's process reads a dataset's blocks straight from the
object store (``to_arrow_refs``: zero-copy, no task that could wait for a CPU the running
trials hold); a Train worker of a worker group iterates its shard. Rows are then put in the
cache index's order, the order every ``dfu.cv.fold_data`` array follows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import ray

from dfu.data.cache import image_sets_file


def image_datasets(cache: Path, modalities) -> dict[str, ray.data.Dataset]:
    path = image_sets_file(cache)
    return {m: ray.data.from_arrow(pq.read_table(path, columns=["set_id", m])) for m in modalities}


def read_images(sources: dict, modalities, index: pd.DataFrame) -> dict[str, np.ndarray]:
    """modality -> (N, S, S, 3) crops in ``index`` order. ``sources``: a modality's Ray Dataset
    or, inside a Train run, its dataset shard (both iterate the same way)."""
    return {m: _column(sources[m], m, index["set_id"]) for m in modalities}


def _column(source, modality: str, order: pd.Series) -> np.ndarray:
    ids, parts = (
        _blocks(source, modality)
        if hasattr(source, "to_arrow_refs")
        else _batches(source, modality)
    )
    where = pd.Index(np.concatenate(ids)).get_indexer(order)
    if (where < 0).any():
        raise RuntimeError(
            f"{modality}: image set {order[where < 0].iloc[0]} is not in its "
            "dataset: the cache and the run disagree"
        )
    crops = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return crops if np.array_equal(where, np.arange(len(crops))) else crops[where]


def _blocks(dataset, modality: str) -> tuple[list, list]:
    """A dataset's Arrow blocks from the object store, without running Ray Data."""
    tables = ray.get(dataset.to_arrow_refs())
    ids = [t.column("set_id").to_numpy() for t in tables]
    return ids, [t.column(modality).combine_chunks().to_numpy_ndarray() for t in tables]


def _batches(shard, modality: str) -> tuple[list, list]:
    """A Train worker's dataset shard, batch by batch."""
    ids, parts = [], []
    for batch in shard.iter_batches(batch_size=None, batch_format="numpy"):
        ids.append(batch["set_id"])
        parts.append(batch[modality])
    return ids, parts
