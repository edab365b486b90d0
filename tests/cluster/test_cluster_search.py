"""The CV search on a local 2-CPU Ray: pre-train once per (fold, modality), one trial per (fold,
combination), planned batches, results tables, and a rerun that runs nothing."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cluster.search import run_search
from dfu.store.layout import RunLayout
from tests.helpers.ray_cluster import local_ray, mtimes, search_config

RUN_FILES = (
    "config.yaml",
    "folds.csv",
    "data_summary.json",
    "search.json",
    "report.html",
    "run.json",
    "bundle",
)


@pytest.fixture(scope="module")
def ray_2cpu():
    with local_ray(num_cpus=2):
        yield


def test_search_pretrains_once_scores_every_trial_and_resumes_without_rerunning(
    ray_2cpu, demo_dir_medium, tiny_config, tmp_path, capsys
):
    cfg = search_config(
        tiny_config,
        demo_dir_medium,
        tmp_path / "runs",
        "search.combinations=[metadata,metadata+thermal_map]",
    )
    record = run_search(cfg).record
    layout = RunLayout.of(tmp_path / "runs", "t")

    assert record["errors"] == []
    units = record["units"]  # 2 folds: a forest, a baseline and a branch each, 2 trials each
    assert (
        units["metadata"]
        == units["linear"]
        == units["pretrain"]
        == {"expected": 2, "finished": 2, "ran": 2}
    )
    assert units["trial"] == {"expected": 4, "finished": 4, "ran": 4}
    ray_info = record["executor"]["ray"]
    assert ray_info["how"] == "existing" and ray_info["concurrent_trials"] == 2
    results = pd.read_csv(layout.results)
    # One row per fold x combination, the ensemble of the metadata combinations and the baseline.
    assert sorted(zip(results["fold"], results["combo"], strict=True)) == sorted(
        (k, c)
        for k in (0, 1)
        for c in ("ensemble(metadata+*)", "metadata", "metadata+thermal_map", "linear(thermal_map)")
    )
    for name in RUN_FILES:
        assert (layout.root / name).exists(), name
    assert not layout.lock.exists()  # released

    for fold in (0, 1):
        _check_fold(layout, results, fold)

    out = capsys.readouterr().out
    assert "[units" in out and "10/10 done" in out

    _check_a_rerun_runs_nothing(cfg, layout, results)


def _check_fold(layout: RunLayout, results: pd.DataFrame, fold: int) -> None:
    """One fold's fusion trial: sized as planned, its branch loaded, every file written."""
    folder = layout.trial(fold, "metadata+thermal_map")
    fusion = json.loads((folder / "trial.json").read_text())
    sizing = fusion["sizing"]
    row = results[(results["fold"] == fold) & (results["combo"] == "metadata+thermal_map")].iloc[0]
    assert (row["batch_size"], row["steps_per_epoch"]) == (
        sizing["batch_size"],
        sizing["steps"]["train"],
    )
    assert all(s["steps_per_epoch"] == sizing["steps"]["train"] for s in fusion["stages"])
    assert set(fusion["pretrain"]) == {"thermal_map"}  # loaded from its unit, not retrained
    assert {"node_id", "hostname", "pid", "tune_trial_id", "unit"} <= set(fusion["ray"])
    assert fusion["val"]["image_set"]["n"] == sizing["rows"]["val"]
    assert list((folder / "tensorboard").rglob("events.out.*"))
    assert (folder / "model_weights.h5").is_file()  # what dfu.runs.bundle packs
    assert layout.fold_metadata_model(fold).is_file()  # the forest the bundle ships
    # Every test image set scored exactly once, the same rows as the metadata-only trial.
    fused = pd.read_parquet(folder / "predictions.parquet")
    alone = pd.read_parquet(layout.trial(fold, "metadata") / "predictions.parquet")
    assert len(fused) == sizing["rows"]["test"] and fused["set_id"].is_unique
    assert sorted(fused["set_id"]) == sorted(alone["set_id"])
    branch = json.loads((layout.branch(fold, "thermal_map") / "record.json").read_text())
    assert branch["record"]["steps_per_epoch"] == sizing["steps"]["train"]


def _check_a_rerun_runs_nothing(cfg, layout: RunLayout, results: pd.DataFrame) -> None:
    """Finished units must not be touched (report and ensemble are re-derived)."""
    before = {
        **mtimes(layout.root / "trials", "trial.json"),
        **mtimes(layout.root / "branches", "record.json"),
    }
    again = run_search(cfg).record
    assert all(u["ran"] == 0 and u["finished"] == u["expected"] for u in again["units"].values())
    assert again["executor"]["ray"] is None  # nothing pending: Ray not even used
    assert again["history"][0]["units"]["trial"]["ran"] == 4  # how the first run went is kept
    assert {
        **mtimes(layout.root / "trials", "trial.json"),
        **mtimes(layout.root / "branches", "record.json"),
    } == before
    pd.testing.assert_frame_equal(pd.read_csv(layout.results), results)
