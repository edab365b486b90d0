"""Helpers for the data-layer tests: a hand-made Zivot dataset, cloning and CSV edits.

``write_dataset`` builds exactly the shots a test describes (tiny random frames), so a
matching test states its scenario in a few lines. ``clone`` copies the CSVs of a dataset
and symlinks its image folders (copying only those a test will damage), so corrupting a
copy of the shared demo clinic costs milliseconds. ``read_csv`` / ``edit_csv`` keep a
file's byte-order mark and line ends (the demo's metadata CSV has both, as the clinic's).
"""

from __future__ import annotations

import codecs
import csv
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dfu.config import DataConfig
from dfu.constants import CLASSES
from dfu.data import schema

NAMES = DataConfig()
FRAME_SIZE = {"D": (48, 32), "T": (36, 48)}  # (width, height) of hand-made frames
FOLDERS = {
    "D": (NAMES.depth_rgb_dir, NAMES.depth_map_dir),
    "T": (NAMES.thermal_rgb_dir, NAMES.thermal_map_dir),
}


@dataclass
class Shot:
    """One frame written to disk with its box rows (DFU# -> box) and, unless told, its map."""

    name: str
    boxes: dict[int, tuple[int, int, int, int]]
    with_map: bool = True


def write_dataset(root: Path, shots: list[Shot], labels: dict | None = None) -> Path:
    """Write ``shots`` in the Zivot layout. Metadata: one row per ulcer seen in a shot
    (label from ``labels[(patient, appt, dfu)]``, else cycling I, P, R)."""
    root.mkdir(parents=True, exist_ok=True)
    for folders in FOLDERS.values():
        for folder in folders:
            (root / folder).mkdir(exist_ok=True)
    rows: dict[str, list[list]] = {"D": [], "T": []}
    keys = set()
    for shot in shots:
        name = schema.parse_image_name(shot.name)
        assert name is not None, shot.name
        _write_frame(root, shot, name.camera)
        for number, (dfu, box) in enumerate(sorted(shot.boxes.items()), start=1):
            # Zero-padded text keys in the depth file ("003", "01"), plain ints in the thermal.
            patient, appt = name.patient, name.appt
            if name.camera == "D":
                patient, appt = f"{name.patient:03d}", f"{name.appt:02d}"
            rows[name.camera].append(
                [
                    shot.name,
                    patient,
                    appt,
                    dfu,
                    name.debridement,
                    name.camera,
                    name.angle,
                    number,
                    *box,
                ]
            )
            keys.add((name.patient, name.appt, dfu))
    for camera, file in (("D", NAMES.bbox_depth_csv), ("T", NAMES.bbox_thermal_csv)):
        write_csv(root / file, list(schema.BBOX_COLUMNS), rows[camera])
    labels = labels or {}
    meta = [
        [i + 1, p, a, d, 7 * a, 50 + p, "M", labels.get((p, a, d), CLASSES[i % 3])]
        for i, (p, a, d) in enumerate(sorted(keys))
    ]
    header = [
        "ID",
        "Patient#",
        "Appt#",
        "DFU#",
        "Appt Days",
        "Age",
        "Sex (F:0, M:1)",
        schema.LABEL_COLUMN,
    ]
    write_csv(root / NAMES.metadata_csv, header, meta)
    return root


def _write_frame(root: Path, shot: Shot, camera: str) -> None:
    width, height = FRAME_SIZE[camera]
    rgb_dir, map_dir = FOLDERS[camera]
    rng = np.random.default_rng(zlib.crc32(shot.name.encode()))
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(
        root / rgb_dir / shot.name
    )
    if shot.with_map:
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(
            root / map_dir / shot.name
        )


def write_csv(
    path: Path, header: list[str], rows: list[list], bom: bool = False, crlf: bool = False
) -> None:
    """UTF-8, LF line ends unless told (``bom``: a byte-order mark; ``crlf``: Windows ends)."""
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        writer = csv.writer(f, lineterminator="\r\n" if crlf else "\n")
        writer.writerow(header)
        writer.writerows(rows)


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows as text (a byte-order mark is not part of the header)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        records = list(csv.reader(f))
    return records[0], records[1:]


def csv_style(path: Path) -> dict[str, bool]:
    """``write_csv`` arguments that reproduce the file's byte-order mark and line ends."""
    data = path.read_bytes()
    return {"bom": data.startswith(codecs.BOM_UTF8), "crlf": b"\r\n" in data}


def edit_csv(path: Path, line: int, column: str, value: str) -> None:
    """Set one cell; ``line`` counts like a spreadsheet (header = 1, first data row = 2)."""
    header, rows = read_csv(path)
    rows[line - 2][header.index(column)] = value
    write_csv(path, header, rows, **csv_style(path))


def clone(src: Path, dst: Path, copy: tuple[str, ...] = ()) -> Path:
    """CSVs copied, image folders symlinked except the folders named in ``copy``."""
    dst.mkdir(parents=True)
    for item in src.iterdir():
        if item.is_file():
            shutil.copy2(item, dst / item.name)
        elif item.name in copy:
            shutil.copytree(item, dst / item.name)
        else:
            (dst / item.name).symlink_to(item.resolve(), target_is_directory=True)
    return dst


def depth_shot(token: str, seq: int = 1, **boxes) -> Shot:
    """A depth shot named ``{seq}_{token}`` with boxes given as ``u1=(...)``, ``u2=(...)``."""
    return Shot(f"{seq}_{token}.png", {int(k[1:]): v for k, v in boxes.items()})


def shuffled_images_copy(src: Path, dst: Path, seed: int = 0) -> Path:
    """``src`` with images that carry no signal: whole metadata rows (features and label) are
    shuffled across assessment keys, so each image set now belongs to another assessment's
    label while the metadata keeps its own evidence. Images are symlinked, not copied."""
    clone(src, dst)
    path = dst / NAMES.metadata_csv
    text = path.read_bytes().decode("utf-8-sig")
    header, *rows = list(csv.reader(text.splitlines()))
    keys = [header.index(c) for c in ("Patient#", "Appt#", "DFU#")]
    order = np.random.default_rng(seed).permutation(len(rows))
    shuffled = [
        [rows[i][c] if c in keys else rows[j][c] for c in range(len(header))]
        for i, j in enumerate(order)
    ]
    write_csv(path, header, shuffled)
    (dst / "_oracle").unlink(missing_ok=True)  # a symlink: its posteriors no longer hold
    return dst


def assessment_row(patient: int, appt: int, label: str) -> dict:
    """The id columns of one assessment (ulcer 1) of a synthetic metadata table, with images."""
    return {
        "assessment_id": schema.assessment_id(patient, appt, 1),
        "patient": patient,
        "appt": appt,
        "dfu": 1,
        "label": label,
        "has_images": True,
    }
