"""Scan the Zivot-layout image folders and match image sets to assessments.

``scan_folder`` indexes an image folder by file name; ``build_views`` keeps the box rows
whose frame and map exist, decode and contain the box; ``match`` pairs each usable depth
box with a thermal view of the same ulcer at the same visit, falling back step by step
(same shot, other angle, other zoom, other debridement); ``missing_map_cost`` counts what
depth frames without a map cost. The rules for what is skipped and counted are set out in
the docstring of ``dfu.data.zivot``, which calls these.
"""

from __future__ import annotations

import dataclasses
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

import pandas as pd

from dfu.config import IMAGE_MODALITIES
from dfu.data import schema
from dfu.data.errors import Skip
from dfu.data.images import Box, inspect_png, map_box
from dfu.data.zivot_csv import CAMERA_NAME, BoxRow

CAMERA_MODALITIES = {"D": ("depth_rgb", "depth_map"), "T": ("thermal_rgb", "thermal_map")}


@dataclass(frozen=True)
class Folder:
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


# --- image folders -----------------------------------------------------------------------


def scan_folder(path: Path, camera: str, skips: list[Skip]) -> Folder:
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
    return Folder(path, names, dict(by_token))


MAP_FOUND = ("same_name", "same_token")


def _find_map(frame: str, token: str, maps: Folder, frames: Folder) -> tuple[str, Path | None]:
    """``(how, path)`` of a frame's map: the map with the frame's file name (``same_name``),
    else the one map with its token (``same_token``), else ``missing_map`` or
    ``ambiguous_map`` and None. A map named like another frame of the folder is that
    frame's own map, never a stand-in (the clinic's own matcher cropped zoomed depth
    frames, which have no map, with another frame's map)."""
    if frame in maps.names:
        return "same_name", maps.path / frame
    found = [name for name in maps.by_token.get(token, []) if name not in frames.names]
    if len(found) == 1:
        return "same_token", maps.path / found[0]
    return ("ambiguous_map" if found else "missing_map"), None


def map_counts(frames: Folder, maps: Folder) -> dict[str, int]:
    """How the frames of a folder find their map (whether or not a box row uses them)."""
    counts = dict.fromkeys(("frames", *MAP_FOUND, "ambiguous", "none", "none_zoomed"), 0)
    counts["frames"] = len(frames.names)
    for filename, name in frames.names.items():
        how, _ = _find_map(filename, name.token, maps, frames)
        how = {"missing_map": "none", "ambiguous_map": "ambiguous"}.get(how, how)
        counts[how] += 1
        counts["none_zoomed"] += int(how == "none" and name.zoom == "Z")
    return counts


def process_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes, forked (quick to start) unless TensorFlow is loaded: forking a
    process that runs TensorFlow's threads can deadlock, so then a fork server is used."""
    method = "forkserver" if "tensorflow" in sys.modules else None
    if method not in multiprocessing.get_all_start_methods():
        method = None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))


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


@dataclass(frozen=True)
class Views:
    """Per camera: the usable boxes, and the box rows whose frame exists but has no map."""

    usable: dict[str, list[_View]]
    mapless: dict[str, list[BoxRow]]


def build_views(
    rows: dict[str, list[BoxRow]],
    folders: dict[str, Folder],
    decode: bool,
    workers: int,
    skips: list[Skip],
) -> Views:
    """Per camera, the box rows whose frame and map exist, decode and contain the box."""
    located: dict[str, list[tuple[BoxRow, Path, Path]]] = {}
    mapless: dict[str, list[BoxRow]] = {}
    needed: set[Path] = set()
    for camera, (rgb, maps) in CAMERA_MODALITIES.items():
        located[camera], mapless[camera] = _locate(rows[camera], folders[rgb], folders[maps], skips)
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
    return Views(views, mapless)


def _locate(
    rows: list[BoxRow], frames: Folder, maps: Folder, skips: list[Skip]
) -> tuple[list[tuple[BoxRow, Path, Path]], list[BoxRow]]:
    """Box rows whose frame is in its folder and whose map is found; and those without map."""
    found, mapless = [], []
    for row in rows:
        if row.filename not in frames.names:
            detail = f"{frames.path.name}/{row.filename} does not exist"
            skips.append(Skip(row.source, row.line, "missing_image", detail))
            continue
        how, map_path = _find_map(row.filename, row.name.token, maps, frames)
        if map_path is None:  # ``how`` is the reason
            if how == "missing_map":
                mapless.append(row)
            others = maps.by_token.get(row.name.token, [])
            detail = (
                f"several files with token {row.name.token} in {maps.path.name}"
                if how == "ambiguous_map"
                else f"no file named {row.filename} in {maps.path.name}; "
                f"{', '.join(others)} with its token is another frame's map"
                if others
                else f"no file named {row.filename} or with token {row.name.token} "
                f"in {maps.path.name}"
            )
            skips.append(Skip(str(frames.path / row.filename), None, how, detail))
            continue
        found.append((row, frames.path / row.filename, map_path))
    return found, mapless


def _usable(
    row: BoxRow,
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


def match(
    depth: list[_View],
    thermal: list[_View],
    keys: set[tuple[int, int, int]],
    metadata: Path,
    skips: list[Skip],
) -> pd.DataFrame:
    """One image set per usable depth box with a metadata row and a thermal view."""
    pool = _thermal_pool(thermal)
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
        found = _find_thermal(view.name, pool.get(_ulcer(view), []))
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


def missing_map_cost(
    mapless: list[BoxRow],
    thermal: list[_View],
    keys: set[tuple[int, int, int]],
    image_sets: pd.DataFrame,
) -> dict[str, int]:
    """What depth frames without a map cost: ``image_sets``, their box rows that would
    otherwise have been matched (a metadata row and a thermal view exist; the frame itself
    is not decoded), and ``assessments``, those of them left without any image set."""
    pool = _thermal_pool(thermal)
    lost = [
        schema.assessment_id(*_ulcer(row))
        for row in mapless
        if _ulcer(row) in keys and _find_thermal(row.name, pool.get(_ulcer(row), []))
    ]
    kept = set(image_sets["assessment_id"])
    return {"image_sets": len(lost), "assessments": len(set(lost) - kept)}


def _thermal_pool(thermal: list[_View]) -> dict[tuple[int, int, int], list[_View]]:
    pool: dict[tuple[int, int, int], list[_View]] = defaultdict(list)
    for view in sorted(thermal, key=lambda v: v.sort_key):
        pool[_ulcer(view)].append(view)
    return pool


def _ulcer(view: _View | BoxRow) -> tuple[int, int, int]:
    """(patient, appt, ulcer): the ulcer is the box row's DFU#, not the file name's digit."""
    return view.name.patient, view.name.appt, view.dfu


def _find_thermal(depth: schema.ImageName, candidates: list[_View]) -> tuple[_View, int] | None:
    """The first candidate (sorted by token) at the strictest step that has one."""
    for step, test in enumerate(_STEP_TESTS):
        for view in candidates:
            if test(depth, view.name):
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
