"""A real-image dataset in the Zivot layout, for learning checks: handwritten digits.

``write_digits_dataset`` draws scikit-learn's 1797 handwritten digits (8x8, values 0-16)
into the four image folders, the two box CSVs and the metadata CSV, so the project's own
reader and cache read it untouched. The label is the digit group: I = 0-2, P = 3-6,
R = 7-9, drawn per assessment with the clinic's mix. Each of the four modalities of an
image set shows a different digit sample of the assessment's class, so they are
complementary evidence; each sample is shown to one patient only, so patient-grouped
folds never test on a sample seen in training. The metadata columns are pure noise.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image
from sklearn.datasets import load_digits

from dfu.config import DataConfig
from dfu.constants import CLASSES
from dfu.data import schema
from dfu.data.workers import process_pool

NAMES = DataConfig()
CLASS_DIGITS = {"I": (0, 1, 2), "P": (3, 4, 5, 6), "R": (7, 8, 9)}
CLASS_MIX = (0.31, 0.56, 0.13)  # the clinic's I, P, R shares
ASSESSMENTS_PER_PATIENT = ((1, 2, 3, 4, 5), (0.2, 0.25, 0.25, 0.15, 0.15))
FRAME = {"D": (320, 180), "T": (270, 360)}  # (width, height): a quarter of the real size
FOLDERS = {
    "D": (NAMES.depth_rgb_dir, NAMES.depth_map_dir),
    "T": (NAMES.thermal_rgb_dir, NAMES.thermal_map_dir),
}
# Shots of one assessment, in order: (debridement, angle); always wide, since zoomed
# depth frames have no depth map of their own.
SHOTS = [(d, a) for d in "BA" for a in "LRM"]
BOX_PX = (28, 40)
SKIN = np.array([215.0, 170.0, 140.0])
_VIRIDIS = (colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


def write_digits_dataset(
    out: Path, patients: int = 110, seed: int = 0, sets_per_assessment: int = 2, workers: int = 0
) -> dict:
    """Write the dataset under ``out``; return (and save as ``_digits/summary.json``) counts
    and ``image_samples``: image path under ``out`` -> index of the digit sample it shows.
    Frames are drawn in ``workers`` processes (0 = all cores; any count gives the same files)."""
    if not 1 <= sets_per_assessment <= len(SHOTS):
        raise ValueError(f"sets_per_assessment must be 1..{len(SHOTS)}")
    out = Path(out)
    rng = np.random.default_rng(seed)
    digits = load_digits()
    visits = _assessments(patients, rng)
    pools = _partition(digits.target, visits, rng)
    for folders in FOLDERS.values():
        for folder in folders:
            (out / folder).mkdir(parents=True, exist_ok=True)
    shots, boxes, image_samples = [], {"D": [], "T": []}, {}
    for visit in visits:
        pool = pools[visit["patient"], visit["label"]]
        for debridement, angle in SHOTS[:sets_per_assessment]:
            samples = [int(s) for s in rng.choice(pool, 4, replace=len(pool) < 4)]
            for camera, pair in zip("DT", (samples[:2], samples[2:]), strict=True):
                name = (
                    f"{len(shots) + 1}_P{visit['patient']:03d}{visit['appt']:02d}"
                    f"{visit['dfu']}{debridement}{camera}{angle}W.png"
                )
                box = _box(camera, rng)
                shots.append((out, camera, name, box, digits.images[pair], (seed, len(shots))))
                boxes[camera].append(
                    _box_row(name, visit, debridement, camera, angle=angle, box=box)
                )
                image_samples[f"{FOLDERS[camera][0]}/{name}"] = pair[0]
                image_samples[f"{FOLDERS[camera][1]}/{name}"] = pair[1]
    _draw_all(shots, workers)
    for camera, file in (("D", NAMES.bbox_depth_csv), ("T", NAMES.bbox_thermal_csv)):
        _write_csv(out / file, list(schema.BBOX_COLUMNS), boxes[camera])
    _write_metadata(out / NAMES.metadata_csv, visits, rng)
    summary = {
        "patients": patients,
        "assessments": len(visits),
        "image_sets": len(boxes["D"]),
        "classes": {c: sum(v["label"] == c for v in visits) for c in CLASSES},
        "seed": seed,
        "image_samples": image_samples,
    }
    (out / "_digits").mkdir(exist_ok=True)
    (out / "_digits" / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _assessments(patients: int, rng: np.random.Generator) -> list[dict]:
    """Per patient 1-5 visits (appointments 0..), ulcer 1 mostly, each with a label."""
    sizes, weights = ASSESSMENTS_PER_PATIENT
    visits = []
    for patient in range(1, patients + 1):
        days = 0
        for appt in range(rng.choice(sizes, p=weights)):
            dfu = 2 if rng.random() < 0.15 else 1
            label = CLASSES[rng.choice(3, p=CLASS_MIX)]
            visits.append(dict(patient=patient, appt=appt, dfu=dfu, days=days, label=label))
            days += int(rng.integers(7, 29))
    return visits


def _partition(target: np.ndarray, visits: list[dict], rng: np.random.Generator) -> dict:
    """(patient, class) -> the digit samples only that patient sees: each digit's samples
    are dealt out among the patients who have an assessment of that digit's class."""
    users = {c: sorted({v["patient"] for v in visits if v["label"] == c}) for c in CLASSES}
    pools: dict[tuple[int, str], list[int]] = {}
    for label, group in CLASS_DIGITS.items():
        for digit in group:
            samples = rng.permutation(np.flatnonzero(target == digit))
            shares = np.array_split(samples, len(users[label])) if users[label] else []
            for patient, share in zip(users[label], shares, strict=True):
                pools.setdefault((patient, label), []).extend(int(s) for s in share)
    return pools


def _box(camera: str, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A roughly square box of 28-40 px fully inside the camera's frame (max exclusive)."""
    width, height = FRAME[camera]
    side = int(rng.integers(BOX_PX[0], BOX_PX[1] + 1))
    w, h = (int(np.clip(side + rng.integers(-3, 4), *BOX_PX)) for _ in range(2))
    x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
    return x0, y0, x0 + w, y0 + h


def _draw_all(shots: list[tuple], workers: int) -> None:
    workers = workers or os.cpu_count() or 1
    if workers <= 1:
        for shot in shots:
            _draw_shot(shot)
        return
    with process_pool(workers) as pool:
        list(pool.map(_draw_shot, shots, chunksize=64))


def _draw_shot(shot: tuple) -> None:
    """One frame (first digit) and its map (second digit), both in ``box``; ``shot``: (out
    folder, camera, file name, box, the two digit images, seed)."""
    out, camera, name, box, pair, seed = shot
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = box
    width, height = FRAME[camera]
    rgb_dir, map_dir = FOLDERS[camera]
    frame = _rgb_frame((height, width), box, _upscale(pair[0], x1 - x0, y1 - y0), rng)
    field = _map_frame((height, width), box, _upscale(pair[1], x1 - x0, y1 - y0), rng)
    Image.fromarray(frame).save(out / rgb_dir / name, compress_level=1)
    Image.fromarray(field).save(out / map_dir / name, compress_level=1)


def _upscale(digit: np.ndarray, w: int, h: int) -> np.ndarray:
    """An 8x8 digit (0-16) resized bilinearly to h x w, values in 0..1."""
    img = Image.fromarray((digit / 16.0).astype(np.float32))
    return np.clip(np.asarray(img.resize((w, h), Image.Resampling.BILINEAR)), 0.0, 1.0)


def _near(shape: tuple[int, int], box: tuple[int, ...], margin: int = 12) -> tuple[slice, ...]:
    """The box and a margin around it: where noise goes (the rest stays smooth)."""
    x0, y0, x1, y1 = box
    return slice(max(0, y0 - margin), y1 + margin), slice(max(0, x0 - margin), x1 + margin)


def _rgb_frame(shape, box, ink_alpha: np.ndarray, rng) -> np.ndarray:
    """Skin with a random tint and a lighting ramp; the digit as a darker tinted stroke."""
    h, w = shape
    skin = SKIN * rng.uniform(0.75, 1.1) + rng.normal(0, 12, 3)
    row = skin * np.linspace(*rng.uniform(0.9, 1.1, 2), w)[:, None]  # (w, 3): ramp along x
    img = np.broadcast_to(np.clip(row, 0, 255).astype(np.uint8), (h, w, 3)).copy()
    ink = skin * rng.uniform(0.3, 0.6) + rng.normal(0, 20, 3)
    ys, xs = _near(shape, box)
    patch = np.broadcast_to(row[xs], img[ys, xs].shape).copy()  # float copy of the window
    x0, y0, x1, y1 = box
    inner = slice(y0 - ys.start, y1 - ys.start), slice(x0 - xs.start, x1 - xs.start)
    alpha = ink_alpha[..., None]
    patch[inner] = patch[inner] * (1 - alpha) + ink * alpha
    patch += rng.integers(-5, 6, size=patch.shape)
    img[ys, xs] = np.clip(patch, 0, 255).astype(np.uint8)
    return img


def _map_frame(shape, box, intensity: np.ndarray, rng) -> np.ndarray:
    """A smooth field plus the digit's intensity, false-coloured with viridis."""
    h, w = shape
    gx, gy = rng.uniform(-0.15, 0.15, 2)
    x = gx * np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    y = gy * np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    field = rng.uniform(0.2, 0.45) + x + y
    x0, y0, x1, y1 = box
    field[y0:y1, x0:x1] += rng.uniform(0.3, 0.5) * intensity
    win = _near(shape, box)
    field[win] += rng.uniform(-0.015, 0.015, size=field[win].shape)
    return _VIRIDIS.take((np.clip(field, 0.0, 1.0) * 255).astype(np.uint8), axis=0)


def _box_row(name: str, visit: dict, debridement: str, camera: str, *, angle: str, box) -> list:
    # Zero-padded text ids in the depth file, plain ints in the thermal file (as the clinic's).
    patient = f"{visit['patient']:03d}" if camera == "D" else visit["patient"]
    return [name, patient, visit["appt"], visit["dfu"], debridement, camera, angle, 1, *box]


def _write_metadata(path: Path, visits: list[dict], rng: np.random.Generator) -> None:
    """One row per assessment: ids, label and a few noise features (Age, Sex per patient)."""
    patients = sorted({v["patient"] for v in visits})
    people = {p: (int(rng.normal(62, 11)), rng.choice(["F", "M"])) for p in patients}
    header = [
        *schema.ID_COLUMNS,
        "Age",
        "Weight (Kg)",
        "Pain Level",
        "Sex (F:0, M:1)",
        "Foot Aspect",
        schema.LABEL_COLUMN,
    ]
    rows = []
    for i, v in enumerate(visits, start=1):
        age, sex = people[v["patient"]]
        weight = round(float(rng.normal(85, 15)), 1)
        aspect = rng.choice(["Plantar", "Dorsal", "Lateral", "Medial"])
        rows.append(
            [
                i,
                v["patient"],
                v["appt"],
                v["dfu"],
                v["days"],
                age,
                weight,
                int(rng.integers(0, 6)),
                sex,
                aspect,
                v["label"],
            ]
        )
    _write_csv(path, header, rows)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
