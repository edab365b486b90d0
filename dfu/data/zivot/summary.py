"""The reader's summary: counts for people and for logs (JSON-ready), and its text form."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from dfu.constants import CLASSES, IMAGE_MODALITIES
from dfu.data.errors import Skip
from dfu.data.zivot.folders import Folder, map_counts
from dfu.data.zivot.match import MATCH_STEPS
from dfu.data.zivot.table import Note

SKIP_EXAMPLES = 3
REASON_WIDTH = 25  # the longest reason, conflicting_duplicate_row


def summarise(
    root: Path,
    assessments: pd.DataFrame,
    image_sets: pd.DataFrame,
    folders: dict[str, Folder],
    *,
    skips: list[Skip],
    notes: list[Note],
) -> dict[str, Any]:
    """Counts for people and for logs; JSON-ready (str keys, plain ints)."""
    modalities: dict[str, dict[str, int]] = {"metadata": {"assessments": len(assessments)}}
    for m in IMAGE_MODALITIES:
        used = int(image_sets[f"{m}_path"].nunique())
        modalities[m] = {"files": len(folders[m].names), "used": used}
    return {
        "root": str(root),
        "patients": int(assessments["patient"].nunique()),
        "patients_with_images": int(image_sets["patient"].nunique()),
        "assessments": len(assessments),
        "assessments_with_images": int(assessments["has_images"].sum()),
        "image_sets": len(image_sets),
        "classes": {
            "assessments": _class_counts(assessments["label"]),
            "image_sets": _class_counts(image_sets["label"]),
        },
        "modalities": modalities,
        "match_steps": {str(k): int((image_sets["match_step"] == k).sum()) for k in range(4)},
        "maps": {
            "depth": map_counts(folders["depth_rgb"], folders["depth_map"]),
            "thermal": map_counts(folders["thermal_rgb"], folders["thermal_map"]),
        },
        "skips": _skip_counts(skips, root),
        "accepted": _note_counts(notes, root),
    }


def _skip_counts(skips: list[Skip], root: Path) -> dict[str, dict]:
    """Per reason: how many, and a few examples (paths relative to the dataset)."""
    return {reason: _counted(found, root) for reason, found in _grouped(skips, "reason")}


def _note_counts(notes: list[Note], root: Path) -> dict[str, dict]:
    """Per kind of irregularity read as is: how many, in which files, a few examples."""
    return {kind: _counted(found, root, by_file=True) for kind, found in _grouped(notes, "kind")}


def _grouped(items: list, attribute: str) -> list[tuple[str, list]]:
    groups: dict[str, list] = defaultdict(list)
    for item in items:
        groups[getattr(item, attribute)].append(item)
    return sorted(groups.items())


def _counted(found: list, root: Path, by_file: bool = False) -> dict:
    out: dict = {"count": len(found)}
    if by_file:
        out["by_file"] = dict(Counter(Path(item.file).name for item in found))
    out["examples"] = [str(_relative(item, root)) for item in found[:SKIP_EXAMPLES]]
    return out


def _class_counts(labels: pd.Series) -> dict[str, int]:
    counts = {c: int((labels == c).sum()) for c in CLASSES}
    unlabelled = int(labels.isna().sum())
    return {**counts, "unlabelled": unlabelled} if unlabelled else counts


def _relative(item: Skip | Note, root: Path) -> Skip | Note:
    path = Path(item.file)
    if not path.is_relative_to(root):
        return item
    return dataclasses.replace(item, file=str(path.relative_to(root)))


def format_summary(summary: dict[str, Any]) -> str:
    """The reader's summary as a few lines of text for people."""
    lines = [
        f"dataset      {summary['root']}",
        f"patients     {summary['patients']} ({summary['patients_with_images']} with images)",
        f"assessments  {summary['assessments']} ({summary['assessments_with_images']} with images)",
        f"image sets   {summary['image_sets']}",
    ]
    for what, counts in summary["classes"].items():
        lines.append(f"classes of {what}: {_shares(counts)}")
    lines.append("modalities:")
    for modality, found in summary["modalities"].items():
        text = ", ".join(f"{n} {k}" for k, n in found.items())
        lines.append(f"  {modality:12s} {text}")
    steps = summary["match_steps"]
    matched = (f"{steps[str(k)]} {name}" for k, name in enumerate(MATCH_STEPS))
    lines.append("thermal match: " + ", ".join(matched))
    for camera, found in summary.get("maps", {}).items():
        lines.append(f"maps of {camera} frames: {_map_line(found)}")
    if "missing_map_cost" in summary:
        lines.append(missing_map_line(summary))
    total = sum(r["count"] for r in summary["skips"].values())
    lines.append(f"skipped: {total}" + (" (nothing)" if not total else ""))
    for reason, found in summary["skips"].items():
        lines.append(f"  {reason:{REASON_WIDTH}s} {found['count']}")
        lines.extend(f"      e.g. {example}" for example in found["examples"])
    accepted = summary.get("accepted", {})
    lines.append("read as is: " + (", ".join(accepted) if accepted else "nothing irregular"))
    for kind, found in accepted.items():
        files = ", ".join(f"{n} in {name}" for name, n in found["by_file"].items())
        lines.append(f"  {kind:{REASON_WIDTH}s} {found['count']} ({files})")
        lines.extend(f"      e.g. {example}" for example in found["examples"])
    return "\n".join(lines)


def missing_map_line(summary: dict[str, Any]) -> str:
    """One line: what depth frames without a map cost (image sets, assessments)."""
    cost = summary["missing_map_cost"]
    total = summary["image_sets"] + cost["image_sets"]
    share = 100 * cost["image_sets"] / total if total else 0.0
    return (
        f"depth frames without a map cost {cost['image_sets']} image sets ({share:.1f}%) and "
        f"{cost['assessments']} assessments (skipped for every combination)"
    )


def _map_line(found: dict[str, int]) -> str:
    parts = [
        f"{found['frames']} frames",
        f"{found['same_name']} same name",
        f"{found['same_token']} same token only",
    ]
    if found["ambiguous"]:
        parts.append(f"{found['ambiguous']} ambiguous")
    parts.append(f"{found['none']} none ({found['none_zoomed']} zoomed)")
    return ", ".join(parts)


def _shares(counts: dict[str, int]) -> str:
    total = sum(counts.values()) or 1
    return ", ".join(f"{c} {n} ({100 * n / total:.0f}%)" for c, n in counts.items())
