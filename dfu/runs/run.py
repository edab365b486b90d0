"""A search from claim to publication, whichever executor runs its units.

``search`` is the one path: ``open_run`` checks everything that can be wrong before claiming
the run's name (the data, the folds, an existing run's settings and data: ``dfu.runs.resume``),
then locks the folder and plans the units (``dfu.runs.plan``); an executor runs the pending
units (``dfu.runs.local.execute_local`` in this process, ``cluster.search.execute_ray`` on
Ray); ``dfu.runs.publish`` writes the results tables once, the report and the bundle;
``record`` writes search.json. ``describe`` prints the outcome.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dfu.combos import Combo, parse_combinations
from dfu.config import Config
from dfu.cv.fold_plan import FoldPlan, plan_folds, study_assessments
from dfu.cv.folds import save_manifest
from dfu.data.cache import build_cache, load_cache
from dfu.evaluation.results import ranked_table
from dfu.runs import publish, resume
from dfu.runs.lock import RunLock
from dfu.runs.plan import KINDS, Unit, is_done, pending, plan_units
from dfu.store.layout import RunLayout
from dfu.store.records import read_json, write_json


@dataclass
class Run:
    cfg: Config
    layout: RunLayout
    cache: Path  # the image cache directory (dfu.data.cache)
    index: pd.DataFrame  # one row per image set
    assessments: pd.DataFrame  # the study's: labelled, with images
    folds: dict[int, FoldPlan]
    combos: list[Combo]
    units: list[Unit]  # the whole plan
    todo: list[Unit]  # not done yet
    lock: RunLock
    errors: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)


def open_run(cfg: Config) -> Run:
    """Validate, then lock and claim ``<storage>/<name>``; the caller must ``close`` it."""
    layout = RunLayout.of(cfg.search.storage, cfg.search.name)
    resume.check_settings(layout, cfg)  # an existing run with other settings: before anything else
    cache = build_cache(cfg.data)  # a bad dataset stops here, before any claim
    loaded = load_cache(cache, modalities=())
    study = study_assessments(loaded.assessments, loaded.index)
    manifest = resume.manifest(layout, study, cfg)
    folds = cfg.outer_folds()
    plans = plan_folds(loaded.index, study, manifest, cfg, folds)
    combos = parse_combinations(cfg.search.combinations)
    lock = RunLock(layout.lock)
    lock.acquire()
    try:
        now = resume.fingerprint(loaded, manifest)
        resume.check_resumable(layout, cfg, now)
        _claim(layout, cfg, manifest, loaded, now)
    except BaseException:
        lock.release()
        raise
    units = plan_units(folds, combos)
    return Run(
        cfg, layout, cache, loaded.index, study, plans, combos, units, pending(layout, units), lock
    )


def _claim(layout: RunLayout, cfg: Config, manifest: pd.DataFrame, cache, print_: dict) -> None:
    layout.root.mkdir(parents=True, exist_ok=True)
    if not layout.folds.exists():
        save_manifest(manifest, layout.folds)
    write_json(layout.data_summary, cache.summary)
    write_json(layout.fingerprint, print_)
    cfg.save(layout.config)  # last: the claim on the name


def record(run: Run, ran: list[Unit], executor: dict) -> dict:
    """search.json: what ran now, what is done overall, what failed, and earlier invocations."""
    units = {}
    for kind in KINDS:
        planned = [u for u in run.units if u.kind == kind]
        units[kind] = {
            "expected": len(planned),
            "finished": sum(is_done(run.layout, u) for u in planned),
            "ran": sum(u.kind == kind for u in ran),
        }
    before = read_json(run.layout.search_record)
    history = [*before.pop("history", []), before] if before else []
    out = {
        "name": run.layout.root.name,
        "folds": sorted(run.folds),
        "units": units,
        "errors": run.errors,
        "seconds": round(time.time() - run.started, 1),
        "executor": executor,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "history": history,
    }
    write_json(run.layout.search_record, out)
    return out


@dataclass
class SearchOutcome:
    layout: RunLayout
    record: dict  # = search.json

    @property
    def failed(self) -> bool:
        return bool(self.record["errors"])


def search(cfg: Config, execute) -> SearchOutcome:
    """Open the run, ``execute(run) -> (units run, executor info)``, publish, record. The run's
    lock is released whatever happens; finished units stay done for a rerun."""
    run = open_run(cfg)
    try:
        ran, executor = execute(run)
        run.errors += publish.publish(run.layout)
        return SearchOutcome(run.layout, record(run, ran, executor))
    finally:
        run.lock.release()


def describe(outcome: SearchOutcome, write=print) -> None:
    """The ranked table and where everything is."""
    r, layout = outcome.record, outcome.layout
    write("")
    if layout.summary.exists():
        write(ranked_table(pd.read_csv(layout.summary)))
    else:
        write("no finished trials")
    write("")
    counts = "; ".join(
        f"{kind} {u['finished']}/{u['expected']} ({u['ran']} run now)"
        for kind, u in r["units"].items()
        if u["expected"]
    )
    write(f"units: {counts}; {r['seconds']:.0f} s")
    for error in r["errors"]:
        write(f"FAILED {error}")
    places = (
        ("run folder", layout.root),
        ("report", layout.report),
        ("results", layout.results),
        ("summary", layout.summary),
        ("search record", layout.search_record),
        ("config", layout.config),
        ("folds", layout.folds),
        ("data summary", layout.data_summary),
    )
    for label, path in places:
        write(f"{label:<14} {path}")
    write(f"{'tensorboard':<14} tensorboard --logdir {layout.root}")
    if outcome.failed:
        write("rerun the same command to retry what failed (finished units are kept)")
