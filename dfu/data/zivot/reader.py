"""Read a dataset in the Zivot layout: validate it, match image sets to assessments.

``read_zivot`` is the one entry point; see ../shared/docs/DATASET.md for the layout. Every
irregularity of the clinic's published files (DATASET.md, last section) is either read as
is or a counted skip; only what makes the data untrustworthy as a whole stops the run.

Fatal (``DataError``; the data cannot be trusted as a whole, so nothing is returned):
- a CSV or image folder is missing (the message names the path and the config key);
- a CSV is empty, has a repeated header name or a row with a different number of fields;
- the metadata CSV lacks a key column, or the label column (unless ``require_labels=False``);
- a label is empty (when labels are required) or not one of I, P, R (line and column);
- a numeric metadata cell (``schema.NUMERIC_FEATURES``, the key columns, ``Appt Days``)
  holds text; key cells must be whole numbers and never empty (line and column);
- with ``data.duplicate_assessments=error`` only: two metadata rows for one (Patient#,
  Appt#, DFU#) that differ in a value other than ``ID`` (both lines and the first
  differing column are named);
- a bounding-box CSV lacks a column the reader uses (``boxes.BBOX_REQUIRED``) or holds text
  or an empty cell in one of its numeric columns (line and column).

Counted skips (``Skip`` records, in ``ZivotData.skips`` and in the summary by reason):
- ``blank_row``: a CSV row whose cells are all empty;
- ``duplicate_row``: a metadata row identical to an earlier one (``ID`` aside): dropped;
- ``conflicting_duplicate_row``: a metadata row repeating an earlier row's (Patient#,
  Appt#, DFU#) with other values (the clinic's file has three, differing in ``Onset
  (Days)``): the first row is kept (with ``data.duplicate_assessments=first``, the
  default); the detail names both lines and every column that differs;
- ``bad_file_name``: a file in an image folder, or a box row's ``Filename``, that does not
  follow the file-name grammar (or names the other camera);
- ``box_key_mismatch``: a box row whose Patient#/Appt# disagree with its file name;
- ``duplicate_box``: a box row identical to an earlier one for the same file and ulcer;
- ``conflicting_boxes``: several different boxes for one file and ulcer (all dropped: which
  one outlines the ulcer is unknown);
- ``missing_image``: a box row whose image file is not in its folder;
- ``missing_map`` / ``ambiguous_map``: no map, or several maps, for the frame (below);
- ``corrupt_image``: a frame or map that cannot be decoded (Pillow open + load; with
  ``check_images=False`` only the header is read, so truncated files pass);
- ``bad_box``: a box that is inverted, has zero area, or lies outside its image;
- ``no_metadata``: an image set whose (Patient#, Appt#, DFU#) has no metadata row;
- ``no_thermal``: no usable thermal view of that ulcer at that visit.
An unusable thermal view (missing file or map, corrupt, bad box) is skipped and counted
on its own row; the matching then falls back to the next thermal view, as if the box
were absent.

Read as is, counted in ``summary["accepted"]`` by kind (``Note`` records in
``ZivotData.notes``; nothing is dropped):
- ``byte_order_mark``, ``crlf_line_ends``, ``not_utf8``: how a CSV file is encoded (the
  clinic's metadata CSV is UTF-8 with a BOM and CRLF line ends);
- ``text_id``: an ``ID`` that is not a number (``8208A``): ``ID`` is a record identifier,
  kept as text and never parsed or used;
- ``zero_padded_key``: a box row whose Patient#/Appt# are zero-padded text ("003", "01"),
  read as numbers (the clinic's depth box file; its thermal file has plain integers);
- ``name_digit_not_dfu``: a box row whose file name's ulcer digit is not its ``DFU#`` (403
  rows of the clinic's depth file, e.g. ``42_P261001ADRW.png`` with DFU# 3). The box row's
  ``DFU#`` is the ulcer; the file name gives only patient, appointment and the shot (its
  token, which pairs the depth frame with its thermal frame and its map).

Maps. A frame's map is the map file with the frame's file name (the clinic's convention);
failing that, the one map file with the frame's token, unless that file is named like
another frame of the folder (then it is that frame's map). ``summary["maps"]`` counts, per
camera, how the frames of the folder find their map. The clinic's zoomed depth frames
(``...Z.png``) have no map: their image sets are skipped as ``missing_map`` for every
modality combination, including those that do not use the depth map. This keeps every
combination on the same image sets and assessments, so combinations are compared on
paired data; on the clinic's files it costs 7.6% of the image sets and no assessment.
``summary["missing_map_cost"]`` says what it costs on the data read: ``image_sets`` (box
rows without a map that would otherwise have been matched) and ``assessments`` (those of
them left without any image set).

Column names, the file-name grammar and crop constants come from ``schema``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dfu.config import DataConfig
from dfu.constants import IMAGE_MODALITIES
from dfu.data import schema
from dfu.data.errors import DataError, Skip
from dfu.data.workers import worker_count
from dfu.data.zivot.boxes import read_boxes
from dfu.data.zivot.folders import scan_folder
from dfu.data.zivot.match import match, missing_map_cost
from dfu.data.zivot.metadata import read_metadata
from dfu.data.zivot.summary import summarise
from dfu.data.zivot.table import Note
from dfu.data.zivot.views import build_views


@dataclass
class ZivotData:
    """What ``read_zivot`` found: complete image sets, all assessments, skips, counts, and
    the irregularities read as is (``notes``)."""

    image_sets: pd.DataFrame
    assessments: pd.DataFrame
    skips: list[Skip]
    summary: dict[str, Any]
    notes: list[Note] = field(default_factory=list)


@dataclass(frozen=True)
class DatasetPaths:
    root: Path
    metadata: Path
    bbox: dict[str, Path]  # camera -> box CSV
    folders: dict[str, Path]  # image modality -> folder


def read_zivot(
    cfg: DataConfig,
    root: str | Path | None = None,
    require_labels: bool = True,
    check_images: bool = True,
) -> ZivotData:
    """Read, validate and match the dataset at ``root`` (default ``cfg.root``).

    ``image_sets``: one row per depth-camera box that could be completed: ``set_id``
    (``<depth file stem>#<DFU#>``), ``assessment_id``, ``patient``, ``appt``, ``dfu``,
    ``label``, absolute ``<modality>_path`` per image modality, the ``depth_*`` and
    ``thermal_*`` boxes (xmin, ymin, xmax, ymax; max exclusive) and ``match_step`` (0 = the
    shot's own thermal frame, 1 = another angle, 2 = another zoom, 3 = another debridement).
    ``assessments``: one row per assessment (the first of repeated rows): ids, ``label``,
    ``has_images``, then every CSV column under its exact header (numbers as float, keys as
    int, text and ``ID`` as str or None).

    ``require_labels=False`` reads data without (or with partly empty) labels, e.g. new
    patients to predict: their ``label`` is None. ``check_images`` decodes every image
    used, in parallel over ``cfg.workers`` processes (0 = all cores); turning it off only
    reads PNG headers. Raises ``DataError`` for fatal problems (see the module docstring).
    """
    paths = dataset_paths(cfg, root)
    skips: list[Skip] = []
    notes: list[Note] = []
    assessments = read_metadata(
        paths.metadata, require_labels, skips, notes, cfg.duplicate_assessments
    )
    rows = {cam: read_boxes(path, cam, skips, notes) for cam, path in paths.bbox.items()}
    folders = {
        m: scan_folder(paths.folders[m], schema.MODALITY_FOLDERS[m][1], skips)
        for m in IMAGE_MODALITIES
    }
    views = build_views(rows, folders, check_images, worker_count(cfg), skips)
    keys = set(zip(assessments["patient"], assessments["appt"], assessments["dfu"], strict=True))
    image_sets = match(views.usable["D"], views.usable["T"], keys, paths.metadata, skips)
    labels = dict(zip(assessments["assessment_id"], assessments["label"], strict=True))
    image_sets["label"] = image_sets["assessment_id"].map(labels).astype(object)
    assessments.insert(
        5, "has_images", assessments["assessment_id"].isin(image_sets["assessment_id"])
    )
    summary = summarise(paths.root, assessments, image_sets, folders, skips=skips, notes=notes)
    summary["missing_map_cost"] = missing_map_cost(
        views.mapless["D"], views.usable["T"], keys, image_sets
    )
    return ZivotData(image_sets, assessments, skips, summary, notes)


# --- paths -------------------------------------------------------------------------------


def dataset_paths(cfg: DataConfig, root: str | Path | None = None) -> DatasetPaths:
    """Absolute paths of the CSVs and image folders; DataError names any that is missing."""
    root_text = str(root) if root is not None else cfg.root
    if not root_text:
        raise DataError("no dataset folder given (set data.root or pass the folder)")
    base = Path(root_text).expanduser().resolve()
    if not base.is_dir():
        raise DataError("dataset folder not found", file=str(base))
    csvs = {
        "metadata_csv": "metadata CSV",
        "bbox_depth_csv": "depth box CSV",
        "bbox_thermal_csv": "thermal box CSV",
    }
    for key, what in csvs.items():
        path = base / getattr(cfg, key)
        if not path.is_file():
            raise DataError(f"{what} not found (file name set by data.{key})", file=str(path))
    folders = {}
    for modality, (key, _) in schema.MODALITY_FOLDERS.items():
        folders[modality] = base / getattr(cfg, key)
        if not folders[modality].is_dir():
            raise DataError(
                f"{modality} image folder not found (folder name set by data.{key})",
                file=str(folders[modality]),
            )
    return DatasetPaths(
        root=base,
        metadata=base / cfg.metadata_csv,
        bbox={"D": base / cfg.bbox_depth_csv, "T": base / cfg.bbox_thermal_csv},
        folders=folders,
    )
