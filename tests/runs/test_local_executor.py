"""The in-process executor through its command line: the search's plan, no Ray, same files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd

from dfu.constants import PROBA_COLUMNS
from dfu.store.layout import RunLayout


def test_local_executor_cli_writes_every_unit_like_the_ray_search(
    demo_dir_medium, tiny_config, tmp_path
):
    """``cv_search --executor local``: the search's plan in one process, no Ray, same files."""
    cfg_file = tiny_config.save(tmp_path / "config.yaml")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs.cv_search",
            "--data",
            str(demo_dir_medium),
            "--executor",
            "local",
            "--name",
            "l",
            "--storage",
            str(tmp_path / "runs"),
            "--config",
            str(cfg_file),
            "search.folds=[0]",
            "search.combinations=[metadata,metadata+thermal_map]",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "ray:" not in done.stdout  # Ray was never started
    layout = RunLayout.of(tmp_path / "runs", "l")
    trial = json.loads((layout.trial(0, "metadata+thermal_map") / "trial.json").read_text())
    predictions = pd.read_parquet(layout.trial(0, "metadata+thermal_map") / "predictions.parquet")
    assert trial["combo"] == "metadata+thermal_map" and trial["fold"] == 0
    assert set(trial["verdicts"]) == {"pretrain_thermal_map", "stage1", "stage2"}
    sizing = trial["sizing"]
    assert sizing["steps"]["train"] == -(-sizing["rows"]["train"] // sizing["batch_size"])
    assert len(predictions) == sizing["rows"]["test"] == trial["test"]["image_set"]["n"]
    assert trial["val"]["image_set"]["n"] == sizing["rows"]["val"]
    assert np.allclose(predictions[PROBA_COLUMNS].sum(axis=1), 1, atol=1e-5)
    assert (layout.trial(0, "metadata+thermal_map") / "tensorboard" / "stage1").is_dir()
    assert (layout.trial(0, "linear(thermal_map)") / "trial.json").is_file()
    assert layout.fold_metadata_model(0).is_file() and (layout.root / "report.html").is_file()
