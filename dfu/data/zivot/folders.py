"""Index the image folders of the Zivot layout by file name, and find each frame's map.

The rules for what is skipped and counted are set out in the docstring of
``dfu.data.zivot.reader``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from dfu.data import schema
from dfu.data.errors import Skip
from dfu.data.zivot.boxes import CAMERA_NAME


@dataclass(frozen=True)
class Folder:
    path: Path
    names: dict[str, schema.ImageName]
    by_token: dict[str, list[str]]


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


def find_map(frame: str, token: str, maps: Folder, frames: Folder) -> tuple[str, Path | None]:
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
        how, _ = find_map(filename, name.token, maps, frames)
        how = {"missing_map": "none", "ambiguous_map": "ambiguous"}.get(how, how)
        counts[how] += 1
        counts["none_zoomed"] += int(how == "none" and name.zoom == "Z")
    return counts
