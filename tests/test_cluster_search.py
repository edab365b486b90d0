"""The CV search on a local 2-CPU Ray: pre-train once per (fold, modality), one trial per (fold,
combination), planned batches, results tables, and a rerun that runs nothing."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest_cluster import local_ray, mtimes, search_config

from cluster.search import run_search
from dfu.run_layout import RunLayout


@pytest.fixture(scope="module")
def ray_2cpu():
    with local_ray(num_cpus=2):
        yield


def test_search_pretrains_once_scores_every_trial_and_resumes_without_rerunning(
    ray_2cpu, demo_dir_medium, tiny_config, tmp_path, capsys
):
    cfg = search_config(tiny_config, demo_dir_medium, tmp_path / "runs",
                        "search.combinations=[metadata,metadata+thermal_map]")  # fmt: skip
    record = run_search(cfg).record
    layout = RunLayout.of(tmp_path / "runs", "t")

    assert record["errors"] == []
    assert record["pretrain"] == {"expected": 2, "finished": 2, "ran": 2}  # 2 folds x 1 modality
    assert record["trials"] == {"expected": 4, "finished": 4, "ran": 4}
    assert record["ray"]["how"] == "existing" and record["ray"]["concurrent_trials"] == 2
    results = pd.read_csv(layout.results)
    # One row per fold x combination, plus the ensemble of the metadata combinations per fold.
    assert sorted(zip(results["fold"], results["combo"], strict=True)) == [
        (0, "ensemble(metadata+*)"), (0, "metadata"), (0, "metadata+thermal_map"),
        (1, "ensemble(metadata+*)"), (1, "metadata"), (1, "metadata+thermal_map")]  # fmt: skip
    assert len(pd.read_csv(layout.summary)) == 3
    for name in ("config.yaml", "folds.csv", "data_summary.json", "search.json", "report.html",
                 "bundle"):  # fmt: skip
        assert (layout.root / name).exists(), name

    for fold in (0, 1):
        fusion = json.loads((layout.trial(fold, ("metadata", "thermal_map")) / "trial.json").read_text())
        sizing = fusion["sizing"]
        row = results[(results["fold"] == fold) & (results["combo"] == "metadata+thermal_map")].iloc[0]
        assert (row["batch_size"], row["steps_per_epoch"]) == (sizing["batch_size"], sizing["steps"]["train"])
        assert all(s["steps_per_epoch"] == sizing["steps"]["train"] for s in fusion["stages"])
        assert set(fusion["pretrain"]) == {"thermal_map"}  # loaded from phase 1, not retrained
        assert {"node_id", "hostname", "pid", "tune_trial_id", "train_run"} <= set(fusion["ray"])
        folder = layout.trial(fold, ("metadata", "thermal_map"))
        assert list((folder / "tensorboard").rglob("events.out.*"))
        assert (folder / "model.weights.h5").is_file()  # what dfu.bundle packs
        # Every test image set scored exactly once, the same rows as the metadata-only trial.
        fused = pd.read_parquet(layout.trial(fold, ("metadata", "thermal_map")) / "predictions.parquet")
        alone = pd.read_parquet(layout.trial(fold, ("metadata",)) / "predictions.parquet")
        assert len(fused) == sizing["rows"]["test"] and fused["set_id"].is_unique
        assert sorted(fused["set_id"]) == sorted(alone["set_id"])
        branch = json.loads((layout.branch(fold, "thermal_map") / "record.json").read_text())
        assert branch["record"]["steps_per_epoch"] == sizing["steps"]["train"]

    out = capsys.readouterr().out
    assert "[pretrain" in out and "2/2 done" in out and "4/4 done" in out

    # Trials and pre-trainings must not be touched (report and ensemble are re-derived).
    before = {**mtimes(layout.root / "trials", "trial.json"), **mtimes(layout.root / "branches", "record.json")}
    again = run_search(cfg).record
    assert again["trials"] == {"expected": 4, "finished": 4, "ran": 0}
    assert again["pretrain"] == {"expected": 2, "finished": 2, "ran": 0}
    assert again["ray"] is None  # nothing pending: Ray not even used
    assert again["history"][0]["trials"]["ran"] == 4  # how the first run went is kept
    assert {**mtimes(layout.root / "trials", "trial.json"),
            **mtimes(layout.root / "branches", "record.json")} == before  # fmt: skip
    pd.testing.assert_frame_equal(pd.read_csv(layout.results), results)
