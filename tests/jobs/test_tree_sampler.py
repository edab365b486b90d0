"""The benchmarks' process-tree sampler: memory (and where it sits at the peak) and CPU time."""

from __future__ import annotations

import os
import subprocess
import sys

from jobs.tree_sampler import (
    TreeSampler,
    by_role,
    cpu_seconds,
    memory_of,
    process_tree,
    role_of,
)

MIB = 2**20


def test_the_peak_sums_grandchildren_and_says_where_their_memory_sits():
    """A driver whose grandchild holds ~200 MiB under a Tune trial's title: the tree and its sum
    hold both, and at the peak the 200 MiB sit with the units, as the grandchild's own heap."""
    hold = "import time; b = bytearray(200 * 2**20); time.sleep(30)"
    code = (
        "import subprocess, sys; "
        # titled as Ray titles a trial process (its argv[0])
        f"subprocess.run(['ray::ImplicitFunc.train', '-c', {hold!r}], executable=sys.executable)"
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        sampler = TreeSampler(child.pid)
        for _ in range(100):  # until the grandchild has its memory (at most ~10 s)
            sampler.sample()
            tree = process_tree(child.pid)
            if len(tree) == 2 and sampler.peak_pss > 200 * MIB:
                break
            subprocess.run(["sleep", "0.1"])
        assert child.pid in tree and len(tree) == 2
        assert 200 * MIB < sampler.peak_pss <= sampler.peak_rss
        assert sampler.peak_processes == 2
        roles = sampler.peak_roles
        assert set(roles) == {"driver", "units"}
        assert roles["units"]["processes"] == roles["driver"]["processes"] == 1
        assert roles["units"]["anon_mib"] >= 200 > roles["driver"]["anon_mib"]
        summed = sum(r["pss_mib"] for r in roles.values())
        assert abs(summed - sampler.peak_pss / MIB) <= len(roles)  # each rounded to a MiB
    finally:
        for pid in process_tree(child.pid)[::-1]:
            os.kill(pid, 9)
        child.wait()


def test_memory_splits_into_heap_files_and_shared_memory_and_is_zero_once_gone():
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    assert set(memory_of(int(done.stdout)).values()) == {0}
    mine = memory_of(os.getpid())
    assert 0 < mine["pss"] <= mine["rss"]
    assert mine["anon"] > 0 and mine["file"] > 0
    assert abs(mine["anon"] + mine["file"] + mine["shm"] - mine["pss"]) <= 64 * 1024


SITE = "/venv/lib/python3.11/site-packages/ray"
COMMAND_LINES = {  # as a local Ray 2.60 with its dashboard shows them in /proc/<pid>/cmdline
    "units": [["ray::ImplicitFunc.train", ""], ["ray::RayTrainWorker.run", ""]],
    "Ray daemons": [
        [
            f"{SITE}/core/src/ray/raylet/raylet",
            "--raylet_socket_name=/tmp/ray/s/raylet",
            f"--python_worker_command=/venv/bin/python {SITE}/_private/workers/default_worker.py",
        ],
        [f"{SITE}/core/src/ray/gcs/gcs_server", "--log_dir=/tmp/ray/s/logs"],
        ["/venv/bin/python", "-u", f"{SITE}/autoscaler/_private/monitor.py", "--logs-dir=x"],
        ["/venv/bin/python", "-u", f"{SITE}/_private/log_monitor.py", "--session-dir=x"],
        ["ray::DashboardAgent", ""],
        ["ray::RuntimeEnvAgent", ""],
    ],
    "dashboard": [
        ["/venv/bin/python", f"{SITE}/dashboard/dashboard.py", "--host=127.0.0.1"],
        ['ray-dashboard-JobHead-0 (/venv/bin/python -B -c "from multiprocessing.forkserver")'],
        ["/venv/bin/python", "-B", "-c", "from multiprocessing.forkserver import main; main()"],
    ],
    "other Ray workers": [["ray::IDLE", ""], ["ray::TrainController", ""]],
}


def test_each_process_of_a_ray_tree_gets_its_role_from_its_program_not_its_flags():
    for role, lines in COMMAND_LINES.items():
        for words in lines:
            assert role_of(words) == role, words
    assert role_of(["/usr/bin/sleep", "30"]) == "other"


def test_roles_add_up_per_role_in_mib_largest_first():
    sizes = {
        1: {"pss": 300 * MIB, "anon": 280 * MIB, "file": 20 * MIB, "shm": 0},
        2: {"pss": 700 * MIB, "anon": 500 * MIB, "file": 190 * MIB, "shm": 10 * MIB},
        3: {"pss": 650 * MIB, "anon": 450 * MIB, "file": 200 * MIB, "shm": 0},
    }
    roles = by_role(sizes, {1: "driver", 2: "units", 3: "units"})
    assert list(roles) == ["units", "driver"]
    assert roles["units"] == {
        "processes": 2,
        "pss_mib": 1350,
        "anon_mib": 950,
        "file_mib": 390,
        "shm_mib": 10,
    }


def test_cpu_seconds_of_a_busy_process_grow_and_count_for_its_role():
    """A sleeping driver whose grandchild, titled as a Tune trial, spins: its CPU is the units'."""
    code = (
        "import subprocess, sys; "
        "subprocess.run(['ray::ImplicitFunc.train', '-c', 'while True: pass'], "
        "executable=sys.executable)"
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        sampler = TreeSampler(child.pid)
        while len(process_tree(child.pid)) < 2:
            subprocess.run(["sleep", "0.05"])
        sampler.sample()
        subprocess.run(["sleep", "1.5"])
        sampler.sample()
        spinner = process_tree(child.pid)[-1]
        assert 0.5 < sampler.cpu_total < 3.5 and cpu_seconds(spinner) > 0.5
        cpu = sampler.cpu_by_role()
        assert list(cpu) == ["units", "driver"]
        assert cpu["units"] > 0.5 > cpu["driver"]
    finally:
        for pid in process_tree(child.pid)[::-1]:
            os.kill(pid, 9)
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


def test_utilisation_over_a_window_of_the_timeline():
    sampler = TreeSampler(os.getpid())
    sampler.timeline = [(0.0, 0.0), (10.0, 2.0), (20.0, 12.0), (30.0, 13.0)]
    cores = os.cpu_count()
    assert sampler.utilisation(10.0, 20.0) == round(10.0 / (10.0 * cores), 3)
    assert sampler.utilisation(25.0, 26.0) is None  # fewer than two samples inside
