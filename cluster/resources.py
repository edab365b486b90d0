"""What a trial asks of the cluster, and how many trials fit at once without deadlock.

A Tune function trainable reserves 1 CPU by default, and each trial's Train workers need
their own: on 2 CPUs two trials would hold both CPUs while their workers wait forever. So
with a worker group the trial process asks for no CPU (only a token of memory, as Ray rejects
an empty bundle) and the workers ask for ``search.cpus_per_worker`` / ``search.gpus_per_worker``
each; with one worker (Train's local mode) the trial process trains itself and asks for them.
Tune runs only as many trials as the cluster's CPUs and GPUs can host together.
"""

from __future__ import annotations

import math

from ray.train import ScalingConfig

from dfu.config import ConfigError, SearchConfig

TRIAL_RESOURCES = {"cpu": 0, "memory": 10 * 2**20}
_EPS = 1e-9  # float resources: 2 / (2 * 0.5) must be 2, not 1.999...


def worker_resources(search: SearchConfig) -> dict[str, float]:
    resources = {"CPU": search.cpus_per_worker}
    if search.gpus_per_worker > 0:
        resources["GPU"] = search.gpus_per_worker
    return resources


def scaling_config(search: SearchConfig) -> ScalingConfig:
    """One worker: Train's local mode (``num_workers=0``), the loop runs in the trial process,
    which holds the resources itself; several: a worker group with resources per worker."""
    if search.workers_per_trial == 1:
        return ScalingConfig(num_workers=0)
    return ScalingConfig(
        num_workers=search.workers_per_trial,
        use_gpu=search.gpus_per_worker > 0,
        resources_per_worker=worker_resources(search),
    )


def trial_resources(search: SearchConfig) -> dict:
    """What a Tune trial process reserves: a worker's resources when it trains in place (one
    worker per trial), a token when its workers hold their own (see the module docstring)."""
    if search.workers_per_trial > 1:
        return TRIAL_RESOURCES
    resources = {"cpu": search.cpus_per_worker}
    if search.gpus_per_worker > 0:
        resources["gpu"] = search.gpus_per_worker
    return resources


def trial_concurrency(search: SearchConfig, cluster: dict[str, float]) -> int:
    """Trials that can run at once: ``search.max_concurrent_trials``, else what fits the cluster.

    Raises ``ConfigError`` when not even one trial fits, instead of letting the search hang.
    """
    if search.max_concurrent_trials > 0:
        return search.max_concurrent_trials
    fits = {}
    for resource, per_worker in worker_resources(search).items():
        per_trial = per_worker * search.workers_per_trial
        fits[resource] = math.floor(cluster.get(resource, 0.0) / per_trial + _EPS)
    if min(fits.values()) < 1:
        per_worker = worker_resources(search).items()
        need = ", ".join(f"{v * search.workers_per_trial:g} {k}" for k, v in per_worker)
        have = ", ".join(f"{cluster.get(k, 0):g} {k}" for k in fits)
        raise ConfigError(
            f"search.workers_per_trial: one trial needs {need} but the cluster has {have}; lower "
            "search.workers_per_trial / cpus_per_worker / gpus_per_worker, or, on an autoscaling "
            "cluster that has not added its GPU nodes yet, set search.max_concurrent_trials"
        )
    return min(fits.values())
