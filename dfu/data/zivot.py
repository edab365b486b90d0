"""Read a dataset in the Zivot layout: validate it, match image sets to assessments.

``read_zivot`` is the one entry point; see ../shared/docs/DATASET.md for the layout.

Fatal (``DataError``; the data cannot be trusted as a whole, so nothing is returned):
- a CSV or image folder is missing (the message names the path and the config key);
- a CSV is empty, has a repeated header name or a row with a different number of fields;
- the metadata CSV lacks a key column, or the label column (unless ``require_labels=False``);
- a label is empty (when labels are required) or not one of I, P, R (line and column);
- a numeric metadata cell (``schema.NUMERIC_FEATURES``, the id and key columns) holds
  text; key cells must be whole numbers and never empty (line and column);
- two metadata rows for one (Patient#, Appt#, DFU#) that differ in any value other than
  ``ID`` (both lines and the first differing column are named);
- a bounding-box CSV lacks a column the reader uses (``BBOX_REQUIRED``) or holds text or
  an empty cell in one of its numeric columns (line and column).

Counted skips (``Skip`` records, in ``ZivotData.skips`` and in the summary by reason):
- ``blank_row``: a CSV row whose cells are all empty;
- ``duplicate_row``: a metadata row identical to an earlier one (``ID`` aside): dropped;
- ``bad_file_name``: a file in an image folder, or a box row's ``Filename``, that does not
  follow the file-name grammar (or names the other camera);
- ``box_key_mismatch``: a box row whose Patient#/Appt# disagree with its file name;
- ``duplicate_box``: a box row identical to an earlier one for the same file and ulcer;
- ``conflicting_boxes``: several different boxes for one file and ulcer (all dropped);
- ``missing_image``: a box row whose image file is not in its folder;
- ``missing_map`` / ``ambiguous_map``: no map, or several maps, with the frame's token;
- ``corrupt_image``: a frame or map that cannot be decoded (Pillow open + load; with
  ``check_images=False`` only the header is read, so truncated files pass);
- ``bad_box``: a box that is inverted, has zero area, or lies outside its image;
- ``no_metadata``: an image set whose (Patient#, Appt#, DFU#) has no metadata row;
- ``no_thermal``: no usable thermal view of that ulcer at that visit.
An unusable thermal view (missing file or map, corrupt, bad box) is skipped and counted
on its own row; the matching then falls back to the next thermal view, as if the box
were absent.

Column names, the file-name grammar and crop constants come from ``schema``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import multiprocessing
import os
import sys
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dfu.config import CLASSES, IMAGE_MODALITIES, DataConfig
from dfu.data import schema
from dfu.data.errors import DataError, Skip
from dfu.data.images import Box, inspect_png, map_box

# Box-file columns the reader needs; DebriStat, Camera, Angle and Bounding Box Number are
# informational (the file name is authoritative for them).
BBOX_REQUIRED = ("Filename", "Patient#", "Appt#", "DFU#", "Xmin", "Ymin", "Xmax", "Ymax")
BOX_COLUMNS = ("Xmin", "Ymin", "Xmax", "Ymax")
NUMERIC_METADATA = (*schema.ID_COLUMNS, *schema.NUMERIC_FEATURES)
TEXT_METADATA = (*schema.CATEGORICAL_FEATURES, "Healing Phase", schema.LABEL_COLUMN)
# Spellings of "missing" accepted in numeric cells besides an empty cell.
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "#n/a", "null", "none"})
SKIP_EXAMPLES = 3
CAMERA_NAME = {"D": "depth", "T": "thermal"}
CAMERA_MODALITIES = {"D": ("depth_rgb", "depth_map"), "T": ("thermal_rgb", "thermal_map")}


@dataclass
class ZivotData:
    """What ``read_zivot`` found: complete image sets, all assessments, skips, counts."""

    image_sets: pd.DataFrame
    assessments: pd.DataFrame
    skips: list[Skip]
    summary: dict[str, Any]


@dataclass(frozen=True)
class DatasetPaths:
    root: Path
    metadata: Path
    bbox: dict[str, Path]  # camera -> box CSV
    folders: dict[str, Path]  # image modality -> folder


@dataclass(frozen=True)
class _Csv:
    path: Path
    header: list[str]
    frame: pd.DataFrame  # every cell a stripped str; index = spreadsheet line number


@dataclass(frozen=True)
class _BoxRow:
    source: str  # the box CSV
    line: int
    filename: str
    name: schema.ImageName
    dfu: int
    box: Box


@dataclass(frozen=True)
class _Folder:
    path: Path
    names: dict[str, schema.ImageName]
    by_token: dict[str, list[str]]


@dataclass(frozen=True)
class _View:
    """A usable ulcer box: its frame and map exist, decode, and contain the box."""

    name: schema.ImageName
    dfu: int
    box: Box
    frame: Path
    map: Path

    @property
    def sort_key(self) -> tuple[str, str]:
        return self.name.token, self.frame.name


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
    ``assessments``: every metadata row: ids, ``label``, ``has_images``, then every CSV
    column under its exact header (numbers as float, keys as int, text as str or None).

    ``require_labels=False`` reads data without (or with partly empty) labels, e.g. new
    patients to predict: their ``label`` is None. ``check_images`` decodes every image
    used, in parallel over ``cfg.workers`` processes (0 = all cores); turning it off only
    reads PNG headers. Raises ``DataError`` for fatal problems (see the module docstring).
    """
    paths = dataset_paths(cfg, root)
    skips: list[Skip] = []
    assessments = _read_metadata(paths.metadata, require_labels, skips)
    rows = {cam: _read_boxes(path, cam, skips) for cam, path in paths.bbox.items()}
    folders = {
        m: _scan_folder(paths.folders[m], schema.MODALITY_FOLDERS[m][1], skips)
        for m in IMAGE_MODALITIES
    }
    views = _build_views(rows, folders, check_images, worker_count(cfg), skips)
    keys = set(zip(assessments["patient"], assessments["appt"], assessments["dfu"], strict=True))
    image_sets = _match(views["D"], views["T"], keys, paths.metadata, skips)
    labels = dict(zip(assessments["assessment_id"], assessments["label"], strict=True))
    image_sets["label"] = image_sets["assessment_id"].map(labels).astype(object)
    assessments.insert(
        5, "has_images", assessments["assessment_id"].isin(image_sets["assessment_id"])
    )
    summary = _summarise(paths.root, assessments, image_sets, folders, skips)
    return ZivotData(image_sets, assessments, skips, summary)


def worker_count(cfg: DataConfig) -> int:
    return cfg.workers or os.cpu_count() or 1


def process_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes, forked (quick to start) unless TensorFlow is loaded: forking a
    process that runs TensorFlow's threads can deadlock, so then a fork server is used."""
    method = "forkserver" if "tensorflow" in sys.modules else None
    if method not in multiprocessing.get_all_start_methods():
        method = None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))


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


# --- CSV cells -----------------------------------------------------------------------------


def _read_csv(path: Path, skips: list[Skip]) -> _Csv:
    """All cells as stripped text. Blank rows are skipped (counted); ragged rows are fatal."""
    records = list(csv.reader(io.StringIO(_decode(path), newline="")))
    if not records or not any(cell.strip() for cell in records[0]):
        raise DataError("empty file: expected a header line", file=str(path))
    header = [h.strip() for h in records[0]]
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in seen:
            raise DataError(f"the header names column {name!r} twice", file=str(path), line=1)
        seen[name] = i
    cells, lines = [], []
    for line, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            skips.append(Skip(str(path), line, "blank_row", "every cell is empty"))
            continue
        if len(record) != len(header):
            raise DataError(
                f"{len(record)} fields, but the header has {len(header)}", file=str(path), line=line
            )
        cells.append([cell.strip() for cell in record])
        lines.append(line)
    frame = pd.DataFrame(cells, columns=header, index=pd.Index(lines, name="line"), dtype=object)
    return _Csv(path, header, frame)


def _decode(path: Path) -> str:
    data = path.read_bytes()
    # Excel writes UTF-8 with a BOM or Windows-1252; latin-1 decodes anything else.
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _numbers(table: _Csv, column: str, required: bool = False, whole: bool = False) -> pd.Series:
    """A column as float: empty (or NA-like) cells are NaN, text is fatal at its line."""
    raw = table.frame[column]
    missing = raw.str.lower().isin(MISSING_TOKENS)
    values = pd.to_numeric(raw.where(~missing), errors="coerce").astype(float)
    bad = (values.isna() & ~missing) | np.isinf(values)
    if whole:
        bad |= values.notna() & (values != values.round())
    if required:
        bad |= missing
    if bad.any():
        line = int(bad.idxmax())
        kind = "a whole number" if whole else "a number"
        got = "an empty cell" if missing[line] else repr(raw[line])
        raise DataError(
            f"expected {kind}, got {got}", file=str(table.path), line=line, column=column
        )
    return values


def _texts(raw: pd.Series) -> pd.Series:
    return raw.where(raw != "", None).astype(object)


def _maybe_numbers(raw: pd.Series) -> pd.Series:
    """Columns the schema does not know: numbers if every cell is one, else text."""
    missing = raw.str.lower().isin(MISSING_TOKENS)
    values = pd.to_numeric(raw.where(~missing), errors="coerce")
    return values.astype(float) if values.notna().eq(~missing).all() else _texts(raw)


# --- metadata ----------------------------------------------------------------------------


def _read_metadata(path: Path, require_labels: bool, skips: list[Skip]) -> pd.DataFrame:
    table = _read_csv(path, skips)
    for column in schema.KEY_COLUMNS:
        if column not in table.header:
            raise DataError("key column missing", file=str(path), line=1, column=column)
    has_labels = schema.LABEL_COLUMN in table.header
    if require_labels and not has_labels:
        raise DataError(
            "label column missing (needed for training and scoring; it may only be absent "
            "when predicting)",
            file=str(path),
            line=1,
            column=schema.LABEL_COLUMN,
        )
    parsed = pd.DataFrame(index=table.frame.index)
    for column in table.header:
        if column in NUMERIC_METADATA:
            key = column in schema.KEY_COLUMNS
            parsed[column] = _numbers(table, column, required=key, whole=key)
        elif column in TEXT_METADATA:
            parsed[column] = _texts(table.frame[column])
        else:
            parsed[column] = _maybe_numbers(table.frame[column])
    for column in schema.KEY_COLUMNS:
        parsed[column] = parsed[column].astype(np.int64)
    if has_labels:
        _check_labels(table, parsed, require_labels)
    parsed = _drop_duplicate_assessments(parsed, path, skips)
    return _with_ids(parsed, has_labels)


def _check_labels(table: _Csv, parsed: pd.DataFrame, require_labels: bool) -> None:
    labels = parsed[schema.LABEL_COLUMN]
    allowed = set(CLASSES) if require_labels else {*CLASSES, None}
    bad = ~labels.isin(allowed)
    if bad.any():
        line = int(bad.idxmax())
        got = "an empty cell" if labels[line] is None else repr(labels[line])
        raise DataError(
            f"expected a label, one of {', '.join(CLASSES)}; got {got}",
            file=str(table.path),
            line=line,
            column=schema.LABEL_COLUMN,
        )


def _drop_duplicate_assessments(
    parsed: pd.DataFrame, path: Path, skips: list[Skip]
) -> pd.DataFrame:
    """One row per (Patient#, Appt#, DFU#): drop exact repeats, refuse conflicting ones."""
    keys = list(schema.KEY_COLUMNS)
    repeated = parsed[parsed.duplicated(keys, keep=False)]
    drop = []
    compared = [c for c in parsed.columns if c != "ID"]
    for key, group in repeated.groupby(keys, sort=False):
        first_line, first = group.index[0], group.iloc[0]
        for line, row in group.iloc[1:].iterrows():
            diff = [c for c in compared if not _same(first[c], row[c])]
            aid = schema.assessment_id(*key)
            if diff:
                raise DataError(
                    f"assessment {aid} is also on line {first_line} with a different value "
                    f"({first[diff[0]]!r} there, {row[diff[0]]!r} here); keep one row per "
                    "(Patient#, Appt#, DFU#)",
                    file=str(path),
                    line=int(line),
                    column=diff[0],
                )
            detail = f"assessment {aid} repeats line {first_line} exactly; dropped"
            skips.append(Skip(str(path), int(line), "duplicate_row", detail))
            drop.append(line)
    return parsed.drop(index=drop)


def _same(a: Any, b: Any) -> bool:
    return (pd.isna(a) and pd.isna(b)) if (pd.isna(a) or pd.isna(b)) else a == b


def _with_ids(parsed: pd.DataFrame, has_labels: bool) -> pd.DataFrame:
    patient, appt, dfu = (parsed[c] for c in schema.KEY_COLUMNS)
    ids = pd.DataFrame(
        {
            "assessment_id": [
                schema.assessment_id(*k) for k in zip(patient, appt, dfu, strict=True)
            ],
            "patient": patient.to_numpy(),
            "appt": appt.to_numpy(),
            "dfu": dfu.to_numpy(),
            "label": parsed[schema.LABEL_COLUMN].to_numpy() if has_labels else None,
        },
        index=parsed.index,
    )
    ids["label"] = ids["label"].astype(object)
    return pd.concat([ids, parsed], axis=1).reset_index(drop=True)


# --- bounding boxes ----------------------------------------------------------------------


def _read_boxes(path: Path, camera: str, skips: list[Skip]) -> list[_BoxRow]:
    """Valid, de-duplicated box rows of one camera's CSV (``Patient#`` may be "003" or 3)."""
    table = _read_csv(path, skips)
    for column in BBOX_REQUIRED:
        if column not in table.header:
            raise DataError(
                "column missing from the box file", file=str(path), line=1, column=column
            )
    ints = {
        c: _numbers(table, c, required=True, whole=c not in BOX_COLUMNS).round().astype(int)
        for c in BBOX_REQUIRED[1:]
    }
    values = pd.DataFrame(ints).to_dict("records")
    rows = []
    for (line, filename), value in zip(table.frame["Filename"].items(), values, strict=True):
        row = _box_row(int(line), filename, value, camera, path, skips)
        if row is not None:
            rows.append(row)
    return _dedupe_boxes(rows, path, skips)


def _box_row(
    line: int, filename: str, value: dict[str, int], camera: str, path: Path, skips: list[Skip]
) -> _BoxRow | None:
    name = schema.parse_image_name(filename)
    problem = None
    if name is None:
        problem = ("bad_file_name", f"Filename {filename!r} does not follow the file-name grammar")
    elif name.camera != camera:
        problem = (
            "bad_file_name",
            f"{filename} is a {CAMERA_NAME[name.camera]}-camera file in "
            f"the {CAMERA_NAME[camera]} box file",
        )
    elif (name.patient, name.appt) != (value["Patient#"], value["Appt#"]):
        problem = (
            "box_key_mismatch",
            f"Patient#/Appt# {value['Patient#']}/{value['Appt#']} "
            f"disagree with the file name {filename}",
        )
    if problem:
        skips.append(Skip(str(path), line, *problem))
        return None
    box = tuple(value[c] for c in BOX_COLUMNS)
    return _BoxRow(str(path), line, filename, name, value["DFU#"], box)  # type: ignore[arg-type]


def _dedupe_boxes(rows: list[_BoxRow], path: Path, skips: list[Skip]) -> list[_BoxRow]:
    by_key: dict[tuple[str, int], list[_BoxRow]] = defaultdict(list)
    for row in rows:
        by_key[(row.filename, row.dfu)].append(row)
    kept = []
    for (filename, dfu), group in by_key.items():
        first = group[0]
        if len({r.box for r in group}) > 1:
            lines = ", ".join(str(r.line) for r in group)
            detail = f"ulcer {dfu} of {filename} has different boxes on lines {lines}"
            skips.extend(Skip(str(path), r.line, "conflicting_boxes", detail) for r in group)
            continue
        detail = f"repeats line {first.line} ({filename}, ulcer {dfu}); dropped"
        skips.extend(Skip(str(path), r.line, "duplicate_box", detail) for r in group[1:])
        kept.append(first)
    return kept


# --- image folders -----------------------------------------------------------------------


def _scan_folder(path: Path, camera: str, skips: list[Skip]) -> _Folder:
    names: dict[str, schema.ImageName] = {}
    by_token: dict[str, list[str]] = defaultdict(list)
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        if not entry.is_file():
            continue
        name = schema.parse_image_name(entry.name)
        if name is None or name.camera != camera:
            why = (
                "does not follow {seq}_P{patient:03d}{appt:02d}{dfu}{B|A}{D|T}{L|M|R}{W|Z}.png"
                if name is None
                else f"is a {CAMERA_NAME[name.camera]}-camera file"
            )
            skips.append(Skip(entry.path, None, "bad_file_name", f"{entry.name} {why}"))
            continue
        names[entry.name] = name
        by_token[name.token].append(entry.name)
    return _Folder(path, names, dict(by_token))


def _find_map(frame: str, token: str, folder: _Folder) -> Path | str:
    """The map of a frame: same file name if present, else the one file with its token."""
    if frame in folder.names:
        return folder.path / frame
    found = folder.by_token.get(token, [])
    if len(found) == 1:
        return folder.path / found[0]
    return "ambiguous_map" if found else "missing_map"


def _inspect_all(paths: list[Path], decode: bool, workers: int) -> dict[Path, tuple | str]:
    """Image size or problem of every file; full decodes run in a process pool."""
    if decode and workers > 1 and len(paths) > 1:
        chunk = max(1, len(paths) // (workers * 4))
        with process_pool(workers) as pool:
            found = list(pool.map(inspect_png, map(str, paths), repeat(decode), chunksize=chunk))
    else:
        found = [inspect_png(str(p), decode) for p in paths]
    return dict(zip(paths, found, strict=True))


# --- views: usable boxes -----------------------------------------------------------------


def _build_views(
    rows: dict[str, list[_BoxRow]],
    folders: dict[str, _Folder],
    decode: bool,
    workers: int,
    skips: list[Skip],
) -> dict[str, list[_View]]:
    """Per camera, the box rows whose frame and map exist, decode and contain the box."""
    located: dict[str, list[tuple[_BoxRow, Path, Path]]] = {}
    needed: set[Path] = set()
    for camera, (rgb, maps) in CAMERA_MODALITIES.items():
        located[camera] = _locate(rows[camera], folders[rgb], folders[maps], skips)
        needed.update(p for _, frame, map_path in located[camera] for p in (frame, map_path))
    sizes = _inspect_all(sorted(needed), decode, workers)
    views: dict[str, list[_View]] = {}
    for camera, found in located.items():
        map_modality = CAMERA_MODALITIES[camera][1]
        views[camera] = [
            _View(row.name, row.dfu, row.box, frame, map_path)
            for row, frame, map_path in found
            if _usable(row, frame, map_path, map_modality, sizes, skips)
        ]
    return views


def _locate(
    rows: list[_BoxRow], frames: _Folder, maps: _Folder, skips: list[Skip]
) -> list[tuple[_BoxRow, Path, Path]]:
    """Box rows whose frame is in its folder and whose map is found by token."""
    found = []
    for row in rows:
        if row.filename not in frames.names:
            detail = f"{frames.path.name}/{row.filename} does not exist"
            skips.append(Skip(row.source, row.line, "missing_image", detail))
            continue
        map_path = _find_map(row.filename, row.name.token, maps)
        if isinstance(map_path, str):  # the reason it was not found
            what = "no file" if map_path == "missing_map" else "several files"
            detail = f"{what} with token {row.name.token} in {maps.path.name}"
            skips.append(Skip(str(frames.path / row.filename), None, map_path, detail))
            continue
        found.append((row, frames.path / row.filename, map_path))
    return found


def _usable(
    row: _BoxRow,
    frame: Path,
    map_path: Path,
    map_modality: str,
    sizes: dict[Path, tuple | str],
    skips: list[Skip],
) -> bool:
    for path in (frame, map_path):
        if isinstance(sizes[path], str):
            detail = f"{sizes[path]} (ulcer {row.dfu} of {row.filename} dropped)"
            skips.append(Skip(str(path), None, "corrupt_image", detail))
            return False
    problem = _box_problem(row.box, sizes[frame])
    if problem is None:
        xmin, ymin, xmax, ymax = map_box(row.box, map_modality, sizes[map_path][::-1])
        if xmin >= xmax or ymin >= ymax:
            problem = f"lies outside the {_wh(sizes[map_path])} map {map_path.name}"
    if problem:
        detail = f"box {row.box} of ulcer {row.dfu} in {frame.name} {problem}"
        skips.append(Skip(row.source, row.line, "bad_box", detail))
        return False
    return True


def _box_problem(box: Box, size: tuple[int, int]) -> str | None:
    xmin, ymin, xmax, ymax = box
    width, height = size
    if xmin > xmax or ymin > ymax:
        return "is inverted (min > max)"
    if xmin == xmax or ymin == ymax:
        return "has zero area"
    if xmin < 0 or ymin < 0 or xmax > width or ymax > height:
        return f"lies outside the {_wh(size)} image"
    return None


def _wh(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


# --- matching ----------------------------------------------------------------------------

BOX_KEYS = ("xmin", "ymin", "xmax", "ymax")
IMAGE_SET_COLUMNS = (
    "set_id",
    "assessment_id",
    "patient",
    "appt",
    "dfu",
    "label",
    *(f"{m}_path" for m in IMAGE_MODALITIES),
    *(f"{camera}_{key}" for camera in ("depth", "thermal") for key in BOX_KEYS),
    "match_step",
)
MATCH_STEPS = ("same shot", "other angle", "other zoom", "other debridement")

# DATASET.md's fallback order: which thermal view of the same ulcer at the same visit may
# stand in for the depth shot's own thermal frame, loosest last.
_STEP_TESTS: tuple[Callable[[schema.ImageName, schema.ImageName], bool], ...] = (
    lambda d, t: dataclasses.replace(d, camera="T").token == t.token,
    lambda d, t: (d.debridement, d.zoom) == (t.debridement, t.zoom),
    lambda d, t: d.debridement == t.debridement,
    lambda d, t: True,
)


def _match(
    depth: list[_View],
    thermal: list[_View],
    keys: set[tuple[int, int, int]],
    metadata: Path,
    skips: list[Skip],
) -> pd.DataFrame:
    """One image set per usable depth box with a metadata row and a thermal view."""
    pool: dict[tuple[int, int, int], list[_View]] = defaultdict(list)
    for view in sorted(thermal, key=lambda v: v.sort_key):
        pool[_ulcer(view)].append(view)
    rows = []
    for view in sorted(depth, key=lambda v: (_ulcer(v), v.sort_key)):
        aid = schema.assessment_id(*_ulcer(view))
        if _ulcer(view) not in keys:
            skips.append(
                Skip(
                    str(view.frame),
                    None,
                    "no_metadata",
                    f"ulcer {view.dfu}: assessment {aid} has no row in {metadata.name}",
                )
            )
            continue
        found = _find_thermal(view, pool.get(_ulcer(view), []))
        if found is None:
            skips.append(
                Skip(
                    str(view.frame),
                    None,
                    "no_thermal",
                    f"no usable thermal view of ulcer {view.dfu} for assessment {aid}",
                )
            )
            continue
        rows.append(_image_set(view, *found, aid))
    return pd.DataFrame(rows, columns=list(IMAGE_SET_COLUMNS))


def _ulcer(view: _View) -> tuple[int, int, int]:
    return view.name.patient, view.name.appt, view.dfu


def _find_thermal(depth: _View, candidates: list[_View]) -> tuple[_View, int] | None:
    """The first candidate (sorted by token) at the strictest step that has one."""
    for step, test in enumerate(_STEP_TESTS):
        for view in candidates:
            if test(depth.name, view.name):
                return view, step
    return None


def _image_set(depth: _View, thermal: _View, step: int, aid: str) -> dict[str, Any]:
    patient, appt, dfu = _ulcer(depth)
    row: dict[str, Any] = {
        "set_id": f"{depth.frame.stem}#{dfu}",
        "assessment_id": aid,
        "patient": patient,
        "appt": appt,
        "dfu": dfu,
        "label": None,
        "depth_rgb_path": str(depth.frame),
        "depth_map_path": str(depth.map),
        "thermal_rgb_path": str(thermal.frame),
        "thermal_map_path": str(thermal.map),
        "match_step": step,
    }
    for camera, view in (("depth", depth), ("thermal", thermal)):
        for key, value in zip(BOX_KEYS, view.box, strict=True):
            row[f"{camera}_{key}"] = value
    return row


# --- summary -----------------------------------------------------------------------------


def _summarise(
    root: Path,
    assessments: pd.DataFrame,
    image_sets: pd.DataFrame,
    folders: dict[str, _Folder],
    skips: list[Skip],
) -> dict[str, Any]:
    """Counts for people and for logs; JSON-ready (str keys, plain ints)."""
    by_reason: dict[str, list[Skip]] = defaultdict(list)
    for skip in skips:
        by_reason[skip.reason].append(skip)
    modalities: dict[str, dict[str, int]] = {"metadata": {"assessments": len(assessments)}}
    for m in IMAGE_MODALITIES:
        used = int(image_sets[f"{m}_path"].nunique())
        modalities[m] = {"files": len(folders[m].names), "used": used}
    return {
        "root": str(root),
        "patients": int(assessments["patient"].nunique()),
        "patients_with_images": int(image_sets["patient"].nunique()),
        "assessments": len(assessments),
        "assessments_with_images": int(assessments["has_images"].sum()),
        "image_sets": len(image_sets),
        "classes": {
            "assessments": _class_counts(assessments["label"]),
            "image_sets": _class_counts(image_sets["label"]),
        },
        "modalities": modalities,
        "match_steps": {str(k): int((image_sets["match_step"] == k).sum()) for k in range(4)},
        "skips": {
            reason: {
                "count": len(found),
                "examples": [str(_relative(s, root)) for s in found[:SKIP_EXAMPLES]],
            }
            for reason, found in sorted(by_reason.items())
        },
    }


def _class_counts(labels: pd.Series) -> dict[str, int]:
    counts = {c: int((labels == c).sum()) for c in CLASSES}
    unlabelled = int(labels.isna().sum())
    return {**counts, "unlabelled": unlabelled} if unlabelled else counts


def _relative(skip: Skip, root: Path) -> Skip:
    path = Path(skip.file)
    if not path.is_relative_to(root):
        return skip
    return dataclasses.replace(skip, file=str(path.relative_to(root)))


def format_summary(summary: dict[str, Any]) -> str:
    """The reader's summary as a few lines of text for people."""
    lines = [
        f"dataset      {summary['root']}",
        f"patients     {summary['patients']} ({summary['patients_with_images']} with images)",
        f"assessments  {summary['assessments']} ({summary['assessments_with_images']} with images)",
        f"image sets   {summary['image_sets']}",
    ]
    for what, counts in summary["classes"].items():
        lines.append(f"classes of {what}: {_shares(counts)}")
    lines.append("modalities:")
    for modality, found in summary["modalities"].items():
        text = ", ".join(f"{n} {k}" for k, n in found.items())
        lines.append(f"  {modality:12s} {text}")
    steps = summary["match_steps"]
    matched = (f"{steps[str(k)]} {name}" for k, name in enumerate(MATCH_STEPS))
    lines.append("thermal match: " + ", ".join(matched))
    total = sum(r["count"] for r in summary["skips"].values())
    lines.append(f"skipped: {total}" + (" (nothing)" if not total else ""))
    for reason, found in summary["skips"].items():
        lines.append(f"  {reason:18s} {found['count']}")
        lines.extend(f"      e.g. {example}" for example in found["examples"])
    return "\n".join(lines)


def _shares(counts: dict[str, int]) -> str:
    total = sum(counts.values()) or 1
    return ", ".join(f"{c} {n} ({100 * n / total:.0f}%)" for c, n in counts.items())
