"""The search benchmark's process-tree sampler (memory, CPU) and its per-unit timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import jobs.benchmark_search as bench
from dfu.store.layout import RunLayout
from jobs.benchmark_search import TreeSampler, cpu_seconds, memory_bytes, process_tree, unit_timings


def test_process_tree_finds_grandchildren_and_sums_their_memory():
    # A child that starts a grandchild holding ~200 MiB: both must be in the tree and the sum.
    code = (
        "import subprocess, sys; subprocess.run([sys.executable, '-c', "
        "'import time; b = b\"x\" * (200 * 2**20); time.sleep(30)'])"
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        sampler = TreeSampler(child.pid)
        for _ in range(100):  # until the grandchild has its memory (at most ~10 s)
            sampler.sample()
            tree = process_tree(child.pid)
            if len(tree) == 2 and sampler.peak_pss > 200 * 2**20:
                break
            subprocess.run(["sleep", "0.1"])
        assert child.pid in tree and len(tree) == 2
        assert 200 * 2**20 < sampler.peak_pss <= sampler.peak_rss
        assert sampler.peak_processes == 2
    finally:
        for pid in process_tree(child.pid)[::-1]:
            os.kill(pid, 9)
        child.wait()


def test_memory_of_a_process_that_is_gone_is_zero():
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    assert memory_bytes(int(done.stdout)) == (0, 0)
    pss, rss = memory_bytes(os.getpid())
    assert 0 < pss <= rss


def test_cpu_seconds_of_a_busy_process_grow():
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        sampler = TreeSampler(child.pid)
        sampler.sample()
        subprocess.run(["sleep", "1.5"])
        sampler.sample()
        assert 0.5 < sampler.cpu_total < 3.0 and cpu_seconds(child.pid) > 0.5
    finally:
        child.kill()
        child.wait()


def test_a_cpu_only_sample_leaves_the_memory_peak_alone():
    """Memory is read every few samples (a PSS read stalls the process it reads); CPU always."""
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        sampler = TreeSampler(child.pid)
        sampler.sample(memory=False)
        assert sampler.peak_pss == sampler.peak_rss == 0 and sampler.peak_processes == 1
        subprocess.run(["sleep", "0.5"])
        sampler.sample(memory=False)
        assert sampler.cpu_total > 0.2 and len(sampler.timeline) == 2
        sampler.sample()
        assert 0 < sampler.peak_pss <= sampler.peak_rss
    finally:
        child.kill()
        child.wait()


def test_unit_timings_per_kind_and_once_warm(tmp_path):
    """Overhead = unit wall - compute; "warm" leaves out each process's first network unit."""
    layout = RunLayout(tmp_path / "run")
    units = [
        (layout.branch(0, "thermal_map") / "record.json", {"modality": "thermal_map"}, 1, 9.0),
        (layout.trial(0, "thermal_map") / "trial.json", {"combo": "thermal_map"}, 2, 3.0),
        (layout.branch(1, "thermal_map") / "record.json", {"modality": "thermal_map"}, 3, 2.0),
        (layout.trial(0, "metadata") / "trial.json", {"combo": "metadata"}, 4, 0.5),
        (
            layout.trial(0, "linear(thermal_map)") / "trial.json",
            {"combo": "linear(thermal_map)"},
            5,
            1.0,
        ),
    ]
    for path, kind, started, overhead in units:
        path.parent.mkdir(parents=True)
        timing = {"started": started, "wall": overhead + 10, "compute": 10.0, "overhead": overhead}
        path.write_text(json.dumps({**kind, "timing": timing, "ray": {"pid": 7}}))
    found = unit_timings(layout)
    assert found["pretrain"] == {
        "count": 2,
        "wall_sum": 31.0,
        "median_overhead": 5.5,
        "median_overhead_warm": 2.0,
    }
    assert found["image trial"]["median_overhead_warm"] == 3.0  # after pid 7's first branch
    assert found["metadata trial"]["count"] == found["linear"]["count"] == 1


def test_utilisation_over_a_window_of_the_timeline():
    sampler = TreeSampler(os.getpid())
    sampler.timeline = [(0.0, 0.0), (10.0, 2.0), (20.0, 12.0), (30.0, 13.0)]
    cores = os.cpu_count()
    assert sampler.utilisation(10.0, 20.0) == round(10.0 / (10.0 * cores), 3)
    assert sampler.utilisation(25.0, 26.0) is None  # fewer than two samples inside


def _side(wall: float, pss: float) -> dict:
    """What ``run_side`` returns, with the numbers a round reads."""
    units = {"image trial": {"median_overhead_warm": 2.5}}
    return {
        "wall_seconds": wall,
        "peak_pss_gib": pss,
        "cpu_utilisation_during_units": 0.9,
        "units": units,
        "search": {},
    }


def test_a_round_runs_the_named_side_first_then_compares_the_two(tmp_path, monkeypatch):
    ran = []

    def fake_side(data, storage, executor, overrides, log):
        ran.append(executor)
        return _side(120.0, 1.0) if executor == "local" else _side(80.0, 2.0)

    monkeypatch.setattr(bench, "run_side", fake_side)
    for first, order in {"ray": ["ray", "local"], "local": ["local", "ray"]}.items():
        ran.clear()
        result = bench.contest("data", [], tmp_path / "search.json", first=first)
        assert ran == order
        assert result["first"] == first
        assert result["speedup"] == 1.5 and result["memory_ratio"] == 2.0
    with pytest.raises(ValueError, match="first"):
        bench.contest("data", [], tmp_path / "search.json", first="loop")


def test_rounds_report_the_median_ratios_and_keep_every_round(tmp_path, monkeypatch):
    """Three rounds on a drifting machine, alternating which side runs first: the medians, not
    the last round."""
    walls = iter([(150.0, 100.0), (200.0, 160.0), (180.0, 100.0)])  # ratios 1.5, 1.25, 1.8
    firsts = []

    def fake_contest(data, overrides, out, first):
        firsts.append(first)
        local, ray_wall = next(walls)
        return {
            "first": first,
            "local": _side(local, 1.0),
            "ray": _side(ray_wall, 2.1),
            "speedup": round(local / ray_wall, 2),
            "memory_ratio": 2.1,
        }

    monkeypatch.setattr(bench, "contest", fake_contest)
    monkeypatch.setattr(bench, "build_cache", lambda *a, **k: None)
    (tmp_path / "demo" / "_oracle").mkdir(parents=True)
    (tmp_path / "demo" / "_oracle" / "summary.json").write_text("{}")
    out = tmp_path / "search.json"
    argv = ["x", "--data", str(tmp_path / "demo"), "--out", str(out), "--rounds", "3"]
    monkeypatch.setattr(sys, "argv", argv)
    assert bench.main() == 0
    result = json.loads(out.read_text())
    assert result["speedup"] == 1.5 and result["memory_ratio"] == 2.1
    assert [r["speedup"] for r in result["rounds"]] == [1.5, 1.25, 1.8]
    assert result["local"]["wall_seconds"] == 180.0  # the last round in full
    assert result["rounds"][0]["ray_image_trial_overhead_warm"] == 2.5
    assert firsts == ["local", "ray", "local"]  # alternating: a drifting machine favours neither
    assert [r["first"] for r in result["rounds"]] == firsts
