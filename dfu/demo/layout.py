"""Which photos the clinic took: frames, their file names and ulcer boxes, planted faults.

For each assessment: before and sometimes after debridement, one to three angles, wide
and sometimes zoomed. Two ulcers seen together share their wide frames (a multi-ulcer
image with one box row per ulcer, named after the first ulcer: the other ulcers' rows
carry a DFU# that is not the file name's digit, as in the clinic's files). A few thermal
frames are missing, so the reader's fallback steps are exercised; a few image sets are
planted to be incomplete, so its skip accounting is exercised: zoomed depth frames have
no depth map (as in the clinic's files), a few wide ones lose theirs, and a few frames
carry two different boxes for one ulcer. Every planted fault is recorded for the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dfu.data.schema import ImageName

REAL_DEPTH_FRAME = (1280, 720)  # width, height
REAL_THERMAL_FRAME = (1080, 1440)
ANGLES = ("L", "M", "R")
# Shots per assessment: P(after-debridement shots), P(1, 2, 3 angles), P(zoomed shots).
# Zoomed shots are ~8% of the depth frames, as in the clinic's files.
DEMO_SHOTS = {"after": 0.65, "angles": (0.1, 0.3, 0.6), "zoom": 0.065}


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
    depth_map_missing: bool = False  # planted on a wide frame (zoomed frames never have one)
    # A second, different depth box for the frame's (single) ulcer: both rows are dropped.
    extra_depth_box: tuple[int, int, int, int] | None = None
    depth_seq: int = 0
    thermal_seq: int = 0

    @property
    def has_depth_map(self) -> bool:
        return self.zoom == "W" and not self.depth_map_missing

    def usable_depth_ulcers(self) -> list[int]:
        """The ulcers of this frame that the reader can turn into image sets (given a
        metadata row and a thermal view): the frame has a map and one box per ulcer."""
        return [] if not self.has_depth_map or self.extra_depth_box else list(self.ulcers)

    def name(self, camera: str) -> str:
        seq = self.depth_seq if camera == "D" else self.thermal_seq
        return ImageName(
            seq, self.patient, self.appt, self.dfu, self.debridement, camera, self.angle, self.zoom
        ).filename


def plan_frames(
    clinic: pd.DataFrame,
    frame_scale: float,
    rng: np.random.Generator,
    shots: dict | None = None,
) -> list[Frame]:
    """All frames of the clinic, with boxes placed, in a deterministic order."""
    shots = shots or DEMO_SHOTS
    frames: list[Frame] = []
    for (patient, appt), visit in clinic.groupby(["patient", "appt"], sort=True):
        ulcers = sorted(visit["dfu"].tolist())
        shared = len(ulcers) > 1 and rng.random() < 0.5
        for dfu in ulcers:
            for deb, angle, zoom in _shots(rng, shots):
                if shared and zoom == "W" and dfu != ulcers[0]:
                    continue  # this ulcer's wide views are in the first ulcer's frames
                seen = ulcers if shared and zoom == "W" else [dfu]
                frames.append(Frame(int(patient), int(appt), dfu, deb, angle, zoom, seen))
    for frame in frames:
        _place_boxes(frame, frame_scale, rng)
    for i, frame in enumerate(frames):
        frame.depth_seq, frame.thermal_seq = 2 * i + 1, 2 * i + 2
    return frames


def _shots(rng: np.random.Generator, shots: dict) -> list[tuple[str, str, str]]:
    debs = ["B"] + (["A"] if rng.random() < shots["after"] else [])
    n_angles = rng.choice([1, 2, 3], p=list(shots["angles"]))
    angles = sorted(rng.choice(ANGLES, size=n_angles, replace=False))
    zooms = ["W"] + (["Z"] if rng.random() < shots["zoom"] else [])
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
        frame.depth_boxes.append(_box((size, size * rng.uniform(0.9, 1.1)), (dw, dh), k, rng))
        frame.thermal_boxes.append(_box((size * 1.15, size * 1.45), (tw, th), k, rng))


def _box(size: tuple[float, float], frame: tuple[int, int], slot: int, rng) -> tuple[int, ...]:
    """A box of ``size`` (w, h) inside a ``frame`` (width, height); ulcers of one frame go to
    different horizontal slots."""
    (w, h), (fw, fh) = size, frame
    w, h = max(int(w), 6), max(int(h), 6)
    lo = int(fw * slot / 3)
    hi = max(lo + 1, int(fw * (slot + 1) / 3) - w)
    x0 = int(rng.integers(lo, hi)) if hi > lo else 0
    y0 = int(rng.integers(0, max(1, fh - h)))
    return (x0, y0, min(x0 + w, fw - 1), min(y0 + h, fh - 1))


def plant_faults(
    frames: list[Frame], rng: np.random.Generator, conflicting_frames: int = 3
) -> dict[str, int]:
    """Remove a few thermal frames (fallback steps 1-3) and depth maps (counted skips), and
    give a few frames two different boxes for one ulcer (counted skips)."""
    by_ulcer: dict[tuple, list[Frame]] = {}
    for f in frames:
        for dfu in f.ulcers:
            by_ulcer.setdefault((f.patient, f.appt, dfu), []).append(f)
    planted = {
        "thermal_angle_missing": 0,
        "thermal_zoom_missing": 0,
        "thermal_debridement_missing": 0,
        "depth_map_missing": 0,
        "conflicting_box_frames": 0,
    }
    for views in by_ulcer.values():
        if len(views) < 2 or any(len(f.ulcers) > 1 for f in views):
            continue
        step = _plant_one(views, rng)
        if step:
            planted[step] += 1
    # Wide single-ulcer frames, at most one per ulcer, whose ulcer keeps two other wide views.
    used: set[tuple] = set()
    spare = []
    for i in rng.permutation(len(frames)):
        f = frames[i]
        ulcer = (f.patient, f.appt, f.dfu)
        if len(f.ulcers) == 1 and f.zoom == "W" and not f.thermal_missing and ulcer not in used:
            if sum(v.zoom == "W" for v in by_ulcer[ulcer]) > 2:
                used.add(ulcer)
                spare.append(f)
    for f in spare[:2]:
        f.depth_map_missing = True
        planted["depth_map_missing"] += 1
    for f in spare[2 : 2 + conflicting_frames]:
        # A second, tighter box for the same ulcer: which one outlines it is unknown.
        x0, y0, x1, y1 = f.depth_boxes[0]
        inset = max(1, min(x1 - x0, y1 - y0) // 6)
        f.extra_depth_box = (x0 + inset, y0 + inset, x1, y1)
        planted["conflicting_box_frames"] += 1
    return planted


def _plant_one(views: list[Frame], rng: np.random.Generator) -> str | None:
    """Maybe drop thermal views of one ulcer so that exactly one fallback step is needed by
    some of its wide depth views (zoomed depth frames have no map: never image sets)."""
    wide = [f for f in views if f.zoom == "W"]
    zoomed_debs = {f.debridement for f in views if f.zoom == "Z"}
    if zoomed_debs and rng.random() < 0.3:
        # Every wide thermal view of one debridement status missing, zoomed ones remain.
        deb = sorted(zoomed_debs)[0]
        for f in wide:
            if f.debridement == deb:
                f.thermal_missing = True
        return "thermal_zoom_missing"
    u = rng.random()
    if u < 0.06:  # one angle missing, another angle with same zoom and debridement remains
        for f in wide:
            if any(v.debridement == f.debridement and v.angle != f.angle for v in wide):
                f.thermal_missing = True
                return "thermal_angle_missing"
    elif u < 0.09:  # every after-debridement thermal view missing
        after = [f for f in views if f.debridement == "A"]
        if after and len(after) < len(views) and any(f.debridement == "A" for f in wide):
            for f in after:
                f.thermal_missing = True
            return "thermal_debridement_missing"
    return None
