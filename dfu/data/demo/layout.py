"""Which photos the clinic took: frames, their file names and ulcer boxes, planted faults.

For each assessment: before and sometimes after debridement, one to three angles, wide
and sometimes zoomed. Two ulcers seen together share their wide frames (a multi-ulcer
image with one box row per ulcer). A few thermal frames are missing, so the reader's
fallback steps are exercised; a few image sets are planted to be incomplete, so its
skip accounting is exercised. Every planted fault is recorded for the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dfu.data.schema import ImageName

REAL_DEPTH_FRAME = (1280, 720)  # width, height
REAL_THERMAL_FRAME = (1080, 1440)
ANGLES = ("L", "M", "R")


@dataclass
class Frame:
    """One shot: the depth camera's frame and, unless missing, the thermal camera's."""

    patient: int
    appt: int
    dfu: int  # the ulcer the file is named after
    debridement: str
    angle: str
    zoom: str
    ulcers: list[int]  # DFU numbers visible (boxes), first = dfu
    depth_boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    thermal_boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    thermal_missing: bool = False
    depth_map_missing: bool = False
    depth_seq: int = 0
    thermal_seq: int = 0

    def name(self, camera: str) -> str:
        seq = self.depth_seq if camera == "D" else self.thermal_seq
        return ImageName(seq, self.patient, self.appt, self.dfu, self.debridement, camera,
                         self.angle, self.zoom).filename  # fmt: skip


def plan_frames(clinic: pd.DataFrame, frame_scale: float, rng: np.random.Generator) -> list[Frame]:
    """All frames of the clinic, with boxes placed, in a deterministic order."""
    frames: list[Frame] = []
    for (patient, appt), visit in clinic.groupby(["patient", "appt"], sort=True):
        ulcers = sorted(visit["dfu"].tolist())
        shared = len(ulcers) > 1 and rng.random() < 0.5
        for dfu in ulcers:
            for deb, angle, zoom in _shots(rng):
                if shared and zoom == "W" and dfu != ulcers[0]:
                    continue  # this ulcer's wide views are in the first ulcer's frames
                seen = ulcers if shared and zoom == "W" else [dfu]
                frames.append(Frame(int(patient), int(appt), dfu, deb, angle, zoom, seen))
    for frame in frames:
        _place_boxes(frame, frame_scale, rng)
    for i, frame in enumerate(frames):
        frame.depth_seq, frame.thermal_seq = 2 * i + 1, 2 * i + 2
    return frames


def _shots(rng: np.random.Generator) -> list[tuple[str, str, str]]:
    debs = ["B"] + (["A"] if rng.random() < 0.35 else [])
    n_angles = rng.choice([1, 2, 3], p=[0.3, 0.4, 0.3])
    angles = sorted(rng.choice(ANGLES, size=n_angles, replace=False))
    zooms = ["W"] + (["Z"] if rng.random() < 0.5 else [])
    return [(d, a, z) for d in debs for a in angles for z in zooms]


def frame_sizes(frame_scale: float) -> tuple[tuple[int, int], tuple[int, int]]:
    """(width, height) of depth and thermal frames at this scale."""
    d = tuple(int(round(v * frame_scale)) for v in REAL_DEPTH_FRAME)
    t = tuple(int(round(v * frame_scale)) for v in REAL_THERMAL_FRAME)
    return d, t  # type: ignore[return-value]


def _place_boxes(frame: Frame, scale: float, rng: np.random.Generator) -> None:
    (dw, dh), (tw, th) = frame_sizes(scale)
    zoom = 2.2 if frame.zoom == "Z" else 1.0
    for k, _ in enumerate(frame.ulcers):
        size = float(np.clip(rng.lognormal(np.log(55), 0.3), 16, 300)) * zoom * scale
        frame.depth_boxes.append(_box(size, size * rng.uniform(0.9, 1.1), dw, dh, k, rng))
        frame.thermal_boxes.append(_box(size * 1.15, size * 1.45, tw, th, k, rng))


def _box(w: float, h: float, fw: int, fh: int, slot: int, rng) -> tuple[int, int, int, int]:
    """A box inside the frame; ulcers of one frame go to different horizontal slots."""
    w, h = max(int(w), 6), max(int(h), 6)
    lo = int(fw * slot / 3)
    hi = max(lo + 1, int(fw * (slot + 1) / 3) - w)
    x0 = int(rng.integers(lo, hi)) if hi > lo else 0
    y0 = int(rng.integers(0, max(1, fh - h)))
    return (x0, y0, min(x0 + w, fw - 1), min(y0 + h, fh - 1))


def plant_faults(frames: list[Frame], rng: np.random.Generator) -> dict[str, int]:
    """Remove a few thermal frames (fallback steps 1-3) and depth maps (counted skips)."""
    by_ulcer: dict[tuple, list[Frame]] = {}
    for f in frames:
        for dfu in f.ulcers:
            by_ulcer.setdefault((f.patient, f.appt, dfu), []).append(f)
    singles = [f for f in frames if len(f.ulcers) == 1]
    planted = {"thermal_angle_missing": 0, "thermal_zoom_missing": 0,
               "thermal_debridement_missing": 0, "depth_map_missing": 0}  # fmt: skip
    for views in by_ulcer.values():
        kinds = {(f.debridement, f.zoom, f.angle) for f in views}
        if len(views) < 2 or any(len(f.ulcers) > 1 for f in views):
            continue
        step = _plant_one(views, kinds, rng)
        if step:
            planted[step] += 1
    for f in rng.permutation(np.array(singles, dtype=object))[:2]:
        if not f.thermal_missing:
            f.depth_map_missing = True
            planted["depth_map_missing"] += 1
    return planted


def _plant_one(views: list[Frame], kinds: set, rng: np.random.Generator) -> str | None:
    """Maybe drop thermal views of one ulcer so that exactly one fallback step is needed."""
    u = rng.random()
    if u < 0.06:  # one angle missing, another angle with same zoom and debridement remains
        for f in views:
            if any(k[:2] == (f.debridement, f.zoom) and k[2] != f.angle for k in kinds):
                f.thermal_missing = True
                return "thermal_angle_missing"
    elif u < 0.09:  # every zoomed thermal view missing, wide ones remain
        zoomed = [f for f in views if f.zoom == "Z"]
        if zoomed and len(zoomed) < len(views):
            debs = {f.debridement for f in zoomed}
            if all(any(v.debridement == d and v.zoom == "W" for v in views) for d in debs):
                for f in zoomed:
                    f.thermal_missing = True
                return "thermal_zoom_missing"
    elif u < 0.11:  # every after-debridement thermal view missing
        after = [f for f in views if f.debridement == "A"]
        if after and len(after) < len(views):
            for f in after:
                f.thermal_missing = True
            return "thermal_debridement_missing"
    return None
