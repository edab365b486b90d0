"""The plan both executors share, what "done" means, safe resume, the run lock, the tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dfu.combos import parse_combinations
from dfu.config import ConfigError, load_config
from dfu.evaluation.results import RunError, read_trials, summarise, worst_verdict
from dfu.runs.lock import RunLock
from dfu.runs.plan import Unit, is_done, needs, pending, plan_units
from dfu.runs.resume import check_resumable
from dfu.store.layout import RunLayout
from tests.helpers.paths import TINY_CONFIG


def test_the_plan_has_every_unit_and_its_needs():
    units = plan_units(
        [0, 1], parse_combinations(["metadata", "thermal_map", "metadata+depth_rgb"])
    )
    kinds = {
        k: sorted(u.id for u in units if u.kind == k) for k in ("metadata", "linear", "pretrain")
    }
    assert kinds["metadata"] == ["fold0-metadata", "fold1-metadata"]
    assert len(kinds["linear"]) == len(kinds["pretrain"]) == 4  # 2 folds x 2 image modalities
    assert len([u for u in units if u.kind == "trial"]) == 6
    trial = Unit(1, "trial", "metadata+depth_rgb")
    assert needs(trial) == [Unit(1, "metadata"), Unit(1, "pretrain", "depth_rgb")]
    assert needs(Unit(0, "pretrain", "depth_rgb")) == [Unit(0, "linear", "depth_rgb")]
    position = {u: i for i, u in enumerate(units)}
    assert all(position[n] < position[u] for u in units for n in needs(u))  # needs come first
    assert Unit.of(trial.to_dict()) == trial


def test_done_means_the_last_written_file_parses(tmp_path):
    layout = RunLayout(tmp_path)
    units = plan_units([0], parse_combinations(["thermal_map"]))
    _write(layout.trial(0, "thermal_map") / "trial.json", {"done": 1})
    _write(layout.branch(0, "thermal_map") / "record.json", {"record": {}})
    folder = layout.trial(0, "linear(thermal_map)")
    folder.mkdir(parents=True)
    (folder / "trial.json").write_text('{"cut sh')  # an interrupted write is not done
    assert [u.id for u in pending(layout, units)] == ["fold0-linear-thermal_map"]
    assert is_done(layout, Unit(0, "trial", "thermal_map"))


def test_resume_refuses_changed_science_but_allows_search_changes(tmp_path):
    layout = RunLayout(tmp_path / "run")
    cfg = load_config(overrides=["data.image_size=32"])
    now = _fingerprint(["a#1", "b#1"], [1, 2])
    check_resumable(layout, cfg, now)  # new run: nothing to compare
    cfg.save(layout.config)
    _write(layout.fingerprint, now)
    check_resumable(
        layout, cfg.replace("search.combinations=all", "search.max_concurrent_trials=1"), now
    )
    with pytest.raises(ConfigError, match="data.image_size: run .* was made with 32"):
        check_resumable(layout, cfg.replace("data.image_size=64"), now)


def test_resume_refuses_other_data_saying_what_changed(tmp_path):
    layout = RunLayout(tmp_path / "run")
    cfg = load_config()
    cfg.save(layout.config)
    _write(layout.fingerprint, _fingerprint(["a#1", "b#1", "c#1"], [1, 2]))
    more = _fingerprint(["a#1", "b#1", "d#1", "e#1"], [1, 2, 3], key="other")
    with pytest.raises(
        RunError,
        match="2 image sets added, 1 image sets removed, 1 patients added; use a new --name",
    ):
        check_resumable(layout, cfg, more)
    refolded = {**_fingerprint(["a#1", "b#1", "c#1"], [1, 2]), "folds_sha256": "changed"}
    with pytest.raises(RunError, match="folds.csv changed"):
        check_resumable(layout, cfg, refolded)


def test_one_driver_per_run_and_a_dead_drivers_lock_is_taken_over(tmp_path):
    path = tmp_path / "run" / ".lock"
    with RunLock(path):
        with pytest.raises(RunError, match=f"in use by pid {os.getpid()} on this host"):
            RunLock(path).acquire()
    assert not path.exists()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    host = json.loads(_lock_text(path, int(dead)))["host"]
    with RunLock(path):  # the dead driver's lock: taken over
        assert json.loads(path.read_text())["pid"] == os.getpid()
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "since": "then"}))
    with pytest.raises(RunError, match=f"host elsewhere .* delete {path}"):
        RunLock(path).acquire()
    assert host  # the helper wrote a real lock


def test_results_tables_rank_combinations_and_judge_by_the_stages_that_shaped_the_model(tmp_path):
    layout = RunLayout(tmp_path)
    for fold, kappa in ((0, 0.2), (1, 0.4)):
        _write(
            layout.trial(fold, "metadata+thermal_map") / "trial.json",
            _summary(fold, "metadata+thermal_map", kappa, stage2=["collapsed"], kept=False),
        )
        _write(layout.trial(fold, "metadata") / "trial.json", _summary(fold, "metadata", 0.1))
    _write(
        layout.trial(1, "thermal_map") / "trial.json",
        _summary(1, "thermal_map", 0.5, stage1=["overfit", "no-learning"]),
    )
    results = read_trials(layout, folds=[0, 1], combos=["metadata", "metadata+thermal_map"])
    summary = summarise(results)
    assert len(results) == 4 and set(results["combo"]) == {"metadata", "metadata+thermal_map"}
    best = summary.iloc[0]
    assert best["combo"] == "metadata+thermal_map" and best["folds"] == 2
    assert best["kappa_mean"] == pytest.approx(0.3) and best["kappa_sd"] == pytest.approx(
        np.std([0.2, 0.4], ddof=1)
    )
    assert best["verdict"] == "ok"  # the reverted stage 2's collapse did not shape the model
    assert summary.set_index("combo").loc["metadata", "verdict"] == "-"
    assert worst_verdict(_summary(1, "x", 0, stage1=["overfit", "no-learning"])) == "no-learning"
    assert summarise(read_trials(layout)).iloc[0]["combo"] == "thermal_map"
    assert isinstance(results, pd.DataFrame)


def _fingerprint(sets, patients, key="k") -> dict:
    return {"cache_key": key, "folds_sha256": "f", "image_sets": sets, "patients": patients}


def _lock_text(path: Path, pid: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"host": os.uname().nodename, "pid": pid, "since": "earlier"})
    path.write_text(text)
    return text


def _summary(fold, combo, kappa, *, stage1=("ok",), stage2=("ok",), kept=True) -> dict:
    metrics = {
        "kappa": kappa,
        "qwk": kappa,
        "accuracy": 0.5,
        "f1_macro": 0.4,
        "f1_weighted": 0.4,
        "f1_I": 0.3,
        "f1_P": 0.5,
        "f1_R": 0.4,
        "n": 10,
    }
    stages = (
        []
        if combo == "metadata"
        else [
            {"stage": "stage1", "verdicts": list(stage1), "kept": True},
            {"stage": "stage2", "verdicts": list(stage2), "kept": kept},
        ]
    )
    scores = {"assessment": metrics, "image_set": metrics}
    return {
        "fold": fold,
        "combo": combo,
        "test": scores,
        "val": scores,
        "sizing": {"batch_size": 32, "steps": {"train": 4}},
        "stages": stages,
        "pretrain": {},
        "seconds": 10.0,
    }


def _write(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def test_a_failed_bundle_fails_the_search_after_saving_the_rest_and_a_rerun_redoes_only_it(
    demo_dir_medium, tmp_path, monkeypatch
):
    import dfu.runs.bundle
    from dfu.runs.local import execute_local
    from dfu.runs.run import search

    cfg = load_config(
        TINY_CONFIG,
        [
            f"data.root={demo_dir_medium}",
            f"data.cache_dir={tmp_path / 'c'}",
            "search.combinations=[metadata]",
            f"search.storage={tmp_path}",
            "search.name=r",
        ],
    )

    def execute(run):
        return execute_local(run, write=lambda _: None), {}

    def disk_full(*args, **kwargs):
        raise OSError("no space left on device")

    real = dfu.runs.bundle.save_bundle
    monkeypatch.setattr(dfu.runs.bundle, "save_bundle", disk_full)
    first = search(cfg, execute)
    layout = first.layout
    assert first.failed and first.record["errors"] == ["bundle: OSError: no space left on device"]
    assert layout.results.exists() and (layout.root / "report.html").exists()  # the rest is saved
    assert not (layout.root / "bundle").exists()
    monkeypatch.setattr(dfu.runs.bundle, "save_bundle", real)
    again = search(cfg, execute)
    assert not again.failed and (layout.root / "bundle" / "bundle.json").exists()
    assert all(u["ran"] == 0 for u in again.record["units"].values())  # no unit was redone


def test_resume_allows_report_changes_and_reads_keys_an_older_run_lacks_as_defaults(tmp_path):
    layout = RunLayout(tmp_path / "run")
    cfg = load_config()
    now = _fingerprint(["a#1"], [1])
    saved = cfg.to_dict()
    del (
        saved["report"],
        saved["training"]["collapse_fraction"],
        saved["model"]["batchnorm_momentum"],
    )
    layout.root.mkdir(parents=True)
    layout.config.write_text(yaml.safe_dump(saved, sort_keys=False))  # made before these keys
    _write(layout.fingerprint, now)
    check_resumable(layout, cfg, now)  # the defaults: what that version computed
    check_resumable(layout, cfg.replace("report.resamples=500", "report.level=0.9"), now)
    with pytest.raises(ConfigError, match="training.collapse_fraction: run .* was made with 0.98"):
        check_resumable(layout, cfg.replace("training.collapse_fraction=0.9"), now)
