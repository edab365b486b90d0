"""A process tree's memory and CPU time, sampled from /proc while it runs (the benchmarks').

Memory is PSS (shared pages split fairly between the processes that map them, so a tree's sum
is honest), split into anonymous memory (a process's own heap: Python objects, TensorFlow's
runtime), file pages (shared libraries, shared when two processes load the same one) and
shared memory (Ray's object store). At the tree's peak the sampler keeps where the memory
sits, by role (``ROLES``): what the processes that run units hold against Ray's own processes.
psutil is not a dependency.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

MIB = 2**20
TICKS = os.sysconf("SC_CLK_TCK")
# smaps_rollup's fields, as the names a breakdown reports
_FIELDS = {"Pss": "pss", "Rss": "rss", "Pss_Anon": "anon", "Pss_File": "file", "Pss_Shmem": "shm"}
_KINDS = ("pss", "anon", "file", "shm")  # what a breakdown by role sums (anon + file + shm = pss)
# A process's role from its program (``program``), first match; the tree's root is the driver.
# Tune's function trainable runs units in "ray::ImplicitFunc" actors, a worker group's in Train
# workers; Ray titles every worker "ray::<what it runs>".
ROLES = (
    ("ray::ImplicitFunc", "units"),
    ("ray::RayTrainWorker", "units"),
    ("ray::DashboardAgent", "Ray daemons"),
    ("ray::RuntimeEnvAgent", "Ray daemons"),
    ("ray::", "other Ray workers"),
    ("default_worker.py", "other Ray workers"),  # a worker not yet titled
    ("dashboard", "dashboard"),  # its head (dashboard.py) and module processes
    ("multiprocessing", "dashboard"),  # the forkserver and resource tracker of its modules
    ("gcs_server", "Ray daemons"),
    ("raylet", "Ray daemons"),
    ("monitor.py", "Ray daemons"),  # the autoscaler's monitor and the log monitor
)


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
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


def memory_of(pid: int) -> dict[str, int]:
    """Bytes of one process: pss, rss, anon, file, shm (the last three sum to pss); zeros once
    it has exited."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
        fields = dict(line.split(":", 1) for line in lines)
    except (OSError, ValueError):
        fields = {}
    return {
        name: int(fields[key].split()[0]) * 1024 if key in fields else 0
        for key, name in _FIELDS.items()
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def role(pid: int, root: int) -> str:
    if pid == root:
        return "driver"
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return "other"
    return role_of(words)


def role_of(words: list[str]) -> str:
    """A process's role from its command line's words."""
    where = program(words)
    return next((name for part, name in ROLES if part in where), "other")


def program(words: list[str]) -> str:
    """What a process runs: its executable or title, or for Python its script or ``-c`` code.
    Not its flags: the raylet's flags name the worker script it starts."""
    first, rest = words[0], words[1:]
    if not Path(first).name.startswith("python"):
        return first
    for k, word in enumerate(rest):
        if word == "-c":
            return rest[k + 1] if k + 1 < len(rest) else ""
        if not word.startswith("-"):
            return word
    return first


def by_role(sizes: dict[int, dict[str, int]], roles: dict[int, str]) -> dict[str, dict]:
    """Per role: its process count and summed PSS, anonymous, file and shared MiB."""
    totals: dict[str, dict] = {}
    for pid, size in sizes.items():
        row = totals.setdefault(roles[pid], {"processes": 0, **dict.fromkeys(_KINDS, 0)})
        row["processes"] += 1
        for kind in _KINDS:
            row[kind] += size[kind]
    out = {
        r: {"processes": row["processes"], **{f"{k}_mib": round(row[k] / MIB) for k in _KINDS}}
        for r, row in totals.items()
    }
    return dict(sorted(out.items(), key=lambda item: -item[1]["pss_mib"]))


class TreeSampler:
    """Peak summed memory (and where it sat then, by role), process count and CPU time (in
    all, and by role) of a process tree, sampled as it runs.

    CPU time is the last value seen per process (a process that exits between two samples
    loses at most its last second)."""

    def __init__(self, root: int):
        self.root, self.peak_pss, self.peak_rss, self.peak_processes = root, 0, 0, 0
        self.peak_roles: dict[str, dict] = {}
        self.cpu: dict[int, float] = {}
        self.roles: dict[int, str] = {}  # the last role seen (a Ray worker retitles itself)
        self.timeline: list[tuple[float, float]] = []  # (wall clock, tree CPU seconds so far)

    def sample(self, memory: bool = True) -> None:
        pids = process_tree(self.root)
        for pid in pids:
            self.roles[pid] = role(pid, self.root)
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), cpu_seconds(pid))
        if memory:
            self._memory(pids)
        self.peak_processes = max(self.peak_processes, len(pids))
        self.timeline.append((time.time(), self.cpu_total))

    def _memory(self, pids: list[int]) -> None:
        sizes = {pid: memory_of(pid) for pid in pids}
        self.peak_rss = max(self.peak_rss, sum(s["rss"] for s in sizes.values()))
        pss = sum(s["pss"] for s in sizes.values())
        if pss > self.peak_pss:
            self.peak_pss, self.peak_roles = pss, by_role(sizes, self.roles)

    def utilisation(self, start: float, end: float) -> float | None:
        """Tree CPU seconds per wall second per core between two wall-clock times."""
        inside = [(t, c) for t, c in self.timeline if start <= t <= end]
        if len(inside) < 2:
            return None
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        return round((c1 - c0) / ((t1 - t0) * os.cpu_count()), 3)

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu.values())

    def cpu_by_role(self) -> dict[str, float]:
        """CPU seconds per role, most first: what Ray's own processes take from the units."""
        out: dict[str, float] = {}
        for pid, seconds in self.cpu.items():
            out[self.roles[pid]] = out.get(self.roles[pid], 0.0) + seconds
        return {r: round(c, 1) for r, c in sorted(out.items(), key=lambda item: -item[1])}
