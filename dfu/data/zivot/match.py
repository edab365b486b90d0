"""Match image sets to assessments: each usable depth box gets a thermal view of the same
ulcer at the same visit, falling back step by step (same shot, other angle, other zoom, other
debridement); ``missing_map_cost`` counts what depth frames without a map cost.

The rules for what is skipped and counted are set out in the docstring of
``dfu.data.zivot.reader``, which calls these.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from dfu.constants import IMAGE_MODALITIES
from dfu.data import schema
from dfu.data.errors import Skip
from dfu.data.zivot.boxes import BoxRow
from dfu.data.zivot.views import View

BOX_KEYS = ("xmin", "ymin", "xmax", "ymax")
IMAGE_SET_COLUMNS = (
    *schema.IMAGE_SET_IDS,
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
    depth: list[View],
    thermal: list[View],
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
    thermal: list[View],
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


def _thermal_pool(thermal: list[View]) -> dict[tuple[int, int, int], list[View]]:
    pool: dict[tuple[int, int, int], list[View]] = defaultdict(list)
    for view in sorted(thermal, key=lambda v: v.sort_key):
        pool[_ulcer(view)].append(view)
    return pool


def _ulcer(view: View | BoxRow) -> tuple[int, int, int]:
    """(patient, appt, ulcer): the ulcer is the box row's DFU#, not the file name's digit."""
    return view.name.patient, view.name.appt, view.dfu


def _find_thermal(depth: schema.ImageName, candidates: list[View]) -> tuple[View, int] | None:
    """The first candidate (sorted by token) at the strictest step that has one."""
    for step, test in enumerate(_STEP_TESTS):
        for view in candidates:
            if test(depth, view.name):
                return view, step
    return None


def _image_set(depth: View, thermal: View, step: int, aid: str) -> dict[str, Any]:
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
