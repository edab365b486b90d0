"""End-to-end checks of the Ray engine that take minutes: several workers per trial, a worker
killed mid-trial, the driver killed mid-search, two Ray nodes, and ``ray job submit`` against
a ``ray start`` cluster. Run with ``make test-slow`` (``pytest -m slow``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import ray
from conftest_cluster import TINY_SEARCH, local_ray, mtimes, search_config

from cluster.connect import ENV_VARS
from cluster.search import run_search
from dfu.run_layout import RunLayout

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
FUSION = ("metadata", "thermal_map")


def test_two_workers_per_trial(demo_dir_medium, tiny_config, tmp_path):
    """MultiWorkerMirroredStrategy over 2 Train workers: planned steps, every test row scored."""
    cfg = search_config(tiny_config, demo_dir_medium, tmp_path, "search.combinations=[metadata+thermal_map]",
                        "search.folds=[0]", "search.workers_per_trial=2")  # fmt: skip
    with local_ray(num_cpus=2):
        record = run_search(cfg).record
    assert record["errors"] == [] and record["executor"]["ray"]["concurrent_trials"] == 1
    folder = RunLayout.of(tmp_path, "t").trial(0, FUSION)
    trial = json.loads((folder / "trial.json").read_text())
    assert trial["ray"]["workers"] == 2 and trial["sizing"]["workers"] == 2
    assert all(s["steps_per_epoch"] == trial["sizing"]["steps"]["train"] for s in trial["stages"])
    assert trial["test"]["image_set"]["n"] == trial["sizing"]["rows"]["test"]
    assert (folder / "model.weights.h5").is_file()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_process_killed_mid_training_is_retried(demo_dir_medium, tiny_config, tmp_path, workers):
    """SIGKILL (as the OOM killer sends) to the process training a unit: with one worker that is
    the Tune trial process (Tune's FailureConfig retries it), with two a Train worker (Train's
    retries the worker group). The process is found by the TensorBoard file it holds open."""
    cfg = search_config(tiny_config, demo_dir_medium, tmp_path, "search.combinations=[thermal_map]",
                        "search.folds=[0]", "search.max_failures=1", "training.pretrain.epochs=30",
                        "training.pretrain.patience=30", f"search.workers_per_trial={workers}")  # fmt: skip
    events = RunLayout.of(tmp_path, "t").branch(0, "thermal_map") / "tensorboard"
    killed = []
    killer = threading.Thread(target=_kill_the_trainer, args=(events, killed), daemon=True)
    with local_ray(num_cpus=2):
        killer.start()
        record = run_search(cfg).record
    assert killed, "no process was found training the unit"
    assert record["errors"] == []
    assert record["units"]["pretrain"]["finished"] == 1 and record["units"]["trial"]["finished"] == 1


def test_driver_killed_mid_search_resumes_without_redoing_finished_work(demo_dir_medium, tmp_path):
    storage = tmp_path / "runs"
    command = [sys.executable, "-m", "jobs.cv_search", "--data", str(demo_dir_medium), "--name", "k",
               "--storage", str(storage), f"data.cache_dir={tmp_path / 'cache'}", *TINY_SEARCH,
               "search.combinations=[metadata,thermal_map,metadata+thermal_map]"]  # fmt: skip
    layout = RunLayout.of(storage, "k")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    driver = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_for(lambda: len(_trials(layout)) >= 1, timeout=900, what="a first finished trial")
    finally:
        driver.send_signal(signal.SIGKILL)  # the driver only; its local Ray must die with it
        driver.wait()
        _end_session(driver.pid)
    done_before = mtimes(layout.root / "trials", "trial.json")
    assert 1 <= len(_trials(layout)) < 6 and layout.lock.exists()  # the dead driver's lock

    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    record = json.loads(layout.search_record.read_text())
    assert record["units"]["trial"]["finished"] == 6 and record["errors"] == []
    assert record["units"]["trial"]["ran"] == 6 - len(_trials(layout, done_before))
    assert {p: t for p, t in mtimes(layout.root / "trials", "trial.json").items() if p in done_before} == done_before
    results = pd.read_csv(layout.results)
    assert len(results[results["combo"].isin(["metadata", "thermal_map", "metadata+thermal_map"])]) == 6


def test_trials_spread_over_two_nodes(demo_dir_medium, tiny_config, tmp_path):
    """Two 1-CPU Ray nodes on this machine: concurrent trials land on both."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    session = cluster.head_node.get_session_dir_path()
    try:
        cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, runtime_env={"env_vars": ENV_VARS}, log_to_driver=False)
        cfg = search_config(tiny_config, demo_dir_medium, tmp_path, "search.combinations=[metadata+thermal_map]")
        record = run_search(cfg).record
    finally:
        ray.shutdown()
        cluster.shutdown()
        _stop_cluster(session)  # seen: a TrainController outliving Cluster.shutdown()
    assert record["errors"] == [] and record["executor"]["ray"]["nodes"] == 2
    layout = RunLayout.of(tmp_path, "t")
    nodes = [json.loads((layout.branch(k, "thermal_map") / "record.json").read_text())["ray"]["node_id"]
             for k in (0, 1)]  # fmt: skip
    nodes += [json.loads((layout.trial(k, FUSION) / "trial.json").read_text())["ray"]["node_id"] for k in (0, 1)]
    assert len(set(nodes)) == 2


def test_ray_job_submit_to_a_started_cluster(demo_dir_medium, tmp_path):
    """`ray start --head` + `ray job submit --working-dir .` as the README shows, token auth on."""
    temp_dir = tempfile.mkdtemp(prefix="rjs", dir="/tmp")  # short: Ray's socket paths are limited
    dashboard = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="token", PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
    ray_cli = str(Path(sys.executable).parent / "ray")
    storage = tmp_path / "runs"
    try:
        subprocess.run([ray_cli, "start", "--head", "--port=0", "--dashboard-host", "127.0.0.1",
                        f"--dashboard-port={dashboard}", "--num-cpus", "2", f"--temp-dir={temp_dir}",
                        "--disable-usage-stats"], env=env, check=True, capture_output=True, timeout=120)  # fmt: skip
        job = subprocess.run(
            [ray_cli, "job", "submit", f"--address=http://127.0.0.1:{dashboard}", "--working-dir", ".", "--",
             "python", "-m", "jobs.cv_search", "--data", str(demo_dir_medium), "--name", "job",
             "--storage", str(storage), f"data.cache_dir={tmp_path / 'cache'}", *TINY_SEARCH,
             "search.combinations=[metadata,metadata+thermal_map]", "search.folds=[0]"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
    finally:
        _stop_cluster(temp_dir)
    assert job.returncode == 0 and "succeeded" in job.stdout, job.stdout[-3000:] + job.stderr[-3000:]
    assert "ray: cluster" in job.stdout  # the job joined the running cluster
    record = json.loads(RunLayout.of(storage, "job").search_record.read_text())
    assert record["errors"] == [] and record["units"]["trial"]["finished"] == 2


def _trials(layout: RunLayout, among=None) -> list[Path]:
    """Finished trials of combinations (not the linear baselines)."""
    found = [p for p in layout.trial_dirs() if not p.name.startswith("linear(")]
    return [p for p in found if among is None or p / "trial.json" in among]


def _kill_the_trainer(events: Path, killed: list) -> None:
    """Once the unit's TensorBoard events file exists, SIGKILL the process holding it open."""
    deadline = time.time() + 600
    while time.time() < deadline and not killed:
        files = [str(f) for f in events.rglob("events.out.*")] if events.exists() else []
        holders = [pid for pid in _pids() for f in files if _safe(lambda pid=pid, f=f: _holds(pid, f))]
        if holders:
            os.kill(holders[0], signal.SIGKILL)
            killed.append(holders[0])
            return
        time.sleep(0.5)


def _holds(pid: int, path: str) -> bool:
    return any((_safe(lambda fd=fd: os.readlink(fd)) or "") == path for fd in Path(f"/proc/{pid}/fd").iterdir())


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise TimeoutError(f"no {what} within {timeout} s")
        time.sleep(2)


def _end_session(sid: int) -> None:
    """Kill whatever is left of a process session this test started (by pid, nothing else)."""
    _kill([pid for pid in _pids() if _safe(lambda pid=pid: os.getsid(pid)) == sid])


def _stop_cluster(temp_dir: str) -> None:
    """`ray stop` would stop every Ray on this shared machine: end only the processes of the
    cluster this test started, recognised by its own temp or session dir in their command line
    or open files (Ray's agents rename themselves, e.g. ``ray::DashboardAgent``)."""
    _kill([pid for pid in _pids() if _safe(lambda pid=pid: _uses(pid, temp_dir))])


def _uses(pid: int, path: str) -> bool:
    if path in _cmdline(pid):
        return True
    fds = Path(f"/proc/{pid}/fd")
    return any(path in (_safe(lambda fd=fd: os.readlink(fd)) or "") for fd in fds.iterdir())


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def _kill(pids: list[int]) -> None:
    for pid in pids:
        _safe(lambda pid=pid: os.kill(pid, signal.SIGTERM))
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.5)
    for pid in pids:
        if _alive(pid):
            _safe(lambda pid=pid: os.kill(pid, signal.SIGKILL))


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _safe(call):
    try:
        return call()
    except (ProcessLookupError, PermissionError, FileNotFoundError):
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
