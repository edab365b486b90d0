"""The plan of a search: its units of work, what each needs first, and what "done" means.

One plan, two executors: ``dfu.runs.local`` runs it in this process, ``cluster.search`` on
Ray (Tune schedules each unit as soon as what it needs is done: no barrier between phases).
A unit is one piece of one outer fold:

- ``metadata`` (fold k): the fold's random forest: probabilities for every assessment (out of
  fold for inner-train rows) and the fitted pipeline, kept in ``folds/fold{k}/``;
- ``linear`` (fold k, image modality m): the logistic-regression baseline on m's pixels;
- ``pretrain`` (fold k, m): branch m trained alone, once per search; after ``linear`` (k, m),
  whose inner-val kappa its ``below-baseline`` verdict compares with;
- ``trial`` (fold k, combination c): c's model trained and scored on the test fold; after
  ``metadata`` (k) when c has metadata, and after ``pretrain`` (k, m) for each m of c.

Done = the unit's last-written output exists and parses (every writer writes to a temporary
name and renames). That is what makes a rerun resume: done units are kept, never re-run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from dfu.combos import Combo, baseline_name, combo_name, has_metadata, image_modalities, parse_combo
from dfu.store.layout import RECORD_FILE, TRIAL_FILE, RunLayout
from dfu.store.records import read_json

KINDS = ("metadata", "linear", "pretrain", "trial")
# Rough cost of a unit, for ordering: long units first leave fewer stragglers at the end.
_COST = {"metadata": 1, "linear": 1, "pretrain": 4, "trial": 2}


@dataclass(frozen=True, order=True)
class Unit:
    fold: int
    kind: str
    name: str = ""  # the modality (linear, pretrain), the combination (trial), "" (metadata)

    @property
    def id(self) -> str:
        return f"fold{self.fold}-{self.kind}" + (f"-{self.name}" if self.name else "")

    @property
    def combo(self) -> Combo:
        return parse_combo(self.name)

    @property
    def modalities(self) -> tuple[str, ...]:
        """The image modalities whose crops the unit reads."""
        if self.kind in ("linear", "pretrain"):
            return (self.name,)
        return image_modalities(self.combo) if self.kind == "trial" else ()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def of(cls, d: dict) -> Unit:
        return cls(int(d["fold"]), d["kind"], d.get("name", ""))


def plan_units(folds, combos: list[Combo]) -> list[Unit]:
    """Every unit of the search, dependencies before dependants, costly work early."""
    images = sorted({m for c in combos for m in image_modalities(c)})
    units = []
    for k in folds:
        if any(has_metadata(c) for c in combos):
            units.append(Unit(k, "metadata"))
        units += [Unit(k, "linear", m) for m in images]
        units += [Unit(k, "pretrain", m) for m in images]
    trials = [Unit(k, "trial", combo_name(c)) for k in folds for c in combos]
    return units + sorted(trials, key=lambda u: (-len(u.combo), u.fold, u.name))


def needs(unit: Unit) -> list[Unit]:
    """The units that must be done before ``unit`` can run."""
    if unit.kind == "pretrain":
        return [Unit(unit.fold, "linear", unit.name)]
    if unit.kind != "trial":
        return []
    first = [Unit(unit.fold, "metadata")] if has_metadata(unit.combo) else []
    return first + [Unit(unit.fold, "pretrain", m) for m in unit.modalities]


def output(layout: RunLayout, unit: Unit):
    """The file whose presence means ``unit`` is done (written last, by rename)."""
    if unit.kind == "metadata":
        return layout.fold_metadata(unit.fold)
    if unit.kind == "pretrain":
        return layout.branch(unit.fold, unit.name) / RECORD_FILE
    name = baseline_name(unit.name) if unit.kind == "linear" else unit.name
    return layout.trial(unit.fold, name) / TRIAL_FILE


def is_done(layout: RunLayout, unit: Unit) -> bool:
    path = output(layout, unit)
    if path.suffix == ".json":
        return read_json(path) is not None
    return path.is_file()


def pending(layout: RunLayout, units: list[Unit]) -> list[Unit]:
    return [u for u in units if not is_done(layout, u)]


def cost(unit: Unit) -> int:
    return _COST[unit.kind] * max(1, len(unit.modalities))
