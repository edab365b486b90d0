"""The Ray engine's pieces that need no running cluster: resources, planning, resume guard,
results tables, Arrow tables, import hygiene, the cluster-launcher file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cluster.datasets import blocks, split_table
from cluster.resources import trial_concurrency
from cluster.search import branch_done, check_resumable, pending_pretraining, pending_trials
from dfu.combos import parse_combinations
from dfu.config import ConfigError, SearchConfig, load_config
from dfu.fold_data import SplitArrays
from dfu.results import read_trials, summarise, worst_verdict, write_results
from dfu.run_layout import RunLayout

REPO = Path(__file__).resolve().parents[1]


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


def test_trial_concurrency_refuses_a_search_that_cannot_start():
    with pytest.raises(ConfigError, match="needs 1 CPU, 1 GPU but the cluster has 4 CPU, 0 GPU"):
        trial_concurrency(SearchConfig(gpus_per_worker=1), {"CPU": 4})


def test_cluster_modules_do_not_import_tensorflow():
    """Driver, Tune trial and Train controller import these; TensorFlow belongs to workers only."""
    code = ("import sys, cluster.search, cluster.trial, cluster.worker, cluster.tf_trainer, "
            "jobs.cv_search; print(sorted(m for m in ('tensorflow', 'keras', 'tf_keras') "
            "if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert out.stdout.strip() == "[]"


def test_planning_skips_finished_trials_and_saved_branches(tmp_path):
    layout = RunLayout(tmp_path)
    combos = parse_combinations(["metadata", "thermal_map", "metadata+depth_rgb+thermal_map"])
    _write(layout.trial(0, ("thermal_map",)) / "trial.json", {"done": 1})
    (layout.trial(1, ("thermal_map",)) / "trial.json").parent.mkdir(parents=True)
    (layout.trial(1, ("thermal_map",)) / "trial.json").write_text('{"cut sh')  # interrupted write
    _save_branch(layout, 0, "thermal_map")

    trials = pending_trials(layout, [0, 1], combos)
    names = [(u["fold"], u["combo"]) for u in trials]
    assert (0, "thermal_map") not in names and (1, "thermal_map") in names
    assert len(trials) == 5
    assert trials[0]["combo"] == "metadata+depth_rgb+thermal_map"  # longest first
    branches = {(u["fold"], u["modality"]) for u in pending_pretraining(layout, trials)}
    assert branches == {(0, "depth_rgb"), (1, "depth_rgb"), (1, "thermal_map")}
    assert branch_done(layout, 0, "thermal_map") and not branch_done(layout, 1, "thermal_map")


def test_resume_refuses_changed_science_but_allows_search_changes(tmp_path):
    layout = RunLayout(tmp_path / "run")
    cfg = load_config(overrides=["data.image_size=32"])
    check_resumable(layout, cfg)  # new run: nothing to compare
    cfg.save(layout.config)
    check_resumable(layout, cfg.replace("search.combinations=all", "search.max_concurrent_trials=1"))
    with pytest.raises(ConfigError, match="data.image_size: run .* was made with 32"):
        check_resumable(layout, cfg.replace("data.image_size=64"))


def test_results_tables(tmp_path):
    layout = RunLayout(tmp_path)
    for fold, kappa in ((0, 0.2), (1, 0.4)):
        _write(layout.trial(fold, ("metadata", "thermal_map")) / "trial.json",
               _summary(fold, "metadata+thermal_map", kappa, stage2=["collapsed"], kept=False))  # fmt: skip
        _write(layout.trial(fold, ("metadata",)) / "trial.json", _summary(fold, "metadata", 0.1))
    _write(layout.trial(1, ("thermal_map",)) / "trial.json",
           _summary(1, "thermal_map", 0.5, stage1=["overfit", "no-learning"]))  # fmt: skip

    results, summary = write_results(layout, folds=[0, 1], combos=["metadata", "metadata+thermal_map"])
    assert len(results) == 4 and set(results["combo"]) == {"metadata", "metadata+thermal_map"}
    assert list(pd.read_csv(layout.results).columns[:4]) == ["fold", "combo", "kappa", "qwk"]
    best = summary.iloc[0]
    assert best["combo"] == "metadata+thermal_map" and best["folds"] == 2
    assert best["kappa_mean"] == pytest.approx(0.3) and best["kappa_sd"] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert best["verdict"] == "ok"  # the reverted stage 2's collapse did not shape the model
    assert summary.set_index("combo").loc["metadata", "verdict"] == "-"
    assert worst_verdict(_summary(1, "x", 0, stage1=["overfit", "no-learning"])) == "no-learning"
    assert len(read_trials(layout)) == 5
    assert summarise(read_trials(layout)).iloc[0]["combo"] == "thermal_map"


def test_split_table_has_ids_label_and_tensor_columns():
    n, size = 7, 16
    arrays = SplitArrays(
        pd.DataFrame({"set_id": [f"s{i}" for i in range(n)], "assessment_id": [f"a{i}" for i in range(n)],
                      "patient": np.arange(n)}),  # fmt: skip
        np.array([0, 1, 2, 0, 1, 2, 0]),
        {"metadata": np.random.rand(n, 3).astype(np.float32),
         "thermal_map": np.random.randint(0, 255, (n, size, size, 3), dtype=np.uint8)},  # fmt: skip
    )
    table = split_table(arrays, ["metadata", "thermal_map"])
    assert table.column_names == ["set_id", "assessment_id", "patient", "label", "metadata", "thermal_map"]
    images = table.column("thermal_map").combine_chunks().to_numpy()
    assert np.array_equal(np.stack(images), arrays.inputs["thermal_map"])
    parts = blocks(table)
    assert sum(p.num_rows for p in parts) == n


def test_ray_config_launches_gpu_workers_that_install_the_package():
    text = (REPO / "ray_config.yaml").read_text()
    cfg = yaml.safe_load(text)
    types = cfg["available_node_types"]
    head = types[cfg["head_node_type"]]
    gpu_workers = [t for n, t in types.items() if n != cfg["head_node_type"] and t["resources"].get("GPU", 0) >= 1]
    assert cfg["provider"]["type"] == "aws" and head["max_workers"] == 0
    assert gpu_workers and all(1 <= w["min_workers"] <= w["max_workers"] for w in gpu_workers)
    assert cfg["file_mounts"]["/home/ubuntu/dfu-cv"] == "."  # this checkout, on every node
    setup = " ".join(cfg["setup_commands"])
    assert "pip install -q -e '.[gpu]'" in setup and "mount -t nfs4" in setup  # package + shared storage
    assert "--dashboard-host 127.0.0.1" in cfg["head_start_ray_commands"][-1]
    assert all("RAY_AUTH_MODE=token" in c for c in (cfg["head_start_ray_commands"][-1],
                                                  cfg["worker_start_ray_commands"][-1]))  # fmt: skip
    assert "--address=$RAY_HEAD_IP:6379" in cfg["worker_start_ray_commands"][-1]
    assert "search.storage=/mnt/efs/" in text  # runs write to the shared mount


def _summary(fold, combo, kappa, stage1=("ok",), stage2=("ok",), kept=True) -> dict:
    metrics = {"kappa": kappa, "qwk": kappa, "accuracy": 0.5, "f1_macro": 0.4, "f1_weighted": 0.4,
               "f1_I": 0.3, "f1_P": 0.5, "f1_R": 0.4}  # fmt: skip
    stages = [] if combo == "metadata" else [
        {"stage": "stage1", "verdicts": list(stage1), "kept": True},
        {"stage": "stage2", "verdicts": list(stage2), "kept": kept},
    ]  # fmt: skip
    return {"fold": fold, "combo": combo, "test": {"assessment": metrics, "image_set": metrics},
            "sizing": {"batch_size": 32, "steps": {"train": 4}}, "stages": stages,
            "pretrain": {}, "seconds": 10.0}  # fmt: skip


def _write(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def _save_branch(layout: RunLayout, fold: int, modality: str) -> None:
    folder = layout.branch(fold, modality)
    folder.mkdir(parents=True)
    (folder / "weights.h5").write_bytes(b"x")
    _write(folder / "record.json", {"record": {}})
