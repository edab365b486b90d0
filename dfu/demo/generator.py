"""``make_demo``: write a synthetic clinic in exactly the Zivot layout, with its oracle.

The files carry every irregularity of the clinic's published files (DATASET.md, last
section), so the demo exercises the reader as real data does: the metadata CSV is UTF-8
with a byte-order mark and CRLF line ends, a few ``ID``s are not numbers (``50A``), a few
assessments are on two rows that differ in ``Onset (Days)``; the depth box file has
zero-padded keys, the thermal one plain integers; multi-ulcer frames are named after one
ulcer (the other ulcers' rows carry the truth in ``DFU#``); zoomed depth frames have no
map; maps carry their frame's file name; a few frames have two boxes for one ulcer. Each
planted irregularity is counted in the oracle summary's ``planted`` (as the reader's
summary will count it), and the oracle lists exactly the assessments that keep an image
set.
"""

from __future__ import annotations

import os
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from dfu.config import DataConfig
from dfu.constants import CLASSES
from dfu.data import schema
from dfu.demo import layout, render
from dfu.demo.clinic import metadata_table, simulate_clinic
from dfu.demo.oracle import SIGNAL_COLUMNS, write_oracle

# ``demo``: small frames (boxes scale with them), quick to write and to train on.
# ``clinic``: the clinic's size (268 patients, ~950 assessments, ~2,900 image sets; the
# clinic has 890 and ~2,860) at the real cameras' frame sizes, for timing and memory checks.
PRESETS: dict[str, dict] = {
    "demo": {
        "patients": 60,
        "seed": 0,
        "frame_scale": 0.25,
        "visits": (2, 8),
        "shots": layout.DEMO_SHOTS,
    },
    "clinic": {
        "patients": 268,
        "seed": 0,
        "frame_scale": 1.0,
        "visits": (1, 5),
        "shots": {"after": 0.45, "angles": (0.25, 0.4, 0.35), "zoom": 0.08},
    },
}
DEFAULT_FRAME_SCALE = PRESETS["demo"]["frame_scale"]
# The clinic's file has three assessments on two rows each (401/408, 447/454, 730/786).
CONFLICTING_DUPLICATES = 3
TEXT_ID_EVERY = 50  # every 50th ID gets a letter, like the clinic's "8208A"
THERMAL_FAULTS = ("thermal_angle_missing", "thermal_zoom_missing", "thermal_debridement_missing")


def make_demo(
    out: str | Path,
    patients: int | None = None,
    seed: int | None = None,
    frame_scale: float | None = None,
    *,
    workers: int = 0,
    progress: bool = False,
    preset: str = "demo",
) -> dict:
    """Write the demo dataset to ``out``; returns the oracle summary (also in ``_oracle/``).
    ``preset`` (``PRESETS``) sets the size; ``patients``, ``seed``, ``frame_scale`` override it."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; one of {', '.join(PRESETS)}")
    given = {"patients": patients, "seed": seed, "frame_scale": frame_scale}
    settings = {**PRESETS[preset], **{k: v for k, v in given.items() if v is not None}}
    seed, frame_scale = settings["seed"], settings["frame_scale"]
    out = Path(out)
    names = DataConfig()
    rng = np.random.default_rng(seed)
    clinic = simulate_clinic(settings["patients"], rng, settings["visits"])
    clinic["assessment_id"] = [
        schema.assessment_id(p, a, d) for p, a, d in clinic[["patient", "appt", "dfu"]].to_numpy()
    ]
    meta = metadata_table(clinic, rng)
    frames = layout.plan_frames(clinic, frame_scale, rng, settings["shots"])
    faults = layout.plant_faults(frames, rng)
    # One assessment loses its metadata row: its image sets must be skipped and counted.
    orphan = clinic.iloc[int(rng.integers(len(clinic)))]
    orphan_key = (int(orphan["patient"]), int(orphan["appt"]), int(orphan["dfu"]))
    meta = meta[[tuple(k) != orphan_key for k in meta[list(schema.KEY_COLUMNS)].to_numpy()]]
    meta, duplicates = _plant_metadata_quirks(meta, rng)

    for key, _ in schema.MODALITY_FOLDERS.values():  # the four image folders
        (out / getattr(names, key)).mkdir(parents=True, exist_ok=True)
    # As the clinic's file: UTF-8 with a byte-order mark, Windows line ends.
    meta.to_csv(out / names.metadata_csv, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    box_quirks = _write_bbox_csvs(out, names, frames)
    _render_all(
        out, names, clinic, frames, seed=seed, scale=frame_scale, workers=workers, progress=progress
    )

    quirks = {"orphan": orphan_key, "duplicates": duplicates, "boxes": box_quirks}
    planted, seen = _planted(frames, faults, meta, quirks)
    signals = clinic[clinic["assessment_id"].isin(seen)][["assessment_id", "y", *SIGNAL_COLUMNS]]
    prior = np.bincount(clinic["y"], minlength=len(CLASSES)) / len(clinic)
    return write_oracle(out, signals.reset_index(drop=True), prior, planted)


def _plant_metadata_quirks(
    meta: pd.DataFrame, rng: np.random.Generator
) -> tuple[pd.DataFrame, int]:
    """Text IDs, and a few assessments repeated a few lines later with another onset."""
    meta = meta.reset_index(drop=True)
    ids = [int(i) for i in meta["ID"]]
    meta["ID"] = [f"{i}A" if i % TEXT_ID_EVERY == 0 else str(i) for i in ids]
    onset = "Onset (Days)"
    candidates = np.flatnonzero(meta[onset].notna().to_numpy())
    chosen = sorted(
        rng.choice(candidates, size=min(CONFLICTING_DUPLICATES, len(candidates)), replace=False),
        reverse=True,
    )
    rows = meta.to_dict("records")
    for i in chosen:
        copy = dict(rows[i])
        copy[onset] = float(copy[onset]) + int(rng.integers(1, 60))
        rows.insert(min(i + 7, len(rows)), copy)
    return pd.DataFrame(rows, columns=meta.columns), len(chosen)


def _planted(frames, faults: dict, meta, quirks: dict) -> tuple[dict, set]:
    """Every planted irregularity, counted as the reader's summary counts it; and the
    assessments that keep an image set (every usable depth box finds a thermal view).
    ``quirks``: the ``orphan`` assessment's key, the ``duplicates`` planted in the metadata and
    the irregularities of the box files (``boxes``)."""
    orphan_key = quirks["orphan"]
    usable, mapless = [], []
    for f in frames:
        usable += [(f.patient, f.appt, d) for d in f.usable_depth_ulcers()]
        if not f.has_depth_map:
            mapless += [(f.patient, f.appt, d) for d in f.ulcers]
    matched = [k for k in usable if k != orphan_key]
    seen = {schema.assessment_id(*k) for k in matched}
    lost = [schema.assessment_id(*k) for k in mapless if k != orphan_key]
    depth_frames = len(frames)
    without_map = [f for f in frames if not f.has_depth_map]
    planted = {
        **{k: faults[k] for k in THERMAL_FAULTS},
        "image_sets": len(matched),
        "skips": {
            "missing_map": len(mapless),
            "no_metadata": len(usable) - len(matched),
            "conflicting_boxes": 2 * faults["conflicting_box_frames"],
            "conflicting_duplicate_row": quirks["duplicates"],
        },
        "accepted": {
            "byte_order_mark": 1,
            "crlf_line_ends": 1,
            "text_id": int((~meta["ID"].str.fullmatch(r"\d+")).sum()),
            **quirks["boxes"],
        },
        "depth_maps": {
            "frames": depth_frames,
            "same_name": depth_frames - len(without_map),
            "none": len(without_map),
            "none_zoomed": sum(f.zoom == "Z" for f in without_map),
        },
        "missing_map_cost": {"image_sets": len(lost), "assessments": len(set(lost) - seen)},
    }
    return planted, seen


def _write_bbox_csvs(out: Path, names: DataConfig, frames: list[layout.Frame]) -> dict[str, int]:
    """Both box CSVs; returns the counts of the irregularities written into them."""
    rows = {"D": [], "T": []}
    counts = {"zero_padded_key": 0, "name_digit_not_dfu": 0}
    for f in frames:
        for camera, boxes in (("D", f.depth_boxes), ("T", f.thermal_boxes)):
            if camera == "T" and f.thermal_missing:
                continue
            written = list(zip(f.ulcers, boxes, strict=True))
            if camera == "D" and f.extra_depth_box:
                written.append((f.ulcers[0], f.extra_depth_box))  # same ulcer, same number
            for dfu, box in written:
                number = f.ulcers.index(dfu) + 1
                # The clinic's depth file has zero-padded text keys ("003", "01"), the thermal
                # file plain integers.
                patient, appt = f.patient, f.appt
                if camera == "D":
                    patient, appt = f"{f.patient:03d}", f"{f.appt:02d}"
                    counts["zero_padded_key"] += f.patient < 100 or f.appt < 10
                counts["name_digit_not_dfu"] += dfu != f.dfu
                rows[camera].append(
                    [
                        f.name(camera),
                        patient,
                        appt,
                        dfu,
                        f.debridement,
                        camera,
                        f.angle,
                        number,
                        *box,
                    ]
                )
    for camera, filename in (("D", names.bbox_depth_csv), ("T", names.bbox_thermal_csv)):
        pd.DataFrame(rows[camera], columns=list(schema.BBOX_COLUMNS)).to_csv(
            out / filename, index=False
        )
    return counts


def _render_all(out, names, clinic, frames, *, seed, scale, workers, progress) -> None:
    latents = clinic.set_index(["patient", "appt", "dfu"])[["appearance", "heat", "crater"]]
    skin = _skin_tones(clinic["patient"].max(), seed)
    jobs = [
        (
            out,
            names,
            f,
            [tuple(latents.loc[(f.patient, f.appt, d)]) for d in f.ulcers],
            skin[f.patient],
            (seed, i),
            scale,
        )
        for i, f in enumerate(frames)
    ]
    workers = workers or os.cpu_count() or 1
    start = time.time()
    with ProcessPoolExecutor(workers) as pool:
        for done, _ in enumerate(pool.map(_render_frame, jobs, chunksize=16), start=1):
            if progress and (done % 500 == 0 or done == len(jobs)):
                print(
                    f"demo: {done}/{len(jobs)} frames, {time.time() - start:.1f} s", file=sys.stderr
                )


def _skin_tones(n_patients: int, seed: int) -> dict[int, tuple[float, float, float]]:
    rng = np.random.default_rng([seed, 7])
    base = np.array([228.0, 186.0, 158.0])
    return {p: tuple(base * rng.uniform(0.55, 1.05)) for p in range(1, n_patients + 1)}


def _render_frame(job) -> None:
    """Draw and save the (up to) four images of one frame; runs in a worker process."""
    out, names, frame, latents, skin, frame_seed, scale = job
    rng = np.random.default_rng(frame_seed)
    (dw, dh), (tw, th) = layout.frame_sizes(scale)
    lighting = rng.uniform(0.85, 1.15)
    tilt = {"L": -0.08, "M": 0.0, "R": 0.08}[frame.angle] + rng.normal(0, 0.03)
    depth_ulcers = [
        render.Ulcer(b, *lat) for b, lat in zip(frame.depth_boxes, latents, strict=False)
    ]
    _save(
        render.render_rgb((dh, dw), depth_ulcers, skin, lighting, rng),
        out / names.depth_rgb_dir / frame.name("D"),
    )
    if frame.has_depth_map:
        _save(
            render.render_depth_map((dh, dw), depth_ulcers, tilt, rng),
            out / names.depth_map_dir / frame.name("D"),
        )
    if frame.thermal_missing:
        return
    thermal_ulcers = [
        render.Ulcer(b, *lat) for b, lat in zip(frame.thermal_boxes, latents, strict=False)
    ]
    _save(
        render.render_rgb((th, tw), thermal_ulcers, skin, lighting, rng),
        out / names.thermal_rgb_dir / frame.name("T"),
    )
    base = 0.3 + rng.uniform(0.0, 0.12)
    _save(
        render.render_thermal_map((th, tw), thermal_ulcers, base, rng),
        out / names.thermal_map_dir / frame.name("T"),
    )


def _save(image: np.ndarray, path: Path) -> None:
    # Fast deflate with run-length matching: flat rows cost next to nothing (PNG's own row
    # filters turn them into runs), so full-size frames stay small and quick to write.
    Image.fromarray(image).save(path, compress_level=1, compress_type=zlib.Z_RLE)
