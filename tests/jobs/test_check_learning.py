"""jobs.check_learning on data without an oracle: the kappas alone, never a traceback.

Only the demo generator writes ``_oracle/``; a real clinic's data (or any copy without it)
must still get its learning check.
"""

import json
import subprocess
import sys

from tests.helpers.datasets import clone
from tests.helpers.paths import REPO, TINY_CONFIG


def test_data_without_an_oracle_get_kappas_without_the_oracle_column(demo_dir_medium, tmp_path):
    data = tmp_path / "no_oracle"
    clone(demo_dir_medium, data)
    (data / "_oracle").unlink()  # clone symlinks folders: drop the link, keep the demo's
    out = tmp_path / "check.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs.check_learning",
            "--data",
            str(data),
            "--out",
            str(out),
            "--storage",
            str(tmp_path / "runs"),
            "--config",
            str(TINY_CONFIG),
            f"data.cache_dir={tmp_path / 'cache'}",
            "search.combinations=[metadata]",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert f"no oracle in {data} (only demo data have one): kappas alone" in done.stdout
    header = next(
        line for line in done.stdout.splitlines() if "kappa" in line and "seconds" in line
    )
    assert "oracle" not in header
    result = json.loads(out.read_text())
    assert [r["oracle_kappa"] for r in result["rows"]] == [None, None]  # 2 folds of metadata
    assert [m["combo"] for m in result["mean"]] == ["metadata"]
