"""The usable ulcer boxes of each camera: box rows whose frame and map exist, decode and
contain the box (``build_views``); every other box row is a counted skip.

The rules for what is skipped and counted are set out in the docstring of
``dfu.data.zivot.reader``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

from dfu.data import schema
from dfu.data.errors import Skip
from dfu.data.images import Box, inspect_png, map_box
from dfu.data.workers import process_pool
from dfu.data.zivot.boxes import BoxRow
from dfu.data.zivot.folders import Folder, find_map

CAMERA_MODALITIES = {"D": ("depth_rgb", "depth_map"), "T": ("thermal_rgb", "thermal_map")}


@dataclass(frozen=True)
class View:
    """A usable ulcer box: its frame and map exist, decode, and contain the box."""

    name: schema.ImageName
    dfu: int
    box: Box
    frame: Path
    map: Path

    @property
    def sort_key(self) -> tuple[str, str]:
        return self.name.token, self.frame.name


def _inspect_all(paths: list[Path], decode: bool, workers: int) -> dict[Path, tuple | str]:
    """Image size or problem of every file; full decodes run in a process pool."""
    if decode and workers > 1 and len(paths) > 1:
        chunk = max(1, len(paths) // (workers * 4))
        with process_pool(workers) as pool:
            found = list(pool.map(inspect_png, map(str, paths), repeat(decode), chunksize=chunk))
    else:
        found = [inspect_png(str(p), decode) for p in paths]
    return dict(zip(paths, found, strict=True))


@dataclass(frozen=True)
class Views:
    """Per camera: the usable boxes, and the box rows whose frame exists but has no map."""

    usable: dict[str, list[View]]
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
    views: dict[str, list[View]] = {}
    for camera, found in located.items():
        map_modality = CAMERA_MODALITIES[camera][1]
        views[camera] = [
            View(row.name, row.dfu, row.box, frame, map_path)
            for row, frame, map_path in found
            if _usable(row, frame, map_path, map_modality, sizes=sizes, skips=skips)
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
        how, map_path = find_map(row.filename, row.name.token, maps, frames)
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
    *,
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
