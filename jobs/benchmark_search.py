"""The contest: the same demo search in one process and on Ray, measured in one invocation.

    python -m jobs.benchmark_search [--data data/demo] [--out bench/search.json] [--rounds N]
        [key=value ...]

Builds the demo's image cache once (both sides then find it), then runs ``jobs.cv_search``
twice into fresh storage, ``--executor local`` (every unit in one process, one after another)
and ``--executor ray`` (Tune trials, two at a time on 2 cores), with the same config, so the
same plan, files, TensorBoard logs and report, and the same TensorFlow threads per unit.
While each runs, the memory (PSS: shared pages split fairly, so it sums honestly) and CPU time
of its whole process tree (driver, and for Ray GCS, raylet, dashboard, every worker) are
sampled: CPU every second, memory every ``MEMORY_EVERY`` seconds (reading a process's PSS walks
its page tables under its memory lock: ~28 ms per TensorFlow process, 0.11 s of CPU per sample
of the Ray tree, which at 1 Hz took ~6% of a 2-core machine from the Ray side; the harness's own
CPU time is reported per side). Writes both walls, their ratio, the per-unit orchestration
overhead (unit wall minus time computing: inside Keras fit/evaluate/predict or a scikit-learn
fit, per kind of unit), CPU utilisation (process CPU / (wall x cores)) and CPU seconds by role
(the processes running units, the driver, the dashboard, Ray's daemons; ``jobs.tree_sampler``),
and peak PSS, with where it sat at that moment by role. Numbers only; no pass/fail. A VM's
speed drifts (here by up to ~30% within an hour, the neighbours' load), so ``--rounds N`` runs N
pairs, local first then Ray first in turn, and reports the medians of their ratios; each
round's walls are kept, the last round in full.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dfu.config import load_config
from dfu.data.cache import build_cache
from dfu.store.layout import RECORD_FILE, TRIAL_FILE, RunLayout
from dfu.store.records import read_json
from jobs.tree_sampler import TreeSampler

GIB = 2**30
MEMORY_EVERY = 5  # seconds between memory samples (memory grows over minutes, not seconds)


def cv_search(
    data: str,
    storage: str,
    name: str,
    args: list[str],
    log: Path,
    also=None,
    memory_every: int = MEMORY_EVERY,
):
    """``jobs.cv_search`` on ``data`` as ``<storage>/<name>`` (more ``args`` after), output to
    ``log``; its process tree sampled every second (memory every ``memory_every`` seconds),
    and ``also()`` called as often. Returns (the sampler, wall seconds, the harness's own CPU
    seconds); exits naming the log if the search failed."""
    command = [
        sys.executable,
        "-m",
        "jobs.cv_search",
        "--data",
        data,
        "--storage",
        storage,
        "--name",
        name,
        *args,
    ]
    started, harness = time.perf_counter(), time.process_time()
    with log.open("w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        sampler = TreeSampler(child.pid)
        tick = 0
        while child.poll() is None:
            sampler.sample(memory=tick % memory_every == 0)
            tick += 1
            if also is not None:
                also()
            time.sleep(1.0)
    if child.returncode != 0:
        sys.exit(f"benchmark: the search {name} failed (exit {child.returncode}); see {log}")
    return sampler, time.perf_counter() - started, time.process_time() - harness


def run_side(data: str, storage: str, executor: str, overrides: list[str], log: Path) -> dict:
    """One side of the contest: wall, tree CPU and memory, and the run's own timings."""
    args = ["--config", CONFIG, "--executor", executor, *overrides]
    sampler, wall, harness_cpu = cv_search(data, storage, executor, args, log)
    layout = RunLayout.of(storage, executor)
    return {
        "wall_seconds": round(wall, 1),
        "cpu_utilisation": round(sampler.cpu_total / (wall * os.cpu_count()), 3),
        "cpu_seconds_by_role": sampler.cpu_by_role(),
        # while units run: from the first unit's start to the last one's end (no set-up, report)
        "cpu_utilisation_during_units": sampler.utilisation(*units_window(layout)),
        "peak_pss_gib": round(sampler.peak_pss / GIB, 2),
        "peak_rss_sum_gib": round(sampler.peak_rss / GIB, 2),
        "peak_processes": sampler.peak_processes,
        "peak_by_role": sampler.peak_roles,  # where the peak sat: units vs Ray's own processes
        "harness_cpu_seconds": round(harness_cpu, 1),  # this sampler's own cost, not the side's
        "units": unit_timings(layout),
        "search": read_json(layout.search_record),
    }


def units_window(layout: RunLayout) -> tuple[float, float]:
    """Wall-clock start of the first unit and end of the last one, from their records."""
    timings = [r.get("timing") or {} for r in _records(layout)]
    timings = [t for t in timings if "started" in t]
    return min(t["started"] for t in timings), max(t["started"] + t["wall"] for t in timings)


def _records(layout: RunLayout) -> list[dict]:
    records = [read_json(d / TRIAL_FILE) for d in layout.trial_dirs()]
    return records + [read_json(d / RECORD_FILE) for d in layout.branch_dirs()]


def unit_timings(layout: RunLayout) -> dict:
    """Per kind of unit: count, summed wall, median overhead (wall minus compute), and that
    median once each process is warm (its first network unit left out)."""
    records = _records(layout)
    by_kind: dict[str, list[dict]] = {}
    trained: set = set()  # processes that have already run a network unit (TensorFlow loaded)
    for r in sorted(records, key=lambda r: (r.get("timing") or {}).get("started", 0)):
        kind, timing = _kind(r), r.get("timing") or {}
        pid = (r.get("ray") or {}).get("pid", "this process")
        network = kind in ("pretrain", "image trial")
        by_kind.setdefault(kind, []).append({**timing, "warm": network and pid in trained})
        if network:
            trained.add(pid)
    return {
        kind: {
            "count": len(rows),
            "wall_sum": round(sum(r.get("wall", 0) for r in rows), 1),
            "median_overhead": _median(r.get("overhead") for r in rows),
            "median_overhead_warm": _median(r.get("overhead") for r in rows if r["warm"]),
        }
        for kind, rows in by_kind.items()
    }


def _kind(record: dict) -> str:
    if "modality" in record:
        return "pretrain"
    if record["combo"].startswith("linear("):
        return "linear"
    return "metadata trial" if record["combo"] == "metadata" else "image trial"


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


CONFIG = "dfu/configs/demo.yaml"


SIDES = ("local", "ray")


def contest(data: str, overrides: list[str], out: Path, first: str = "local") -> dict:
    """One round: the ``first`` side, then the other, each from fresh storage."""
    if first not in SIDES:
        raise ValueError(f"first: one of {SIDES}, not {first!r}")
    order = (first, *(e for e in SIDES if e != first))
    with tempfile.TemporaryDirectory(prefix="dfu-bench-") as storage:
        sides = {
            e: run_side(data, storage, e, overrides, out.with_suffix(f".{e}.log")) for e in order
        }
    local, ray_side = sides["local"], sides["ray"]
    return {
        "first": first,
        "local": local,
        "ray": ray_side,
        "speedup": round(local["wall_seconds"] / ray_side["wall_seconds"], 2),
        "memory_ratio": round(ray_side["peak_pss_gib"] / max(local["peak_pss_gib"], 1e-9), 2),
    }


def round_summary(result: dict) -> dict:
    """The numbers of one round that the targets are about."""
    ray_side = result["ray"]
    return {
        "first": result["first"],
        "local_wall": result["local"]["wall_seconds"],
        "ray_wall": ray_side["wall_seconds"],
        "speedup": result["speedup"],
        "memory_ratio": result["memory_ratio"],
        "ray_cpu_utilisation_during_units": ray_side["cpu_utilisation_during_units"],
        "ray_image_trial_overhead_warm": ray_side["units"]
        .get("image trial", {})
        .get("median_overhead_warm"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/demo", help="demo data folder (made if missing)")
    parser.add_argument("--out", default="bench/search.json")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds (local first, then Ray first, ...); the ratios are their medians (a VM's "
        "speed drifts)",
    )
    parser.add_argument("overrides", nargs="*", help="config overrides for both sides")
    args = parser.parse_intermixed_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = str(Path(args.data).resolve())
    if not Path(data, "_oracle", "summary.json").exists():
        from dfu.demo import make_demo

        make_demo(data)
    build_cache(load_config(CONFIG, [f"data.root={data}", *args.overrides]).data, progress=False)
    results = []
    for k in range(args.rounds):
        # Alternate which side runs first: a machine speeding up or slowing down over the
        # rounds then favours each side as often.
        results.append(contest(data, args.overrides, out, first=SIDES[k % 2]))
        print(f"round {k + 1}/{args.rounds}: {json.dumps(round_summary(results[-1]))}", flush=True)
    rounds = [round_summary(r) for r in results]
    result = {
        **results[-1],  # the last round in full
        "cpus": os.cpu_count(),
        "speedup": _median(r["speedup"] for r in rounds),
        "memory_ratio": _median(r["memory_ratio"] for r in rounds),
        "rounds": rounds,
    }
    out.write_text(json.dumps(result, indent=1))
    brief = {k: result[k] for k in ("speedup", "memory_ratio", "cpus", "rounds")}
    for side in ("local", "ray"):
        brief[side] = {k: v for k, v in result[side].items() if k not in ("search",)}
    print(json.dumps(brief, indent=1))
    print(f"written: {out} (logs: {out.with_suffix('.local.log')}, {out.with_suffix('.ray.log')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
