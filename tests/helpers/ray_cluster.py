"""Helpers for the Ray engine's tests: the tiny search config, a local Ray that always stops,
and a `ray start` cluster of the test's own, ended by pid (never `ray stop`: this machine is
shared)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import ray

from cluster.connect import ENV_VARS
from dfu.config import Config
from tests.helpers.paths import TINY_CONFIG

# The tests' tiny run (one epoch per stage on 16x16 images, 2 folds) with the smallest forest
# and network: the real code path, as small as it gets.
RAY_OVERRIDES = ("metadata.n_estimators=20", "metadata.oof_folds=2", "model.filters=[4]")
# The same as command-line arguments of jobs.cv_search.
TINY_SEARCH = ("--config", str(TINY_CONFIG), *RAY_OVERRIDES)


def search_config(
    base: Config, data: Path, storage: Path, *overrides: str, name: str = "t"
) -> Config:
    """``base`` (the tiny config) on ``data``, stored under ``storage``, as small as Ray tests
    run it, with the test's own ``overrides``."""
    cfg = base.replace(f"data.root={data}", f"search.storage={storage}", *RAY_OVERRIDES, *overrides)
    cfg.search.name = name
    return cfg


@contextlib.contextmanager
def local_ray(num_cpus: int = 2, **env_vars: str):
    """A fresh local Ray (never one somebody else started), shut down whatever happens."""
    ray.init(
        address="local",
        num_cpus=num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {**ENV_VARS, **env_vars}},
    )
    try:
        yield
    finally:
        ray.shutdown()


def mtimes(root: Path, pattern: str) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob(pattern)}


# --- a `ray start` cluster of the test's own ---------------------------------------------


def cli_env() -> tuple[dict, str]:
    """The environment of a test's `ray` command lines (token auth on, not joining a Ray of the
    caller's) and this venv's `ray`."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="token", PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
    return env, str(Path(sys.executable).parent / "ray")


def start_head(env: dict, ray_cli: str, dashboard_port: int, temp_dir: str) -> None:
    """`ray start --head` on 2 CPUs, its dashboard on 127.0.0.1, under ``temp_dir`` (which
    ``stop_cluster`` recognises its processes by)."""
    command = [
        *(ray_cli, "start", "--head", "--port=0", "--dashboard-host", "127.0.0.1"),
        *(f"--dashboard-port={dashboard_port}", "--num-cpus", "2", f"--temp-dir={temp_dir}"),
        "--disable-usage-stats",
    ]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise TimeoutError(f"no {what} within {timeout} s")
        time.sleep(2)


def end_session(sid: int) -> None:
    """Kill whatever is left of a process session this test started (by pid, nothing else)."""
    _kill([pid for pid in pids() if safe(lambda pid=pid: os.getsid(pid)) == sid])


def stop_cluster(temp_dir: str) -> None:
    """`ray stop` would stop every Ray on this shared machine: end only the processes of the
    cluster this test started, recognised by its own temp or session dir in their command line
    or open files (Ray's agents rename themselves, e.g. ``ray::DashboardAgent``)."""
    _kill([pid for pid in pids() if safe(lambda pid=pid: _uses(pid, temp_dir))])


def _uses(pid: int, path: str) -> bool:
    if path in _cmdline(pid):
        return True
    fds = Path(f"/proc/{pid}/fd")
    return any(path in (safe(lambda fd=fd: os.readlink(fd)) or "") for fd in fds.iterdir())


def pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def _kill(found: list[int]) -> None:
    for pid in found:
        safe(lambda pid=pid: os.kill(pid, signal.SIGTERM))
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(pid) for pid in found):
        time.sleep(0.5)
    for pid in found:
        if _alive(pid):
            safe(lambda pid=pid: os.kill(pid, signal.SIGKILL))


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def safe(call):
    try:
        return call()
    except (ProcessLookupError, PermissionError, FileNotFoundError):
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
