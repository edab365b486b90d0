"""The search benchmark: its per-unit timings and its rounds (its sampler: test_tree_sampler)."""

from __future__ import annotations

import json
import sys

import pytest

import jobs.benchmark_search as bench
from dfu.store.layout import RunLayout
from jobs.benchmark_search import unit_timings


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
