"""Speed and memory of the pipeline's stages, printed and written as JSON.

    python -m jobs.benchmark [--out bench/benchmark.json] [--patients 60] [key=value ...]

Measures, on a fresh demo clinic: generation, validation, cache build (time and size),
fold preparation (folds + random forest), one image branch pre-training (time per epoch),
one fusion trial, and peak resident memory. Numbers only; no pass/fail.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import tempfile
import time
from pathlib import Path

from dfu.combos import parse_combo
from dfu.data.cache import build_cache, load_cache
from dfu.data.demo import make_demo
from dfu.data.zivot import read_zivot
from dfu.experiment import fold_manifest, prepare_fold
from dfu.trial import pretrain_all, train_and_score
from jobs.cli import add_config_args, config_from, run

FUSION = "metadata+depth_rgb+thermal_map"


class Clock:
    def __init__(self):
        self.times: dict[str, float] = {}

    def __call__(self, name: str, fn, *args, **kwargs):
        started = time.perf_counter()
        out = fn(*args, **kwargs)
        self.times[name] = round(time.perf_counter() - started, 2)
        print(f"{name:28s} {self.times[name]:8.2f} s", flush=True)
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
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "demo"
        clock("demo generation", make_demo, data, args.patients, workers=0)
        cfg = config_from(args, str(data))
        cfg.data.cache_dir = str(Path(tmp) / "cache")
        clock("validation", read_zivot, cfg.data)
        path = clock("cache build", build_cache, cfg.data, progress=False)
        cache = load_cache(path)
        cache_mib = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20
        context = clock("fold prep (folds + RF)", prepare_fold, cache, fold_manifest(cache, cfg), 0, cfg)
        branches = clock("pre-train thermal_map", pretrain_all, context, ["thermal_map"], cfg)
        record = branches["thermal_map"][1]
        output = clock(f"trial {FUSION}", train_and_score, context, parse_combo(FUSION), cfg)
    result = {
        "seconds": clock.times,
        "pretrain_seconds_per_epoch": round(clock.times["pre-train thermal_map"] / record.epochs_run, 3),
        "pretrain_epochs": record.epochs_run,
        "rows": context.sizing.rows,
        "batch_size": context.sizing.batch_size,
        "cache_mib": round(cache_mib, 1),
        "image_sets": int(len(cache.index)),
        "image_size": cfg.data.image_size,
        "trial_test_kappa": round(output.summary["test"]["assessment"]["kappa"], 3),
        "peak_rss_mib": peak_rss_mib(),
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "seconds"}, indent=1))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    run(main)
