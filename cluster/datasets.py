"""Per-fold Ray Datasets, built once in the driver and shared by every trial of that fold.

One ``FoldData`` per outer fold holds the train / inner-val / test splits as materialized
Ray Datasets (Arrow blocks in the object store) plus the fold's ``FoldContext`` stripped of
its images (ids, labels, metadata probabilities, ``Sizing``). ``tune.with_parameters``
ships them to every trial by reference: no trial rebuilds or copies a dataset.

Columns: ``set_id``, ``assessment_id``, ``patient``, ``label`` (int), ``metadata`` (3 floats:
the random forest's class probabilities) and one (S, S, 3) uint8 tensor column per image
modality that some pending trial of the fold uses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import ray
from ray.data.extensions import ArrowTensorArray

from cluster.columns import ID_COLUMNS, LABEL, METADATA_INPUT
from dfu.experiment import FoldContext
from dfu.fold_data import SPLITS, SplitArrays
from dfu.sizing import Sizing

# Blocks of ~64 MiB: big enough to stream efficiently, small enough to spread over nodes.
BLOCK_BYTES = 64 * 2**20


@dataclass
class FoldData:
    """What every trial of one fold reads; built once by ``build_fold_data``."""

    context: FoldContext  # without image arrays (see ``without_images``)
    datasets: dict[str, ray.data.Dataset]  # split -> materialized dataset; empty if no images

    @property
    def fold(self) -> int:
        return self.context.fold

    @property
    def sizing(self) -> Sizing:
        return self.context.sizing


def build_fold_data(context: FoldContext, modalities) -> FoldData:
    """Materialize the fold's splits with the image columns that ``modalities`` need."""
    datasets = {}
    if modalities:
        columns = [METADATA_INPUT, *modalities]
        datasets = {s: split_dataset(context.arrays[s], columns) for s in SPLITS}
    return FoldData(without_images(context), datasets)


def split_dataset(arrays: SplitArrays, columns) -> ray.data.Dataset:
    return ray.data.from_arrow(blocks(split_table(arrays, columns))).materialize()


def split_table(arrays: SplitArrays, columns) -> pa.Table:
    """ids, integer label and tensor columns (``ray.data.from_numpy`` on a dict garbles them)."""
    data = {c: pa.array(arrays.ids[c].to_numpy()) for c in ID_COLUMNS}
    data[LABEL] = pa.array(np.asarray(arrays.labels, dtype=np.int64))
    for column in columns:
        data[column] = ArrowTensorArray.from_numpy(np.ascontiguousarray(arrays.inputs[column]))
    return pa.table(data)


def blocks(table: pa.Table) -> list[pa.Table]:
    rows = max(1, BLOCK_BYTES * table.num_rows // max(table.nbytes, 1))
    return [table.slice(start, rows) for start in range(0, max(table.num_rows, 1), rows)]


def without_images(context: FoldContext) -> FoldContext:
    """The context with only metadata inputs: small enough to ship to every trial."""
    arrays = {s: SplitArrays(a.ids, a.labels, {METADATA_INPUT: a.inputs[METADATA_INPUT]})
              for s, a in context.arrays.items()}  # fmt: skip
    return dataclasses.replace(context, arrays=arrays)
