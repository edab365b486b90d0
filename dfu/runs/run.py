"""A search from claim to publication, whichever executor runs its units.

``open_run`` checks everything that can be wrong before claiming the run's name (the data,
the folds, an existing run's settings and data), then locks the folder and plans the units;
``publish`` writes the results tables once, the report and the bundle. ``dfu.runs.local``
and ``cluster.search`` differ only in how they execute the pending units in between.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from dfu.combos import Combo, parse_combinations
from dfu.config import Config, ConfigError
from dfu.data.cache import build_cache, load_cache
from dfu.folds import load_manifest, make_fold_manifest, save_manifest
from dfu.results import RunError, ranked_table, read_json
from dfu.run_layout import RunLayout
from dfu.runs.fold_plan import FoldPlan, plan_folds, study_assessments
from dfu.runs.lock import RunLock
from dfu.runs.plan import Unit, pending, plan_units
from dfu.trial_output import write_json

# Settings that do not change what a unit computes: a run may resume with them changed.
RESUMABLE_KEYS = {"search", "data.cache_dir", "data.workers", "metadata.n_jobs"}


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
    check_settings(layout, cfg)  # an existing run with other settings: before anything else
    cache = build_cache(cfg.data)  # a bad dataset stops here, before any claim
    loaded = load_cache(cache, modalities=())
    study = study_assessments(loaded.assessments, loaded.index)
    manifest = _manifest(layout, study, cfg)
    folds = configured_folds(cfg)
    plans = plan_folds(loaded.index, study, manifest, cfg, folds)
    combos = parse_combinations(cfg.search.combinations)
    lock = RunLock(layout.lock)
    lock.acquire()
    try:
        now = fingerprint(loaded, manifest)
        check_resumable(layout, cfg, now)
        _claim(layout, cfg, manifest, loaded, now)
    except BaseException:
        lock.release()
        raise
    units = plan_units(folds, combos)
    return Run(cfg, layout, cache, loaded.index, study, plans, combos, units,
               pending(layout, units), lock)  # fmt: skip


def configured_folds(cfg: Config) -> list[int]:
    return list(cfg.search.folds) if cfg.search.folds is not None else list(range(cfg.folds.n_folds))


def _manifest(layout: RunLayout, study: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """The run's own fold manifest when resuming, else made from the config's seed."""
    if layout.folds.exists() and layout.config.exists():
        return load_manifest(layout.folds)
    return make_fold_manifest(study, cfg.folds.n_folds, cfg.folds.seed)


def fingerprint(cache, manifest: pd.DataFrame) -> dict:
    """What a resumed run must find unchanged: the data (cache key, image sets, patients) and
    the folds (the manifest's hash)."""
    folds_csv = manifest[["patient", "fold"]].to_csv(index=False).encode()
    return {"cache_key": cache.summary["cache"]["key"],
            "folds_sha256": hashlib.sha256(folds_csv).hexdigest(),
            "image_sets": sorted(cache.index["set_id"].astype(str)),
            "patients": sorted(int(p) for p in cache.index["patient"].unique())}  # fmt: skip


def check_resumable(layout: RunLayout, cfg: Config, now: dict) -> None:
    """An existing run resumes only with the same science settings (``search.*`` may change),
    the same data and the same folds; otherwise stop, saying what changed, touching nothing."""
    check_settings(layout, cfg)
    old = read_json(layout.fingerprint)
    if old is not None and old["cache_key"] != now["cache_key"]:
        raise RunError(f"run {layout.root} was made with other data: {_data_change(old, now)}; "
                       "use a new --name for the new data")  # fmt: skip
    if old is not None and old["folds_sha256"] != now["folds_sha256"]:
        raise RunError(f"run {layout.root}: its folds.csv changed since the run began; restore "
                       "it or use a new --name")  # fmt: skip


def check_settings(layout: RunLayout, cfg: Config) -> None:
    if not layout.config.is_file():
        return
    before = _flatten(yaml.safe_load(layout.config.read_text()))
    after = _flatten(cfg.to_dict())
    for key in sorted(set(before) | set(after)):
        if key.split(".")[0] in RESUMABLE_KEYS or key in RESUMABLE_KEYS:
            continue
        if before.get(key) != after.get(key):
            raise ConfigError(
                f"{key}: run {layout.root} was made with {before.get(key)!r}, this config has "
                f"{after.get(key)!r}; resume with the same settings or choose another --name"
            )


def _data_change(old: dict, now: dict) -> str:
    parts = []
    for what, key in (("image sets", "image_sets"), ("patients", "patients")):
        added = len(set(now[key]) - set(old[key]))
        removed = len(set(old[key]) - set(now[key]))
        parts += [f"{added} {what} added"] if added else []
        parts += [f"{removed} {what} removed"] if removed else []
    return ", ".join(parts) or "the same image sets and patients, but changed files"


def _claim(layout: RunLayout, cfg: Config, manifest: pd.DataFrame, cache, print_: dict) -> None:
    layout.root.mkdir(parents=True, exist_ok=True)
    if not layout.folds.exists():
        save_manifest(manifest, layout.folds)
    write_json(layout.data_summary, cache.summary)
    write_json(layout.fingerprint, print_)
    cfg.save(layout.config)  # last: the claim on the name


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def publish(layout: RunLayout, write=print) -> list[str]:
    """results.csv and summary.csv (written once, with the ensemble, before the report's page),
    the report, the bundle.

    Each step that fails is reported and returned, the others still run: the search then
    exits non-zero, and a rerun redoes them (finished units are not redone).
    """
    from dfu.bundle import save_bundle
    from dfu.report import write_report
    from dfu.report_data import load_run

    try:
        data = load_run(layout.root)
    except RunError as err:
        return [f"results: {err}"]
    errors = []
    for label, step in (("report", lambda: write_report(layout.root, data=data)),
                        ("bundle", lambda: save_bundle(layout.root))):  # fmt: skip
        try:
            write(f"{label:<14} {step()}")
        except Exception as err:  # noqa: BLE001 - reported and returned: the exit code says so
            errors.append(f"{label}: {type(err).__name__}: {err}")
            write(f"FAILED {errors[-1]}")
    return errors


def record(run: Run, ran: list[Unit], executor: dict) -> dict:
    """search.json: what ran now, what is done overall, what failed, and earlier invocations."""
    from dfu.runs.plan import KINDS, is_done

    units = {}
    for kind in KINDS:
        planned = [u for u in run.units if u.kind == kind]
        units[kind] = {"expected": len(planned),
                       "finished": sum(is_done(run.layout, u) for u in planned),
                       "ran": sum(u.kind == kind for u in ran)}  # fmt: skip
    before = read_json(run.layout.search_record)
    history = [*before.pop("history", []), before] if before else []
    out = {"name": run.layout.root.name, "folds": sorted(run.folds), "units": units,
           "errors": run.errors, "seconds": round(time.time() - run.started, 1),
           "executor": executor, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "history": history}  # fmt: skip
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
        run.errors += publish(run.layout)
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
    counts = "; ".join(f"{kind} {u['finished']}/{u['expected']} ({u['ran']} run now)"
                       for kind, u in r["units"].items() if u["expected"])  # fmt: skip
    write(f"units: {counts}; {r['seconds']:.0f} s")
    for error in r["errors"]:
        write(f"FAILED {error}")
    places = (("run folder", layout.root), ("report", layout.root / "report.html"),
              ("results", layout.results), ("summary", layout.summary),
              ("search record", layout.search_record), ("config", layout.config),
              ("folds", layout.folds), ("data summary", layout.data_summary))  # fmt: skip
    for label, path in places:
        write(f"{label:<14} {path}")
    write(f"{'tensorboard':<14} tensorboard --logdir {layout.root}")
    if outcome.failed:
        write("rerun the same command to retry what failed (finished units are kept)")
