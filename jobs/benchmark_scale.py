"""The clinic's scale: memory and time of a short search at 128 and 224 px, 1 fold vs 5 folds.

    python -m jobs.benchmark_scale [--data data/clinic] [--out bench/scale.json]
        [--sizes 128 224] [key=value ...]

Writes the demo at the clinic's size and frame sizes (``make_demo_data --preset clinic``,
~2,900 image sets) if the folder does not hold it, then per image size: builds the cache
(time, size) and runs ``jobs.cv_search`` on Ray over ``metadata+depth_rgb+thermal_map`` and
``metadata+depth_rgb+depth_map+thermal_map`` with 1-2 epochs a stage, once with
``search.folds=[0]`` and once over all 5 folds, sampling every second the PSS of the whole
process tree and the shared memory in use (Ray's object store lives in /dev/shm). The image
crops sit in the object store once, not once per fold: the 5-fold peak should stay within
1.25 x the 1-fold peak. Numbers only; no pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from dfu.config import load_config
from dfu.data.cache import build_cache
from dfu.store.layout import RECORD_FILE, RunLayout
from dfu.store.records import read_json
from jobs.benchmark_search import GIB, cv_search

COMBOS = "[metadata+depth_rgb+thermal_map,metadata+depth_rgb+depth_map+thermal_map]"
SHORT = [
    "training.pretrain.epochs=2",
    "training.stage1.epochs=1",
    "training.stage2.epochs=1",
    "training.pretrain.warmup=0",
    "training.stage1.warmup=0",
    f"search.combinations={COMBOS}",
]
SHM = "/dev/shm"


def shm_used() -> int:
    stat = os.statvfs(SHM)
    return (stat.f_blocks - stat.f_bfree) * stat.f_frsize


def search(data: str, storage: str, name: str, overrides: list[str], log: Path) -> dict:
    baseline_shm, peak = shm_used(), [0]

    def shared_memory() -> None:
        peak[0] = max(peak[0], shm_used() - baseline_shm)

    # Memory is what this benchmark is about: sampled every second.
    sampler, wall, _ = cv_search(
        data, storage, name, [*SHORT, *overrides], log, shared_memory, memory_every=1
    )
    peak_shm = peak[0]
    layout = RunLayout.of(storage, name)
    epochs = [read_json(d / RECORD_FILE)["record"] for d in layout.branch_dirs()]
    return {
        "wall_seconds": round(wall, 1),
        "peak_pss_gib": round(sampler.peak_pss / GIB, 2),
        "peak_object_store_gib": round(peak_shm / GIB, 2),
        "peak_processes": sampler.peak_processes,
        "seconds_per_epoch": round(
            sum(r["seconds"] for r in epochs) / max(1, sum(r["epochs_run"] for r in epochs)), 2
        ),
        "units": read_json(layout.search_record)["units"],
    }


def one_size(data: str, size: int, cache_dir: str, overrides: list[str], out: Path) -> dict:
    cfg = load_config(
        overrides=[
            f"data.root={data}",
            f"data.image_size={size}",
            f"data.cache_dir={cache_dir}",
            *overrides,
        ]
    )
    started = time.perf_counter()
    path = build_cache(cfg.data, progress=False)
    build = round(time.perf_counter() - started, 1)
    mib = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20
    common = [f"data.image_size={size}", f"data.cache_dir={cache_dir}", *overrides]
    runs = {}
    with tempfile.TemporaryDirectory(prefix="dfu-scale-") as storage:
        for label, folds in (("1fold", "[0]"), ("5folds", "[0,1,2,3,4]")):
            log = out.with_name(f"{out.stem}.{size}px.{label}.log")
            runs[label] = search(
                data, storage, f"{size}px-{label}", [f"search.folds={folds}", *common], log
            )
    one, five = runs["1fold"], runs["5folds"]
    return {
        "cache_build_seconds": build,
        "cache_mib": round(mib, 1),
        "fold_0": one,
        "folds_5": five,
        "peak_pss_ratio_5_vs_1": round(five["peak_pss_gib"] / max(one["peak_pss_gib"], 1e-9), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/clinic", help="clinic-size demo (made if missing)")
    parser.add_argument("--out", default="bench/scale.json")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224])
    parser.add_argument("overrides", nargs="*", help="config overrides for every search")
    args = parser.parse_intermixed_args()
    data = str(Path(args.data).resolve())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not Path(data, "_oracle", "summary.json").exists():
        from dfu.demo import make_demo

        started = time.perf_counter()
        make_demo(data, preset="clinic", progress=True)
        print(f"clinic-size demo written in {time.perf_counter() - started:.0f} s", flush=True)
    cache_dir = str(Path(data).parent / ".scale-cache")
    result = {
        f"{size}px": one_size(data, size, cache_dir, args.overrides, out) for size in args.sizes
    }
    result["cpus"], result["memory_gib"] = (
        os.cpu_count(),
        round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB, 1),
    )
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
