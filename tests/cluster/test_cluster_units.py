"""The Ray engine's pieces that need no running cluster: resources, planning, resume guard,
results tables, Arrow tables, import hygiene, the cluster-launcher file."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from ray.tune.search import Searcher

from cluster.resources import scaling_config, trial_concurrency, trial_resources
from cluster.scheduler import PlanSearcher
from dfu.combos import parse_combinations
from dfu.config import ConfigError, SearchConfig
from dfu.runs.plan import Unit, plan_units
from tests.helpers.paths import REPO


@pytest.mark.parametrize(
    ("search", "cluster", "expected"),
    [
        (SearchConfig(), {"CPU": 2}, 2),  # the 2-core laptop: 2 single-worker trials
        (SearchConfig(workers_per_trial=2), {"CPU": 2}, 1),
        (SearchConfig(cpus_per_worker=0.5), {"CPU": 2}, 4),
        (SearchConfig(gpus_per_worker=0.5), {"CPU": 8, "GPU": 2}, 4),  # GPUs bound it
        (SearchConfig(gpus_per_worker=1, workers_per_trial=2), {"CPU": 32, "GPU": 4}, 2),
        (SearchConfig(max_concurrent_trials=3), {"CPU": 1}, 3),  # explicit override wins
    ],
)
def test_trial_concurrency_fits_the_cluster(search, cluster, expected):
    assert trial_concurrency(search, cluster) == expected


def test_one_worker_trains_in_the_trial_process_several_in_a_worker_group():
    one = SearchConfig()
    assert scaling_config(one).num_workers == 0 and trial_resources(one) == {"cpu": 1.0}
    two = SearchConfig(workers_per_trial=2, gpus_per_worker=1)
    assert scaling_config(two).num_workers == 2 and scaling_config(two).use_gpu
    assert trial_resources(two)["cpu"] == 0  # its workers hold the CPUs and GPUs


def test_trial_concurrency_refuses_a_search_that_cannot_start():
    with pytest.raises(ConfigError, match="needs 1 CPU, 1 GPU but the cluster has 4 CPU, 0 GPU"):
        trial_concurrency(SearchConfig(gpus_per_worker=1), {"CPU": 4})


def test_cluster_modules_do_not_import_tensorflow():
    """Driver, Tune trial and Train controller import these; TensorFlow belongs to workers only."""
    code = (
        "import sys, cluster.search, cluster.trial, cluster.scheduler, cluster.tf_trainer, "
        "jobs.cv_search; print(sorted(m for m in ('tensorflow', 'keras', 'tf_keras') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_scheduler_suggests_a_unit_once_its_needs_are_done_and_drops_blocked_ones():
    todo = plan_units([0], parse_combinations(["metadata", "metadata+thermal_map"]))
    searcher = PlanSearcher(todo, done=set())
    first = [Unit.of(searcher.suggest(f"t{i}")["unit"]) for i in range(2)]
    assert [u.kind for u in first] == ["metadata", "linear"]  # nothing else is runnable yet
    assert searcher.suggest("t2") is None  # pretrain waits for its linear baseline
    searcher.on_trial_complete("t1")  # linear(thermal_map) done
    assert Unit.of(searcher.suggest("t3")["unit"]) == Unit(0, "pretrain", "thermal_map")
    searcher.on_trial_complete("t0")  # metadata done: the metadata-only trial may run
    assert Unit.of(searcher.suggest("t4")["unit"]) == Unit(0, "trial", "metadata")
    searcher.on_trial_complete("t3", error=True)  # pre-training failed: its trial can never run
    searcher.on_trial_complete("t4")
    assert searcher.suggest("t5") == Searcher.FINISHED
    assert searcher.blocked == [
        "fold0-trial-metadata+thermal_map: not run, fold0-pretrain-thermal_map failed"
    ]


def test_ray_config_launches_gpu_workers_that_install_the_package():
    text = (REPO / "ray_config.yaml").read_text()
    cfg = yaml.safe_load(text)
    types = cfg["available_node_types"]
    head = types[cfg["head_node_type"]]
    gpu_workers = [
        t
        for n, t in types.items()
        if n != cfg["head_node_type"] and t["resources"].get("GPU", 0) >= 1
    ]
    assert cfg["provider"]["type"] == "aws" and head["max_workers"] == 0
    assert gpu_workers and all(1 <= w["min_workers"] <= w["max_workers"] for w in gpu_workers)
    assert cfg["file_mounts"]["/home/ubuntu/dfu-cv"] == "."  # this checkout, on every node
    setup = " ".join(cfg["setup_commands"])
    assert (
        "pip install -q -e '.[gpu]'" in setup and "mount -t nfs4" in setup
    )  # package + shared storage
    assert "--dashboard-host 127.0.0.1" in cfg["head_start_ray_commands"][-1]
    assert all(
        "RAY_AUTH_MODE=token" in c
        for c in (cfg["head_start_ray_commands"][-1], cfg["worker_start_ray_commands"][-1])
    )
    assert "--address=$RAY_HEAD_IP:6379" in cfg["worker_start_ray_commands"][-1]
    assert "search.storage=/mnt/efs/" in text  # runs write to the shared mount
