"""The cross-validation search on Ray: the plan's pending units as one Tune run.

``run_search`` opens the run (``dfu.runs.run``: validate, lock, claim, plan), then executes
its pending units with ``execute_ray`` and publishes the results. ``execute_ray``:
1. joins or starts Ray (``cluster.connect``) and sizes concurrency to the cluster;
2. reads the image cache once into per-modality Ray Datasets (``cluster.images``);
3. runs every pending unit as a Tune trial (``cluster.trial``), scheduled by the plan's
   dependencies (``cluster.scheduler``): a fold's trials start as soon as its branches exist;
   trial processes are reused (``reuse_actors``), so TensorFlow loads once per slot.
A trial whose process dies is retried (Tune's ``FailureConfig``; Train's for worker groups).
"""

from __future__ import annotations

import time

import ray
from ray import tune

from cluster.connect import Connection, connect, tune_output
from cluster.images import image_datasets
from cluster.progress import Progress
from cluster.resources import trial_concurrency, trial_resources
from cluster.scheduler import PlanSearcher
from cluster.trial import SharedInputs, unit_trial
from dfu.config import Config
from dfu.runs.plan import Unit, is_done
from dfu.runs.run import Run, SearchOutcome, search


def run_search(cfg: Config) -> SearchOutcome:
    return search(cfg, execute_ray)


def execute_ray(run: Run) -> tuple[list[Unit], dict]:
    """Run the pending units on Ray; failures go to ``run.errors``. Returns (units run, info)."""
    if not run.todo:
        return [], {"name": "ray", "ray": None}  # nothing pending: Ray is not even started
    connection = connect(run.cfg.search.verbose)
    try:
        concurrency = trial_concurrency(run.cfg.search, ray.cluster_resources())
        info = _ray_info(connection, concurrency)
        print(_cluster_line(info), flush=True)
        started = time.time()
        modalities = sorted({m for u in run.todo for m in u.modalities})
        shared = SharedInputs(
            run.folds, run.index, run.assessments, image_datasets(run.cache, modalities)
        )
        info["datasets_seconds"] = round(time.time() - started, 2)
        _tune(run, shared, concurrency)
    finally:
        connection.close(wait=False)  # Ray stops while the results are published
    return run.todo, {"name": "ray", "ray": info}


def _tune(run: Run, shared: SharedInputs, concurrency: int) -> None:
    cfg, layout = run.cfg, run.layout
    done = {u for u in run.units if u not in run.todo}
    searcher = PlanSearcher(run.todo, done)
    trainable = tune.with_parameters(unit_trial, cfg=cfg, root=str(layout.root), shared=shared)
    verbose = cfg.search.verbose
    tuner = tune.Tuner(
        tune.with_resources(trainable, trial_resources(cfg.search)),
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            num_samples=len(run.todo),
            max_concurrent_trials=concurrency,
            reuse_actors=True,
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=f"search-{time.strftime('%Y%m%d-%H%M%S')}",  # each invocation its own
            storage_path=str(layout.tune),
            verbose=1 if verbose else 0,
            callbacks=[] if verbose else [Progress("units", "test_kappa", len(run.todo))],
            failure_config=tune.FailureConfig(max_failures=cfg.search.max_failures),
        ),
    )
    print(f"units: {len(run.todo)} to run, {concurrency} at a time", flush=True)
    with tune_output(verbose):
        grid = tuner.fit()
    run.errors += [
        f"{Unit.of(r.config['unit']).id}: {_first_line(r.error)}" for r in grid if r.error
    ]
    run.errors += searcher.blocked
    missing = [u for u in run.todo if not is_done(run.layout, u)]
    if missing and not run.errors:  # e.g. Tune stopped early: say so rather than pass silently
        run.errors.append(f"{len(missing)} units did not finish (first: {missing[0].id})")


def _trial_name(trial) -> str:
    return Unit.of(trial.config["unit"]).id


def _trial_dirname(trial) -> str:
    return f"{_trial_name(trial)}-{trial.trial_id}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[-1] if text else ''}"


def _ray_info(connection: Connection, concurrency: int) -> dict:
    resources = ray.cluster_resources()
    return {
        "how": connection.how,
        "start_seconds": round(connection.seconds, 2),
        "cpus": resources.get("CPU", 0),
        "gpus": resources.get("GPU", 0),
        "nodes": len([n for n in ray.nodes() if n["Alive"]]),
        "concurrent_trials": concurrency,
        "dashboard": connection.dashboard,
    }


def _cluster_line(info: dict) -> str:
    gpus = f", {info['gpus']:g} GPUs" if info["gpus"] else ""
    dashboard = f", dashboard {info['dashboard']}" if info["dashboard"] else ""
    return (
        f"ray: {info['how']} ({info['start_seconds']:.1f} s), {info['nodes']} nodes, "
        f"{info['cpus']:g} CPUs{gpus}{dashboard}; "
        f"{info['concurrent_trials']} trials at a time"
    )
