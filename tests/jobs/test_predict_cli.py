import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from dfu.config import DataConfig
from dfu.constants import CLASSES, PROBA_COLUMNS
from dfu.data.zivot import read_zivot
from dfu.demo import make_demo
from dfu.evaluation.metrics import classification_metrics
from dfu.report.write import write_report
from dfu.runs.bundle import save_bundle
from jobs.cli import guarded
from jobs.predict import main as predict_main
from tests.helpers.datasets import clone
from tests.helpers.run_dirs import metadata_run, trained_run, unlabelled_copy

COLUMNS = ["assessment_id", "patient", "appt", "dfu", *PROBA_COLUMNS, "predicted_phase"]


@pytest.fixture(scope="module")
def bundle(demo_dir_medium, tmp_path_factory):
    layout = metadata_run(tmp_path_factory.mktemp("metadata_run"), demo_dir_medium)
    return save_bundle(layout.root, "metadata", tmp_path_factory.mktemp("b") / "bundle")


def predict(bundle, data, out):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs.predict",
            "--bundle",
            str(bundle),
            "--data",
            str(data),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )


def labelled_assessments(data) -> pd.DataFrame:
    """Assessments with at least one complete image set, and their label."""
    read = read_zivot(DataConfig(workers=1), data, check_images=False)
    return read.assessments[read.assessments["has_images"]].set_index("assessment_id")


def test_unlabelled_data_gets_one_row_per_assessment(bundle, demo_dir_small, tmp_path):
    data = unlabelled_copy(demo_dir_small, tmp_path / "new")  # other patients than the run's
    done = predict(bundle, data, tmp_path / "preds.csv")
    assert done.returncode == 0, done.stderr
    preds = pd.read_csv(tmp_path / "preds.csv")
    assert list(preds.columns) == COLUMNS
    expected = labelled_assessments(demo_dir_small)
    assert sorted(preds["assessment_id"]) == sorted(expected.index)
    proba = preds[PROBA_COLUMNS].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert (preds["predicted_phase"] == np.asarray(CLASSES)[proba.argmax(axis=1)]).all()
    assert f"{len(preds)} assessments predicted with metadata" in done.stdout


def test_missing_modality_folder_exits_2_naming_it(bundle, demo_dir_small, tmp_path, capsys):
    needs_thermal = tmp_path / "bundle"
    subprocess.run(["cp", "-r", str(bundle), str(needs_thermal)], check=True)
    info = json.loads((needs_thermal / "bundle.json").read_text())
    (needs_thermal / "bundle.json").write_text(
        json.dumps({**info, "combo": "metadata+thermal_map"})
    )
    data = clone(demo_dir_small, tmp_path / "data")
    (data / "Thermal_Map_IMG").unlink()
    args = ["--bundle", str(needs_thermal), "--data", str(data), "--out", str(tmp_path / "p.csv")]
    assert guarded(lambda: predict_main(args)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Thermal_Map_IMG" in lines[0] and "thermal_map image folder not found" in lines[0]
    assert not (tmp_path / "p.csv").exists()


def test_not_a_bundle_exits_2(demo_dir_small, tmp_path, capsys):
    args = ["--bundle", str(tmp_path), "--data", str(demo_dir_small), "--out", "p.csv"]
    assert guarded(lambda: predict_main(args)) == 2
    assert "not a bundle" in capsys.readouterr().err


@pytest.mark.slow
def test_new_patients_score_within_the_reports_interval(
    demo_dir_medium, tmp_path_factory, tmp_path
):
    """Fold models averaged on patients none of them saw: as good as cross-validation said."""
    layout = trained_run(
        tmp_path_factory.mktemp("trained_run"),
        demo_dir_medium,
        ["metadata", "thermal_map", "metadata+thermal_map"],
    )
    write_report(layout.root, n_boot=500)
    summary = json.loads((layout.root / "summary.json").read_text())
    combo = "metadata+thermal_map"
    interval = next(c for c in summary["combinations"] if c["combo"] == combo)
    kappa = interval["assessment"]["kappa"]
    path = save_bundle(layout.root, combo, tmp_path / "bundle")
    fresh = tmp_path / "fresh"
    make_demo(fresh, patients=24, seed=11, workers=2)  # new patients
    done = predict(path, unlabelled_copy(fresh, tmp_path / "unlabelled"), tmp_path / "p.csv")
    assert done.returncode == 0, done.stderr
    preds = pd.read_csv(tmp_path / "p.csv").set_index("assessment_id")
    truth = labelled_assessments(fresh)
    assert sorted(preds.index) == sorted(truth.index)
    y = truth.loc[preds.index, "label"].map({c: i for i, c in enumerate(CLASSES)}).to_numpy()
    new = classification_metrics(y, preds[PROBA_COLUMNS].to_numpy())["kappa"]
    assert kappa["low"] <= new <= kappa["high"], (new, kappa)
