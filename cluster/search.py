"""The cross-validation search on Ray, start to finish.

1. Plan: which (fold, combination) trials and (fold, image modality) pre-trainings are not
   done yet. Done = their output file exists and parses (``trial.json``; a branch's
   ``record.json``, written last). This is what makes a rerun with the same
   ``search.name`` / ``search.storage`` resume: finished work is kept, never re-run;
   anything interrupted starts over.
2. Prepare, in the driver, each fold with pending work once: metadata model, arrays, sizing,
   Ray Datasets (``cluster.datasets``).
3. Phase 1, a Tune run: each pending (fold, modality) pre-training, once per search.
4. Phase 2, a Tune run: each pending (fold, combination), image branches loaded from phase 1.
5. Results: ``results.csv``, ``summary.csv`` (``dfu.results``) and ``search.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field

import pandas as pd
import ray
import yaml
from ray import tune

from cluster.connect import Connection, connect
from cluster.datasets import FoldData, build_fold_data
from cluster.progress import Progress
from cluster.resources import TRIAL_RESOURCES, trial_concurrency
from cluster.trial import combo_trial, pretrain_trial, unit_name
from cluster.worker import RECORD_FILE, WEIGHTS_FILE
from dfu.bundle import save_bundle
from dfu.combos import Combo, combo_name, image_modalities, parse_combinations
from dfu.config import Config, ConfigError
from dfu.data.cache import build_cache, load_cache
from dfu.experiment import fold_manifest, prepare_fold
from dfu.report import write_report
from dfu.results import ranked_table, read_json, write_results
from dfu.run_layout import RunLayout

# Settings that do not change what a trial computes: a run may resume with them changed.
RESUMABLE_KEYS = {"search", "data.cache_dir", "data.workers", "metadata.n_jobs"}
NEW_OUTPUT_VAR = "RAY_AIR_NEW_OUTPUT"


@dataclass
class Phase:
    name: str
    ran: int = 0  # Tune trials started by this invocation
    errors: list[str] = field(default_factory=list)


@dataclass
class SearchOutcome:
    layout: RunLayout
    results: pd.DataFrame
    summary: pd.DataFrame
    record: dict  # = search.json

    @property
    def failed(self) -> bool:
        return bool(self.record["errors"])


def run_search(cfg: Config) -> SearchOutcome:
    started = time.time()
    layout = RunLayout.of(cfg.search.storage, cfg.search.name)
    check_resumable(layout, cfg)
    cfg.save(layout.config)
    cache = load_cache(build_cache(cfg.data))
    manifest = fold_manifest(cache, cfg, layout.folds)
    layout.data_summary.write_text(json.dumps(cache.summary, indent=1))
    folds = cfg.search.folds if cfg.search.folds is not None else list(range(cfg.folds.n_folds))
    combos = parse_combinations(cfg.search.combinations)
    trials = pending_trials(layout, folds, combos)
    phases = [Phase("pretrain"), Phase("trials")]
    ray_info = None
    if trials:  # else: all done, Ray is not even started
        connection = connect(cfg.search.verbose)
        try:
            concurrency = trial_concurrency(cfg.search, ray.cluster_resources())
            ray_info = _ray_info(connection, concurrency)
            print(_cluster_line(ray_info), flush=True)
            fold_data = prepare_folds(cache, manifest, trials, cfg)
            del cache  # the images now live in the object store; free the driver's copy
            run_phases(phases, trials, fold_data, cfg, layout, concurrency)
        finally:
            connection.close()
    results, summary = write_results(layout, folds, [combo_name(c) for c in combos])
    if len(results):
        publish(layout)
    record = _record(layout, folds, combos, phases, ray_info, started)
    record["history"] = _history(layout)
    layout.search_record.write_text(json.dumps(record, indent=1))
    return SearchOutcome(layout, results, summary, record)


def publish(layout: RunLayout) -> None:
    """The report (with the ensemble) and the best combination's prediction bundle.

    A failure here is printed, not raised: the trials' results are already safe on disk,
    and ``python -m jobs.report RUN`` / ``dfu.bundle.save_bundle`` can redo either step.
    """
    for label, step in (("report", write_report), ("bundle", save_bundle)):
        try:
            print(f"{label}: {step(layout.root)}", flush=True)
        except Exception as err:  # noqa: BLE001 - reported loudly, the search's results stand
            print(f"WARNING {label} not written: {type(err).__name__}: {err}", flush=True)


def prepare_folds(cache, manifest, trials: list[dict], cfg: Config) -> dict[int, FoldData]:
    """Each fold with pending trials, once: metadata model, arrays, sizing, Ray Datasets."""
    folds = sorted({u["fold"] for u in trials})
    return {k: build_fold_data(prepare_fold(cache, manifest, k, cfg), _modalities(trials, k))
            for k in folds}  # fmt: skip


def run_phases(phases: list[Phase], trials: list[dict], fold_data: dict[int, FoldData],
               cfg: Config, layout: RunLayout, concurrency: int) -> None:  # fmt: skip
    """Phase 1 pre-trains the branches pending trials need; phase 2 runs the trials."""
    pretrain, combos = phases
    run_phase(pretrain, pretrain_trial, pending_pretraining(layout, trials), "val_kappa",
              fold_data, cfg, layout, concurrency)  # fmt: skip
    runnable = [u for u in trials if _branches_ready(layout, u)]
    combos.errors += [f"{unit_name(u)}: not run, a pre-trained branch is missing"
                      for u in trials if u not in runnable]  # fmt: skip
    run_phase(combos, combo_trial, runnable, "test_kappa", fold_data, cfg, layout, concurrency)


def pending_trials(layout: RunLayout, folds, combos: list[Combo]) -> list[dict]:
    """(fold, combination) units without a finished trial.json, longest first (fewer stragglers)."""
    units = [{"fold": k, "combo": combo_name(c)} for k in folds for c in combos
             if read_json(layout.trial(k, c) / "trial.json") is None]  # fmt: skip
    return sorted(units, key=lambda u: -len(_images(u)))


def pending_pretraining(layout: RunLayout, trials: list[dict]) -> list[dict]:
    """(fold, modality) branches that pending trials need and that are not saved yet."""
    needed = sorted({(u["fold"], m) for u in trials for m in _images(u)})
    return [{"fold": k, "modality": m} for k, m in needed if not branch_done(layout, k, m)]


def branch_done(layout: RunLayout, fold: int, modality: str) -> bool:
    folder = layout.branch(fold, modality)
    return (folder / WEIGHTS_FILE).is_file() and read_json(folder / RECORD_FILE) is not None


def run_phase(phase: Phase, trainable, units: list[dict], metric: str,
              fold_data: dict[int, FoldData], cfg: Config, layout: RunLayout,
              concurrency: int) -> None:  # fmt: skip
    """One Tune run over ``units``; failed trials are recorded in ``phase.errors``."""
    if not units:
        return
    phase.ran = len(units)
    verbose = cfg.search.verbose
    fn = tune.with_parameters(trainable, folds=fold_data, cfg=cfg, root=str(layout.root))
    tuner = tune.Tuner(
        tune.with_resources(fn, TRIAL_RESOURCES),
        param_space={"unit": tune.grid_search(units)},
        tune_config=tune.TuneConfig(max_concurrent_trials=concurrency,
                                    trial_name_creator=_trial_name,
                                    trial_dirname_creator=_trial_dirname),  # fmt: skip
        run_config=tune.RunConfig(
            name=f"{phase.name}-{time.strftime('%Y%m%d-%H%M%S')}",  # each invocation its own
            storage_path=str(layout.tune),
            verbose=1 if verbose else 0,
            callbacks=[] if verbose else [Progress(phase.name, metric, len(units))],
            failure_config=tune.FailureConfig(max_failures=0),  # Train already retries workers
        ),
    )
    print(f"{phase.name}: {len(units)} trials", flush=True)
    with _tune_output(verbose):
        grid = tuner.fit()
    phase.errors += [f"{unit_name(r.config['unit'])}: {_first_line(r.error)}"
                     for r in grid if r.error]  # fmt: skip


def check_resumable(layout: RunLayout, cfg: Config) -> None:
    """An existing run resumes only under the same science settings (``search.*`` may change)."""
    if not layout.config.is_file():
        return
    before = _flatten(yaml.safe_load(layout.config.read_text()))
    now = _flatten(cfg.to_dict())
    for key in sorted(set(before) | set(now)):
        if key.split(".")[0] in RESUMABLE_KEYS or key in RESUMABLE_KEYS:
            continue
        if before.get(key) != now.get(key):
            raise ConfigError(
                f"{key}: run {layout.root} was made with {before.get(key)!r}, this config has "
                f"{now.get(key)!r}; resume with the same settings or choose another --name"
            )


def report(outcome: SearchOutcome, write=print) -> None:
    """The ranked table and where everything is."""
    r, layout = outcome.record, outcome.layout
    write("")
    write(ranked_table(outcome.summary) if len(outcome.summary) else "no finished trials")
    write("")
    write(f"trials: {r['trials']['finished']}/{r['trials']['expected']} finished "
          f"({r['trials']['ran']} run now); pre-trainings: {r['pretrain']['finished']}/"
          f"{r['pretrain']['expected']} ({r['pretrain']['ran']} run now); "
          f"{r['seconds']:.0f} s")  # fmt: skip
    for error in r["errors"]:
        write(f"FAILED {error}")
    write(f"run folder     {layout.root}")
    places = (("results", layout.results), ("summary", layout.summary),
              ("search record", layout.search_record), ("config", layout.config),
              ("folds", layout.folds), ("data summary", layout.data_summary))  # fmt: skip
    for label, path in places:
        write(f"{label:<14} {path}")
    trials = layout.root / "trials"
    write(f"{'trials':<14} {trials}/fold*/<combo>/ (trial.json, predictions.parquet)")
    write(f"{'tensorboard':<14} tensorboard --logdir {layout.root}")
    if outcome.failed:
        write(f"rerun the same command to retry what failed; Ray's logs: {layout.tune}")


def _modalities(units: list[dict], fold: int) -> list[str]:
    return sorted({m for u in units if u["fold"] == fold for m in _images(u)})


def _images(unit: dict) -> tuple[str, ...]:
    return image_modalities(tuple(unit["combo"].split("+")))


def _branches_ready(layout: RunLayout, unit: dict) -> bool:
    return all(branch_done(layout, unit["fold"], m) for m in _images(unit))


@contextlib.contextmanager
def _tune_output(verbose: bool):
    """Quiet: Tune's legacy reporter, silent at verbose=0 (the new one still prints a banner)."""
    saved = os.environ.get(NEW_OUTPUT_VAR)
    if not verbose:
        os.environ[NEW_OUTPUT_VAR] = "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(NEW_OUTPUT_VAR, None)
        else:
            os.environ[NEW_OUTPUT_VAR] = saved


def _trial_name(trial) -> str:
    return unit_name(trial.config["unit"])


def _trial_dirname(trial) -> str:
    return f"{_trial_name(trial)}-{trial.trial_id}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[-1] if text else ''}"


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _ray_info(connection: Connection, concurrency: int) -> dict:
    resources = ray.cluster_resources()
    return {"how": connection.how, "start_seconds": round(connection.seconds, 2),
            "cpus": resources.get("CPU", 0), "gpus": resources.get("GPU", 0),
            "nodes": len([n for n in ray.nodes() if n["Alive"]]),
            "concurrent_trials": concurrency, "dashboard": connection.dashboard}  # fmt: skip


def _cluster_line(info: dict) -> str:
    gpus = f", {info['gpus']:g} GPUs" if info["gpus"] else ""
    dashboard = f", dashboard {info['dashboard']}" if info["dashboard"] else ""
    return (f"ray: {info['how']} ({info['start_seconds']:.1f} s), {info['nodes']} nodes, "
            f"{info['cpus']:g} CPUs{gpus}{dashboard}; "
            f"{info['concurrent_trials']} trials at a time")  # fmt: skip


def _record(layout: RunLayout, folds, combos, phases: list[Phase], ray_info: dict | None,
            started: float) -> dict:  # fmt: skip
    """search.json: what ran now, what is finished overall, what failed."""
    modalities = sorted({m for c in combos for m in image_modalities(c)})
    pretrain, trials = phases
    return {
        "name": layout.root.name,
        "folds": list(folds),
        "combinations": [combo_name(c) for c in combos],
        "pretrain": {
            "expected": len(folds) * len(modalities),  # folds x image modalities used
            "finished": sum(branch_done(layout, k, m) for k in folds for m in modalities),
            "ran": pretrain.ran,
        },
        "trials": {
            "expected": len(folds) * len(combos),
            "finished": sum(read_json(layout.trial(k, c) / "trial.json") is not None
                            for k in folds for c in combos),  # fmt: skip
            "ran": trials.ran,
        },
        "errors": pretrain.errors + trials.errors,
        "seconds": round(time.time() - started, 1),
        "ray": ray_info,  # None: nothing was pending, Ray was not started
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _history(layout: RunLayout) -> list[dict]:
    """Earlier invocations' records (a resume must not erase how the first run went)."""
    before = read_json(layout.search_record)
    if before is None:
        return []
    return [*before.pop("history", []), before]
