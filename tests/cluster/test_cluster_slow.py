"""End-to-end checks of the Ray engine that take minutes: a worker killed mid-trial, the driver
killed mid-search, two Ray nodes, and ``ray job submit`` against a ``ray start`` cluster with two
workers per trial. Run with ``make test-slow`` (``pytest -m slow``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import ray

from cluster.connect import ENV_VARS
from cluster.search import run_search
from dfu.store.layout import RunLayout
from tests.helpers.paths import REPO
from tests.helpers.ray_cluster import (
    TINY_SEARCH,
    cli_env,
    end_session,
    free_port,
    local_ray,
    mtimes,
    pids,
    safe,
    search_config,
    start_head,
    stop_cluster,
    wait_for,
)

pytestmark = pytest.mark.slow
FUSION = ("metadata", "thermal_map")


# A worker group's retry takes ~5 min on a slow 2-core VM (two MultiWorkerMirroredStrategy
# starts, 30 epochs on gRPC collectives): beyond CI's budget there (make test-slow-full).
@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow_full)])
def test_a_process_killed_mid_training_is_retried(demo_dir_medium, tiny_config, tmp_path, workers):
    """SIGKILL (as the OOM killer sends) to the process training a unit: with one worker that is
    the Tune trial process (Tune's FailureConfig retries it), with two a Train worker (Train's
    retries the worker group). The process is found by the TensorBoard file it holds open."""
    cfg = search_config(
        tiny_config,
        demo_dir_medium,
        tmp_path,
        "search.combinations=[thermal_map]",
        "search.folds=[0]",
        "search.max_failures=1",
        "training.pretrain.epochs=30",
        "training.pretrain.patience=30",
        f"search.workers_per_trial={workers}",
    )
    events = RunLayout.of(tmp_path, "t").branch(0, "thermal_map") / "tensorboard"
    killed = []
    killer = threading.Thread(target=_kill_the_trainer, args=(events, killed), daemon=True)
    with local_ray(num_cpus=2):
        killer.start()
        record = run_search(cfg).record
    assert killed, "no process was found training the unit"
    assert record["errors"] == []
    assert (
        record["units"]["pretrain"]["finished"] == 1 and record["units"]["trial"]["finished"] == 1
    )


def test_driver_killed_mid_search_resumes_without_redoing_finished_work(demo_dir_medium, tmp_path):
    storage = tmp_path / "runs"
    command = [
        sys.executable,
        "-m",
        "jobs.cv_search",
        "--data",
        str(demo_dir_medium),
        "--name",
        "k",
        "--storage",
        str(storage),
        f"data.cache_dir={tmp_path / 'cache'}",
        *TINY_SEARCH,
        "search.combinations=[metadata,thermal_map,metadata+thermal_map]",
    ]
    layout = RunLayout.of(storage, "k")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    driver = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: len(_trials(layout)) >= 1, timeout=900, what="a first finished trial")
    finally:
        driver.send_signal(signal.SIGKILL)  # the driver only; its local Ray must die with it
        driver.wait()
        end_session(driver.pid)
    done_before = mtimes(layout.root / "trials", "trial.json")
    assert 1 <= len(_trials(layout)) < 6 and layout.lock.exists()  # the dead driver's lock

    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    record = json.loads(layout.search_record.read_text())
    assert record["units"]["trial"]["finished"] == 6 and record["errors"] == []
    assert record["units"]["trial"]["ran"] == 6 - len(_trials(layout, done_before))
    assert {
        p: t for p, t in mtimes(layout.root / "trials", "trial.json").items() if p in done_before
    } == done_before
    results = pd.read_csv(layout.results)
    assert (
        len(results[results["combo"].isin(["metadata", "thermal_map", "metadata+thermal_map"])])
        == 6
    )


def test_trials_spread_over_two_nodes(demo_dir_medium, tiny_config, tmp_path):
    """Two 1-CPU Ray nodes on this machine: concurrent trials land on both."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    session = cluster.head_node.get_session_dir_path()
    try:
        cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, runtime_env={"env_vars": ENV_VARS}, log_to_driver=False)
        cfg = search_config(
            tiny_config, demo_dir_medium, tmp_path, "search.combinations=[metadata+thermal_map]"
        )
        record = run_search(cfg).record
    finally:
        ray.shutdown()
        cluster.shutdown()
        stop_cluster(session)  # seen: a TrainController outliving Cluster.shutdown()
    assert record["errors"] == [] and record["executor"]["ray"]["nodes"] == 2
    layout = RunLayout.of(tmp_path, "t")
    nodes = [
        json.loads((layout.branch(k, "thermal_map") / "record.json").read_text())["ray"]["node_id"]
        for k in (0, 1)
    ]
    nodes += [
        json.loads((layout.trial(k, FUSION) / "trial.json").read_text())["ray"]["node_id"]
        for k in (0, 1)
    ]
    assert len(set(nodes)) == 2


def test_ray_job_submit_to_a_started_cluster(demo_dir_medium, tmp_path):
    """`ray start --head` + `ray job submit --working-dir .` as the README shows, token auth on;
    the fusion trains on two Train workers (MultiWorkerMirroredStrategy): planned steps, every
    test row scored."""
    temp_dir = tempfile.mkdtemp(prefix="rjs", dir="/tmp")  # short: Ray's socket paths are limited
    dashboard = free_port()
    env, ray_cli = cli_env()
    storage = tmp_path / "runs"
    try:
        start_head(env, ray_cli, dashboard, temp_dir)
        job = subprocess.run(
            [
                ray_cli,
                "job",
                "submit",
                f"--address=http://127.0.0.1:{dashboard}",
                "--working-dir",
                ".",
                "--",
                "python",
                "-m",
                "jobs.cv_search",
                "--data",
                str(demo_dir_medium),
                "--name",
                "job",
                "--storage",
                str(storage),
                f"data.cache_dir={tmp_path / 'cache'}",
                *TINY_SEARCH,
                "search.combinations=[metadata,metadata+thermal_map]",
                "search.folds=[0]",
                "search.workers_per_trial=2",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
    finally:
        stop_cluster(temp_dir)
    assert job.returncode == 0 and "succeeded" in job.stdout, (
        job.stdout[-3000:] + job.stderr[-3000:]
    )
    assert "ray: cluster" in job.stdout  # the job joined the running cluster
    layout = RunLayout.of(storage, "job")
    record = json.loads(layout.search_record.read_text())
    assert record["errors"] == [] and record["units"]["trial"]["finished"] == 2
    assert record["executor"]["ray"]["concurrent_trials"] == 1  # a group takes both CPUs
    folder = layout.trial(0, FUSION)
    trial = json.loads((folder / "trial.json").read_text())
    assert trial["ray"]["workers"] == 2 and trial["sizing"]["workers"] == 2
    assert all(s["steps_per_epoch"] == trial["sizing"]["steps"]["train"] for s in trial["stages"])
    assert trial["test"]["image_set"]["n"] == trial["sizing"]["rows"]["test"]
    assert (folder / "model_weights.h5").is_file()


def _trials(layout: RunLayout, among=None) -> list[Path]:
    """Finished trials of combinations (not the linear baselines)."""
    found = [p for p in layout.trial_dirs() if not p.name.startswith("linear(")]
    return [p for p in found if among is None or p / "trial.json" in among]


def _kill_the_trainer(events: Path, killed: list) -> None:
    """Once the unit's TensorBoard events file exists, SIGKILL the process holding it open."""
    deadline = time.time() + 600
    while time.time() < deadline and not killed:
        files = [str(f) for f in events.rglob("events.out.*")] if events.exists() else []
        holders = [
            pid for pid in pids() for f in files if safe(lambda pid=pid, f=f: _holds(pid, f))
        ]
        if holders:
            os.kill(holders[0], signal.SIGKILL)
            killed.append(holders[0])
            return
        time.sleep(0.5)


def _holds(pid: int, path: str) -> bool:
    return any(
        (safe(lambda fd=fd: os.readlink(fd)) or "") == path
        for fd in Path(f"/proc/{pid}/fd").iterdir()
    )
