"""Speed and memory of the pipeline's stages, printed and written as JSON.

    python -m jobs.benchmark [--out bench/benchmark.json] [--patients 60] [key=value ...]

On a fresh demo clinic: generation, validation and cache build (time and size), then one
fold of the demo search in this process (``dfu.runs.local``): each kind of unit's time (the
random forest, a linear baseline, a branch pre-training and its time per epoch, trials) and
the peak resident memory. Numbers only; no pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from dfu.data.cache import build_cache
from dfu.data.zivot import read_zivot
from dfu.demo import make_demo
from dfu.runs.local import execute_local
from dfu.runs.run import search
from dfu.store.layout import RECORD_FILE, TRIAL_FILE
from dfu.store.records import read_json
from jobs.benchmark_search import unit_timings
from jobs.cli import add_config_args, config_from, run

COMBOS = "[metadata,thermal_map,metadata+depth_rgb+thermal_map]"


def timed(times: dict, name: str, fn, *args, **kwargs):
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    times[name] = round(time.perf_counter() - started, 2)
    print(f"{name:28s} {times[name]:8.2f} s", flush=True)
    return out


def peak_rss_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)  # Linux reports KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/benchmark.json")
    parser.add_argument("--patients", type=int, default=60)
    add_config_args(parser)
    parser.set_defaults(config="dfu/configs/demo.yaml")
    args = parser.parse_intermixed_args()
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "demo"
        timed(times, "demo generation", make_demo, data, args.patients)
        cfg = config_from(args, str(data)).replace(
            f"data.cache_dir={tmp}/cache",
            f"search.storage={tmp}/runs",
            "search.folds=[0]",
            f"search.combinations={COMBOS}",
        )
        timed(times, "validation", read_zivot, cfg.data)
        path = timed(times, "cache build", build_cache, cfg.data, progress=False)
        cache_mib = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20
        outcome = timed(
            times,
            "one fold, in process",
            search,
            cfg,
            lambda r: (execute_local(r, write=lambda _: None), {}),
        )
        units = unit_timings(outcome.layout)
        branch = read_json(outcome.layout.branch(0, "thermal_map") / RECORD_FILE)["record"]
        summary = read_json(next(iter(outcome.layout.trial_dirs())) / TRIAL_FILE)
    result = {
        "seconds": times,
        "units": units,
        "pretrain_seconds_per_epoch": round(branch["seconds"] / branch["epochs_run"], 3),
        "pretrain_epochs": branch["epochs_run"],
        "rows": summary["sizing"]["rows"],
        "batch_size": summary["sizing"]["batch_size"],
        "cache_mib": round(cache_mib, 1),
        "image_size": cfg.data.image_size,
        "peak_rss_mib": peak_rss_mib(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "seconds"}, indent=1))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    run(main)
