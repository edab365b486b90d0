"""Joining Ray: a local cluster sized to this machine, or the cluster a job was submitted to.

Every Ray process of the search needs a few environment variables (``ENV_VARS``): legacy
tf-keras (set before TensorFlow is first imported), the Train state tracking the dashboard's
Train view shows, no preemption watcher, a finite worker-group start timeout (an unplaceable
worker group fails instead of waiting forever), a short controller poll and, for a local
Ray's raylet, no prestarted workers (Tune's trial actors cannot use them). A local Ray
inherits them from this process's environment, so no ``runtime_env`` is needed (with one,
every worker process starts Python twice, and a source checkout would be packaged and
uploaded although the package is installed); a job on a cluster passes them in its
``runtime_env``. This module, the tests and ``dfu.keras_setup`` are the only places that read
or set environment variables (also ``TF_CONFIG`` on Train workers, ``set_tf_config``, and
Tune's output switch, ``tune_output``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import threading
import time
from dataclasses import dataclass

import ray

START_TIMEOUT_VAR = "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S"
POLL_VAR = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
# 120 s covers a worker importing TensorFlow on a busy node; raise it on an autoscaling
# cluster, where a worker group may wait for a GPU node to boot.
ENV_VARS = {
    "TF_USE_LEGACY_KERAS": "1",
    START_TIMEOUT_VAR: os.environ.get(START_TIMEOUT_VAR, "120"),
    # A Train controller polls its workers this often (Ray's default 2 s): a worker-group
    # trial waits up to one interval to see its workers start and one to see them finish.
    POLL_VAR: os.environ.get(POLL_VAR, "0.5"),
    "RAY_TRAIN_ENABLE_STATE_TRACKING": "1",  # the dashboard's Train view
    "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",  # one process less per Train run
    # glibc's per-thread malloc arenas: 2 instead of 8 x cores saved ~70 MiB per TensorFlow
    # trial process on the demo search (its peak PSS 2.62 -> 2.53 GiB).
    "MALLOC_ARENA_MAX": "2",
    # Tune starts its trial actors with their own runtime_env (env_vars), so they never use
    # the idle workers Ray prestarts for a new driver: two processes importing Ray for
    # nothing while the search starts (~0.6 s of Ray's start-up, ~1.5 CPU-s, on 2 cores).
    "RAY_prestart_worker_first_driver": "0",
}
# TensorFlow's C++ logging: 3 hides the CUDA probe lines of CPU-only machines ("Could not find
# cuda drivers", "failed call to cuInit"); --verbose shows everything.
TF_LOG_VAR = "TF_CPP_MIN_LOG_LEVEL"
# Tune's legacy reporter when 0: silent at verbose=0 (the new one still prints a banner).
NEW_OUTPUT_VAR = "RAY_AIR_NEW_OUTPUT"
_CLOSING: list[threading.Thread] = []  # background shutdowns not yet joined
_QUIET_LOGGERS = (
    "ray.data",
    "ray.tune",
    "ray.train",
    "ray._private.authentication.authentication_token_setup",
)


@dataclass(frozen=True)
class Connection:
    how: str  # "local", "cluster" (RAY_ADDRESS) or "existing" (ray.init done by the caller)
    seconds: float
    started_here: bool
    dashboard: str | None = None

    def close(self, wait: bool = True) -> None:
        """Shut Ray down if this process started it. ``wait=False``: in a background thread
        (~1.3 s of stopping processes) while the caller goes on without Ray; the next
        ``connect`` and the interpreter's exit wait for it."""
        if not self.started_here:
            return
        if wait:
            ray.shutdown()
            return
        closing = threading.Thread(target=ray.shutdown, name="ray-shutdown")
        closing.start()
        _CLOSING.append(closing)


def connect(verbose: bool = False) -> Connection:
    """Reuse a caller's Ray, join ``RAY_ADDRESS`` (``ray job submit`` sets it), else start one."""
    while _CLOSING:  # a Ray still shutting down in the background (``Connection.close``)
        _CLOSING.pop().join()
    start = time.time()
    quiet(not verbose)
    env = environment(verbose)
    if ray.is_initialized():
        return Connection("existing", 0.0, started_here=False)
    if os.environ.get("RAY_ADDRESS"):
        # Inside a job: the job's runtime_env (its --working-dir) is merged with this one,
        # so only env vars here; the cluster's size is its own (no num_cpus).
        context = ray.init(runtime_env={"env_vars": env}, **_logging(verbose))
        return Connection("cluster", time.time() - start, True, _url(context))
    os.environ.update(env)  # inherited by the local Ray's processes
    context = ray.init(address="local", **_logging(verbose), **dashboard_args())
    return Connection("local", time.time() - start, True, _url(context))


def environment(verbose: bool = False) -> dict[str, str]:
    return {**ENV_VARS, TF_LOG_VAR: os.environ.get(TF_LOG_VAR, "0" if verbose else "3")}


def _logging(verbose: bool) -> dict:
    """Quiet: workers' logs stay in Ray's log files (a failed trial's error is still shown)."""
    return {"log_to_driver": verbose, "logging_level": logging.INFO if verbose else logging.WARNING}


def dashboard_args() -> dict:
    """The dashboard on 127.0.0.1 where ray[default] is installed.

    It also runs the State API that frees a stopped trial's Train placement group.
    """
    if importlib.util.find_spec("aiohttp") is None:  # ray[default]'s dashboard dependency
        return {"include_dashboard": False}
    return {"include_dashboard": True, "dashboard_host": "127.0.0.1"}


def quiet(on: bool = True) -> None:
    """Compact driver output: no Ray Data progress bars, Ray library logs at WARNING."""
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = not on
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR if on else logging.INFO)


def _url(context) -> str | None:
    url = getattr(context, "dashboard_url", None)
    return f"http://{url}" if url and not url.startswith("http") else url


def set_tf_config(addresses: list[str], index: int) -> None:
    """On Train worker ``index``: ``TF_CONFIG`` naming every worker's address (what
    ``MultiWorkerMirroredStrategy`` reads), and legacy tf-keras."""
    cluster = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
    os.environ["TF_CONFIG"] = json.dumps(cluster)
    os.environ["TF_USE_LEGACY_KERAS"] = "1"


@contextlib.contextmanager
def tune_output(verbose: bool):
    """Quiet: Tune's legacy reporter, silent at verbose=0 (the new one still prints a banner)."""
    saved = os.environ.get(NEW_OUTPUT_VAR)
    if not verbose:
        os.environ[NEW_OUTPUT_VAR] = "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(NEW_OUTPUT_VAR, None)
        else:
            os.environ[NEW_OUTPUT_VAR] = saved
