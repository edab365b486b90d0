"""The Parquet cache: every image set's crops as uint8 tensors, built once per dataset state.

``<cfg.cache_dir>/<key>/`` holds
- ``image_sets.parquet``: ids, label, ``label_idx`` (index in ``CLASSES``, -1 unlabelled),
  ``match_step``, and one ``pa.FixedShapeTensorArray`` column (S, S, 3) uint8 per image
  modality, named like the modality. Ray Data reads it with ``read_parquet``; pyarrow
  reads it back with ``to_numpy_ndarray()``.
- ``assessments.parquet``: the metadata table as the reader returns it.
- ``summary.json``: the reader's summary, every skip, and how the cache was built.
- ``config.yaml``: the data config used (loadable with ``load_config``).

The key hashes the CSVs' contents, each image file's name, size and mtime, the image size
and feature settings, and ``CACHE_VERSION``: any change to the data or to these settings
gives a new directory, and an unchanged dataset is never rebuilt. A build is written into
a temporary sibling directory and renamed into place, so an interrupted build never
leaves a half cache behind under the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from dfu.config import DataConfig
from dfu.constants import CLASSES, IMAGE_MODALITIES
from dfu.data import schema
from dfu.data.errors import DataError
from dfu.data.images import load_crops
from dfu.data.workers import process_pool, worker_count
from dfu.data.zivot import ZivotData, dataset_paths, read_zivot

# Bump when the cache's content or layout changes, so old caches are not reused.
CACHE_VERSION = 2
KEY_LENGTH = 16  # hex characters of the sha256 used as directory name
INDEX_COLUMNS = (*schema.IMAGE_SET_IDS, "label_idx", "match_step")
_CHUNKS_PER_WORKER = 4
_MAX_CHUNK = 64


@dataclass
class Cache:
    """A loaded cache: row i of ``index`` is row i of every ``images[modality]``."""

    index: pd.DataFrame
    images: dict[str, np.ndarray]  # modality -> (N, S, S, 3) uint8
    assessments: pd.DataFrame
    summary: dict[str, Any]
    path: Path


def cache_key(cfg: DataConfig, root: str | Path | None = None, require_labels: bool = True) -> str:
    """Hash of everything the cache content depends on (cheap: file stats, not pixels)."""
    paths = dataset_paths(cfg, root)
    digest = hashlib.sha256()
    settings = {
        "version": CACHE_VERSION,
        "image_size": cfg.image_size,
        "include_treatment": cfg.include_treatment,
        "feature_columns": cfg.feature_columns,
        "exclude_columns": cfg.exclude_columns,
        "require_labels": require_labels,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for path in (paths.metadata, *paths.bbox.values()):
        digest.update(f"\n{path.name}\n".encode())
        digest.update(path.read_bytes())
    for modality, folder in sorted(paths.folders.items()):
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            stat = entry.stat()
            digest.update(f"\n{modality}/{entry.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:KEY_LENGTH]


def image_sets_file(path: str | Path) -> Path:
    """The Parquet file of a cache directory (what Ray Data reads)."""
    return Path(path) / "image_sets.parquet"


def build_cache(
    cfg: DataConfig,
    root: str | Path | None = None,
    progress: bool = True,
    require_labels: bool = True,
) -> Path:
    """The cache directory for this dataset state, built unless it already exists."""
    key = cache_key(cfg, root, require_labels)
    final = Path(cfg.cache_dir).expanduser().resolve() / key
    if _complete(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.building-", dir=final.parent))
    try:
        start = time.time()
        data = read_zivot(cfg, root, require_labels=require_labels)
        _write_image_sets(tmp / "image_sets.parquet", data, cfg, progress)
        pq.write_table(
            pa.Table.from_pandas(data.assessments, preserve_index=False),
            tmp / "assessments.parquet",
        )
        _write_summary(tmp, data, cfg, key, time.time() - start)
        tmp.chmod(0o755)  # mkdtemp makes it private; a cache is as readable as its dataset
        _publish(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _complete(path: Path) -> bool:
    # Directories under a key only ever appear by rename of a finished build.
    return (path / "summary.json").is_file()


def _publish(tmp: Path, final: Path) -> None:
    try:
        os.rename(tmp, final)
    except OSError:
        if not _complete(final):  # not a concurrent build that finished first
            raise


def _write_summary(tmp: Path, data: ZivotData, cfg: DataConfig, key: str, seconds: float) -> None:
    summary = {
        **data.summary,
        "skip_list": [dataclasses.asdict(s) for s in data.skips],
        "cache": {
            "key": key,
            "version": CACHE_VERSION,
            "image_size": cfg.image_size,
            "build_seconds": round(seconds, 2),
        },
    }
    (tmp / "summary.json").write_text(json.dumps(summary, indent=1))
    used = dataclasses.replace(cfg, root=data.summary["root"])
    (tmp / "config.yaml").write_text(yaml.safe_dump({"data": dataclasses.asdict(used)}))


def _write_image_sets(path: Path, data: ZivotData, cfg: DataConfig, progress: bool) -> None:
    """Stream chunks of crops into one Parquet file: memory stays at a few chunks."""
    size = cfg.image_size
    tensor = pa.fixed_shape_tensor(pa.uint8(), (size, size, 3))
    arrow = pa.schema(
        [
            ("set_id", pa.string()),
            ("assessment_id", pa.string()),
            ("patient", pa.int64()),
            ("appt", pa.int64()),
            ("dfu", pa.int64()),
            ("label", pa.string()),
            ("label_idx", pa.int64()),
            ("match_step", pa.int64()),
            *((m, tensor) for m in IMAGE_MODALITIES),
        ]
    )
    index = _index(data.image_sets)
    total, start, shown = len(index), time.time(), 0.0
    with pq.ParquetWriter(path, arrow) as writer:
        if total == 0:
            writer.write_table(arrow.empty_table())
        done = 0
        for lo, crops in _crops(data.image_sets, size, worker_count(cfg)):
            part = index.iloc[lo : lo + len(crops[IMAGE_MODALITIES[0]])]
            columns = {c: pa.array(part[c].tolist(), arrow.field(c).type) for c in INDEX_COLUMNS}
            for m in IMAGE_MODALITIES:
                columns[m] = pa.FixedShapeTensorArray.from_numpy_ndarray(crops[m])
            writer.write_table(pa.table(columns, schema=arrow))
            done += len(part)
            if progress and (time.time() - shown >= 1.0 or done == total):
                shown = time.time()
                print(
                    f"cache: {done}/{total} image sets ({100 * done // total}%) "
                    f"{shown - start:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )


def _index(image_sets: pd.DataFrame) -> pd.DataFrame:
    index = image_sets[[c for c in INDEX_COLUMNS if c != "label_idx"]].copy()
    labels = index["label"].astype(object)
    index["label"] = labels.where(labels.notna(), None)
    index["label_idx"] = [CLASSES.index(v) if v in CLASSES else -1 for v in index["label"]]
    return index[list(INDEX_COLUMNS)].reset_index(drop=True)


def _crops(image_sets: pd.DataFrame, size: int, workers: int) -> Iterator[tuple[int, dict]]:
    """``(first row, crops per modality)`` per chunk, in row order; parallel if workers > 1."""
    rows = image_sets.to_dict("records")
    chunk = max(1, min(_MAX_CHUNK, -(-len(rows) // (workers * _CHUNKS_PER_WORKER))))
    starts = range(0, len(rows), chunk)
    chunks = [rows[lo : lo + chunk] for lo in starts]
    if workers <= 1 or len(chunks) <= 1:
        yield from zip(starts, map(_crop_chunk, chunks, repeat(size)), strict=True)
        return
    with process_pool(min(workers, len(chunks))) as pool:
        yield from zip(starts, pool.map(_crop_chunk, chunks, repeat(size)), strict=True)


def _crop_chunk(rows: list[dict], size: int) -> dict[str, np.ndarray]:
    """Crops of consecutive image sets, stacked per modality; runs in a worker process."""
    crops = [load_crops(row, size) for row in rows]
    return {m: np.stack([c[m] for c in crops]) for m in IMAGE_MODALITIES}


def load_cache(path: str | Path, modalities=IMAGE_MODALITIES) -> Cache:
    """Read a cache directory written by ``build_cache``: the index, the assessments and the
    crops of ``modalities`` (``()``: none, e.g. for a driver whose workers read them)."""
    path = Path(path)
    if not _complete(path):
        raise DataError("no complete cache here (build it with jobs.build_cache)", file=str(path))
    columns = [*INDEX_COLUMNS, *modalities]
    table = pq.read_table(path / "image_sets.parquet", columns=columns)
    images = {m: _tensor(table.column(m), table.schema.field(m).type) for m in modalities}
    index = table.drop_columns(list(modalities)).to_pandas()
    labels = index["label"].astype(object)
    index["label"] = labels.where(labels.notna(), None)
    assessments = pq.read_table(path / "assessments.parquet").to_pandas()
    summary = json.loads((path / "summary.json").read_text())
    return Cache(index, images, assessments, summary, path)


def _tensor(column: pa.ChunkedArray, kind: pa.DataType) -> np.ndarray:
    if len(column) == 0:
        return np.zeros((0, *kind.shape), dtype=np.uint8)
    return column.combine_chunks().to_numpy_ndarray()
