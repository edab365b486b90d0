"""Publishing a run: the report's loader only reads; the publisher writes the ensemble's trial
files; files pickled before the modules moved still load."""

from __future__ import annotations

import sys
import types

import joblib
import numpy as np
import pandas as pd
import pytest

from dfu.evaluation.ensemble import ENSEMBLE
from dfu.models import metadata
from dfu.report.data import load_run
from dfu.runs.bundle import load_model
from dfu.runs.publish import report_run, write_ensemble_files
from dfu.store.layout import PREDICTIONS_FILE, TRIAL_FILE
from dfu.store.records import read_json
from tests.helpers.run_dirs import synthetic_run


def _files(root) -> dict:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_loading_a_run_writes_nothing_and_the_publisher_writes_the_ensemble(
    demo_dir_small, tmp_path
):
    layout = synthetic_run(tmp_path / "run", demo_dir_small)
    before = _files(layout.root)
    data = load_run(layout.root)
    assert _files(layout.root) == before  # a loader only reads
    assert [s["fold"] for s, _ in data.ensemble] == [0, 1]
    assert not layout.ensemble(0).exists()
    write_ensemble_files(layout, data.ensemble)
    for summary, predictions in data.ensemble:
        folder = layout.ensemble(summary["fold"])
        assert read_json(folder / TRIAL_FILE) == summary and summary["combo"] == ENSEMBLE
        pd.testing.assert_frame_equal(pd.read_parquet(folder / PREDICTIONS_FILE), predictions)


def test_reporting_again_writes_the_ensemble_report_and_tables(demo_dir_small, tmp_path):
    layout = synthetic_run(tmp_path / "run", demo_dir_small)
    assert report_run(layout.root, n_boot=100) == layout
    assert (layout.ensemble(1) / TRIAL_FILE).is_file() and layout.report.is_file()
    assert layout.results.is_file() and layout.report_summary.is_file()
    assert read_json(layout.report_summary)["bootstrap"]["resamples"] == 100


def test_a_forest_pickled_under_its_old_module_name_still_loads(tmp_path):
    """Runs and bundles made before dfu.models existed name ``dfu.metadata_model``."""
    model = metadata.MetadataClassifier(["a"], [], n_estimators=3)
    model.fit(pd.DataFrame({"a": np.arange(6.0)}), np.array([0, 1, 2, 0, 1, 2]))
    old = types.ModuleType("dfu.metadata_model")
    old.MetadataClassifier = metadata.MetadataClassifier
    cls, module = metadata.MetadataClassifier, metadata.MetadataClassifier.__module__
    sys.modules["dfu.metadata_model"], cls.__module__ = old, "dfu.metadata_model"
    try:
        joblib.dump(model, tmp_path / "old.joblib")
    finally:
        cls.__module__ = module
        del sys.modules["dfu.metadata_model"]
    assert b"dfu.metadata_model" in (tmp_path / "old.joblib").read_bytes()
    sys.modules.pop("dfu.metadata_model", None)  # as in a fresh process
    with pytest.raises(ModuleNotFoundError):
        joblib.load(tmp_path / "old.joblib")  # what a plain load says
    loaded = load_model(tmp_path / "old.joblib")
    assert isinstance(loaded, metadata.MetadataClassifier)
    np.testing.assert_allclose(
        loaded.predict_proba(pd.DataFrame({"a": [1.0]})),
        model.predict_proba(pd.DataFrame({"a": [1.0]})),
    )
