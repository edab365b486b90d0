"""The search benchmark's process-tree memory sampler (the search itself is what `make demo` runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from dfu.run_layout import RunLayout
from jobs.benchmark_search import TreeSampler, memory_bytes, process_tree, trial_seconds


def test_process_tree_finds_grandchildren_and_sums_their_memory():
    # A child that starts a grandchild holding ~200 MiB: both must be in the tree and the sum.
    code = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'import time; b = b\"x\" * (200 * 2**20); time.sleep(30)'])")  # fmt: skip
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
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True)  # fmt: skip
    assert memory_bytes(int(done.stdout)) == (0, 0)
    pss, rss = memory_bytes(os.getpid())
    assert 0 < pss <= rss


def test_trial_seconds_sum_what_each_pretraining_and_trial_recorded(tmp_path):
    layout = RunLayout(tmp_path / "run")
    for fold, seconds in ((0, 10.0), (1, 12.5)):
        layout.branch(fold, "thermal_map").mkdir(parents=True)
        (layout.branch(fold, "thermal_map") / "record.json").write_text(json.dumps({"seconds": seconds}))
        for combo, spent in ((("metadata",), 1.0), (("metadata", "thermal_map"), 30.0)):
            layout.trial(fold, combo).mkdir(parents=True)
            (layout.trial(fold, combo) / "trial.json").write_text(json.dumps({"seconds": spent}))
    assert trial_seconds(layout) == {"pretrain": 22.5, "trials": 62.0,
                                     "pretrain_count": 2, "trial_count": 4}  # fmt: skip
