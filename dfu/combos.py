"""Modality combinations: every non-empty subset of the five modalities, named canonically.

A combination is a tuple of modality names in the fixed order of ``MODALITIES`` and is
written ``metadata+depth_rgb+thermal_map`` in configs, file names and reports.
"""

from __future__ import annotations

from itertools import combinations as _subsets

from dfu.constants import IMAGE_MODALITIES, MODALITIES

Combo = tuple[str, ...]

# The clinic's own studies: the 15 subsets of these four modalities.
CLINIC_MODALITIES = ("metadata", "depth_rgb", "depth_map", "thermal_map")


def all_subsets(modalities: tuple[str, ...] = MODALITIES) -> list[Combo]:
    """Every non-empty subset, smallest first, in canonical order."""
    return [c for k in range(1, len(modalities) + 1) for c in _subsets(modalities, k)]


def combo_name(combo: Combo) -> str:
    return "+".join(combo)


def parse_combo(text: str) -> Combo:
    parts = [p.strip() for p in text.split("+") if p.strip()]
    unknown = [p for p in parts if p not in MODALITIES]
    if not parts or unknown:
        raise ValueError(
            f"{text!r}: unknown modality {unknown[0] if unknown else '(empty)'}; "
            f"known: {', '.join(MODALITIES)}"
        )
    if len(set(parts)) != len(parts):
        raise ValueError(f"{text!r}: a modality is repeated")
    return tuple(m for m in MODALITIES if m in parts)


def parse_combinations(spec: str | list[str]) -> list[Combo]:
    """``"all"``, ``"clinic"``, one name, or a list of names -> canonical combos."""
    if isinstance(spec, str):
        if spec == "all":
            return all_subsets()
        if spec == "clinic":
            return all_subsets(CLINIC_MODALITIES)
        spec = [spec]
    combos = [parse_combo(s) for s in spec]
    if not combos:
        raise ValueError("no combinations given")
    return list(dict.fromkeys(combos))


def image_modalities(combo: Combo) -> tuple[str, ...]:
    return tuple(m for m in combo if m in IMAGE_MODALITIES)


def has_metadata(combo: Combo) -> bool:
    return "metadata" in combo


# The linear baseline of an image modality (dfu.models.baseline) is scored like a combination and
# named ``linear(depth_rgb)`` in results, files and the report; it is never a candidate.
BASELINE_PREFIX = "linear("


def baseline_name(modality: str) -> str:
    return f"{BASELINE_PREFIX}{modality})"


def is_baseline(name: str) -> bool:
    return name.startswith(BASELINE_PREFIX) and name.endswith(")")


def baseline_modality(name: str) -> str:
    """``linear(depth_rgb)`` -> ``depth_rgb``."""
    if not is_baseline(name):
        raise ValueError(f"{name!r} is not a linear baseline's name")
    return name[len(BASELINE_PREFIX) : -1]
