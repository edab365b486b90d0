"""``make_demo``: write a synthetic clinic in exactly the Zivot layout, with its oracle."""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from dfu.config import CLASSES, DataConfig
from dfu.data import schema
from dfu.data.demo import layout, render
from dfu.data.demo.clinic import metadata_table, simulate_clinic
from dfu.data.demo.oracle import SIGNAL_COLUMNS, write_oracle

# Demo frames are smaller than the real cameras' (boxes scale with them).
DEFAULT_FRAME_SCALE = 0.25


def make_demo(
    out: str | Path,
    patients: int = 60,
    seed: int = 0,
    frame_scale: float = DEFAULT_FRAME_SCALE,
    workers: int = 0,
    progress: bool = False,
) -> dict:
    """Write the demo dataset to ``out``; returns the oracle summary (also in ``_oracle/``)."""
    out = Path(out)
    names = DataConfig()
    rng = np.random.default_rng(seed)
    clinic = simulate_clinic(patients, rng)
    clinic["assessment_id"] = [
        schema.assessment_id(p, a, d) for p, a, d in clinic[["patient", "appt", "dfu"]].to_numpy()
    ]
    meta = metadata_table(clinic, rng)
    frames = layout.plan_frames(clinic, frame_scale, rng)
    planted = layout.plant_faults(frames, rng)
    # One assessment loses its metadata row: its image sets must be skipped and counted.
    orphan = clinic.iloc[int(rng.integers(len(clinic)))]
    keep = ~((meta["Patient#"] == orphan["patient"]) & (meta["Appt#"] == orphan["appt"])
             & (meta["DFU#"] == orphan["dfu"]))  # fmt: skip
    meta = meta[keep]
    planted["no_metadata_image_sets"] = sum(
        (f.patient, f.appt) == (orphan["patient"], orphan["appt"])
        and int(orphan["dfu"]) in f.ulcers
        and not f.depth_map_missing
        for f in frames
    )
    planted["depth_map_missing_image_sets"] = planted.pop("depth_map_missing")

    for sub in (
        names.depth_rgb_dir,
        names.depth_map_dir,
        names.thermal_rgb_dir,
        names.thermal_map_dir,
    ):
        (out / sub).mkdir(parents=True, exist_ok=True)
    meta.to_csv(out / names.metadata_csv, index=False)
    _write_bbox_csvs(out, names, frames)
    _render_all(out, names, clinic, frames, seed, frame_scale, workers, progress)

    seen = _assessments_with_images(frames) - {orphan["assessment_id"]}
    signals = clinic[clinic["assessment_id"].isin(seen)][["assessment_id", "y", *SIGNAL_COLUMNS]]
    prior = np.bincount(clinic["y"], minlength=len(CLASSES)) / len(clinic)
    return write_oracle(out, signals.reset_index(drop=True), prior, planted)


def _assessments_with_images(frames: list[layout.Frame]) -> set[str]:
    return {
        schema.assessment_id(f.patient, f.appt, d)
        for f in frames
        if not f.depth_map_missing
        for d in f.ulcers
    }


def _write_bbox_csvs(out: Path, names: DataConfig, frames: list[layout.Frame]) -> None:
    rows = {"D": [], "T": []}
    for f in frames:
        for camera, boxes in (("D", f.depth_boxes), ("T", f.thermal_boxes)):
            if camera == "T" and f.thermal_missing:
                continue
            for number, (dfu, box) in enumerate(zip(f.ulcers, boxes, strict=False), start=1):
                # The clinic's depth file has zero-padded text patient ids, the thermal file ints.
                patient = f"{f.patient:03d}" if camera == "D" else f.patient
                rows[camera].append([f.name(camera), patient, f.appt, dfu, f.debridement,
                                     camera, f.angle, number, *box])  # fmt: skip
    for camera, filename in (("D", names.bbox_depth_csv), ("T", names.bbox_thermal_csv)):
        pd.DataFrame(rows[camera], columns=list(schema.BBOX_COLUMNS)).to_csv(
            out / filename, index=False
        )


def _render_all(out, names, clinic, frames, seed, frame_scale, workers, progress) -> None:
    latents = clinic.set_index(["patient", "appt", "dfu"])[["appearance", "heat", "crater"]]
    skin = _skin_tones(clinic["patient"].max(), seed)
    jobs = [
        (out, names, f, [tuple(latents.loc[(f.patient, f.appt, d)]) for d in f.ulcers],
         skin[f.patient], (seed, i), frame_scale)
        for i, f in enumerate(frames)
    ]  # fmt: skip
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
    _save(render.render_rgb((dh, dw), depth_ulcers, skin, lighting, rng),
          out / names.depth_rgb_dir / frame.name("D"))  # fmt: skip
    if not frame.depth_map_missing:
        _save(render.render_depth_map((dh, dw), depth_ulcers, tilt, rng),
              out / names.depth_map_dir / frame.name("D"))  # fmt: skip
    if frame.thermal_missing:
        return
    thermal_ulcers = [
        render.Ulcer(b, *lat) for b, lat in zip(frame.thermal_boxes, latents, strict=False)
    ]
    _save(render.render_rgb((th, tw), thermal_ulcers, skin, lighting, rng),
          out / names.thermal_rgb_dir / frame.name("T"))  # fmt: skip
    base = 0.3 + rng.uniform(0.0, 0.12)
    _save(render.render_thermal_map((th, tw), thermal_ulcers, base, rng),
          out / names.thermal_map_dir / frame.name("T"))  # fmt: skip


def _save(image: np.ndarray, path: Path) -> None:
    Image.fromarray(image).save(path, compress_level=1)
