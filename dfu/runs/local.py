"""The in-process executor: a search's pending units, one after another, in this process.

No Ray: for a laptop without it, for debugging one unit, and as the yardstick the Ray engine
is measured against (``jobs.benchmark_search``). Same plan, same files, same TensorFlow
thread settings as a Ray worker (``search.cpus_per_worker`` threads).
"""

from __future__ import annotations

import logging
import time

from dfu.data.cache import load_cache
from dfu.runs.plan import Unit, needs
from dfu.runs.run import Run
from dfu.runs.units import Execution, Workspace, run_unit

log = logging.getLogger("dfu.runs")


def execute_local(run: Run, write=print) -> list[Unit]:
    """Run every pending unit whose needs are met; failures go to ``run.errors``. Returns the
    units run."""
    if not run.todo:
        return []
    modalities = sorted({m for u in run.todo for m in u.modalities})
    cache = load_cache(run.cache, modalities=tuple(modalities))
    ws = Workspace(
        run.cfg,
        run.layout,
        cache.index,
        run.assessments,
        run.folds,
        images=lambda wanted: {m: cache.images[m] for m in wanted},
    )
    threads = max(1, round(run.cfg.search.cpus_per_worker))
    if any(u.kind in ("pretrain", "trial") and u.modalities for u in run.todo):
        from dfu.keras_setup import configure_tensorflow

        configure_tensorflow(threads)
    failed: set[Unit] = set()
    started = time.time()
    for i, unit in enumerate(run.todo, start=1):
        blocked = [d for d in needs(unit) if d in failed]
        if blocked:
            failed.add(unit)
            run.errors.append(f"{unit.id}: not run, {blocked[0].id} failed")
            continue
        try:
            metrics = run_unit(unit, ws, Execution(threads=threads))
        except Exception as err:  # noqa: BLE001 - one unit's failure is recorded, the rest run
            log.exception("unit %s failed", unit.id)
            failed.add(unit)
            run.errors.append(f"{unit.id}: {type(err).__name__}: {err}")
            metrics = {}
        seconds = time.time() - started
        write(progress_line(i, len(run.todo), unit, metrics, seconds, failed=unit in failed))
    return run.todo


def progress_line(
    done: int, total: int, unit: Unit, metrics: dict, seconds: float, *, failed: bool = False
) -> str:
    elapsed = time.strftime("%H:%M:%S", time.gmtime(seconds))
    what = "FAILED" if failed else "finished"
    score = f", test kappa {metrics['test_kappa']:.3f}" if "test_kappa" in metrics else ""
    return f"[units {elapsed}] {done}/{total} | {what} {unit.id}{score}"
