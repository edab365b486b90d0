"""Wall time, trial time and memory of one whole demo search, printed and written as JSON.

    python -m jobs.benchmark_search [--data data/demo] [--out bench/search.json] [key=value ...]

Runs ``python -m jobs.demo`` (what ``make demo`` runs) as a child process into a fresh storage
folder, samples the memory of its whole process tree every second (the driver plus Ray's GCS,
raylet, dashboard and every worker it starts), then reads the run's search.json and the trials'
own timings. Numbers only; no pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dfu.results import read_json
from dfu.run_layout import RunLayout

GIB = 2**30


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc (psutil is not a dependency)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def memory_bytes(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process; PSS shares common pages fairly, so it sums honestly."""
    try:
        fields = dict(line.split(":", 1) for line in
                      Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])  # fmt: skip
    except (OSError, ValueError):
        return 0, 0
    kib = {k: int(v.split()[0]) for k, v in fields.items() if k in ("Pss", "Rss")}
    return kib.get("Pss", 0) * 1024, kib.get("Rss", 0) * 1024


class TreeSampler:
    """Peak summed memory and process count of a process tree, sampled while it runs."""

    def __init__(self, root: int):
        self.root, self.peak_pss, self.peak_rss, self.peak_processes = root, 0, 0, 0

    def sample(self) -> None:
        pids = process_tree(self.root)
        sizes = [memory_bytes(p) for p in pids]
        self.peak_pss = max(self.peak_pss, sum(s[0] for s in sizes))
        self.peak_rss = max(self.peak_rss, sum(s[1] for s in sizes))
        self.peak_processes = max(self.peak_processes, len(pids))


def run_demo(data: str, storage: str, overrides: list[str], log: Path) -> tuple[float, TreeSampler]:
    command = [sys.executable, "-m", "jobs.demo", "--data", data,
               f"search.storage={storage}", *overrides]  # fmt: skip
    started = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        sampler = TreeSampler(child.pid)
        while child.poll() is None:
            sampler.sample()
            time.sleep(1.0)
    wall = time.perf_counter() - started
    if child.returncode != 0:
        sys.exit(f"benchmark: the demo failed (exit {child.returncode}); see {log}")
    return wall, sampler


def trial_seconds(layout: RunLayout) -> dict[str, float]:
    """Time spent inside trials, as each trial measured it (pre-trainings and combinations)."""
    branches = [read_json(d / "record.json") for d in layout.branch_dirs()]
    trials = [read_json(d / "trial.json") for d in layout.trial_dirs()]
    return {"pretrain": round(sum(b["seconds"] for b in branches), 1),
            "trials": round(sum(t["seconds"] for t in trials), 1),
            "pretrain_count": len(branches), "trial_count": len(trials)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/demo", help="demo data folder (made if missing)")
    parser.add_argument("--out", default="bench/search.json")
    parser.add_argument("overrides", nargs="*", help="config overrides passed to jobs.demo")
    args = parser.parse_intermixed_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dfu-bench-") as storage:
        wall, sampler = run_demo(args.data, storage, args.overrides, out.with_suffix(".log"))
        record = json.loads(next(Path(storage).glob("*/search.json")).read_text())
        spent = trial_seconds(RunLayout(Path(storage) / record["name"]))
    result = {
        "wall_seconds": round(wall, 1),
        "search_seconds": record["seconds"],
        "ray_start_seconds": record["ray"]["start_seconds"],
        "concurrent_trials": record["ray"]["concurrent_trials"],
        "trial_seconds": spent,
        "pretrainings_ran": record["pretrain"]["ran"],
        "trials_ran": record["trials"]["ran"],
        "errors": len(record["errors"]),
        "peak_pss_gib": round(sampler.peak_pss / GIB, 2),
        "peak_rss_sum_gib": round(sampler.peak_rss / GIB, 2),
        "peak_processes": sampler.peak_processes,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=1))
    out.write_text(json.dumps(result, indent=1))
    print(f"written: {out} (demo output: {out.with_suffix('.log')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
