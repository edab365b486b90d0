"""The data entrypoints as a user runs them: summary and exit 0, or one error line and exit 2.

Two runs go through a real subprocess (the user's path, tracebacks would show); the other
error cases call ``main`` in-process, which is the same code minus interpreter start-up.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dfu.config import DataConfig
from dfu.data.zivot import read_zivot
from jobs import build_cache, validate_data
from tests.helpers.datasets import NAMES, Shot, clone, edit_csv, write_dataset
from tests.helpers.paths import REPO


def run(module: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_validate_good_data_prints_summary_and_exits_0(demo_dir_small):
    found = read_zivot(DataConfig(workers=1), demo_dir_small, check_images=False).summary
    done = run("jobs.validate_data", demo_dir_small)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"image sets   {found['image_sets']}" in out
    assert f"patients     {found['patients']}" in out
    for reason, skipped in found["skips"].items():
        assert f"\n  {reason:25s} {skipped['count']}\n" in out
    assert "thermal_map" in out and "Traceback" not in done.stderr


def test_validate_reports_every_planted_quirk_with_its_count(demo_dir_small, capsys):
    """The demo plants the clinic's quirks; validate_data reports each with its count."""
    planted = json.loads((demo_dir_small / "_oracle" / "summary.json").read_text())["planted"]
    assert validate_data.main([str(demo_dir_small), "data.workers=1"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for reason, n in planted["skips"].items():  # skipped and counted
        assert (f"  {reason:25s} {n}" in lines) == (n > 0), (reason, n)
    for kind, n in planted["accepted"].items():  # read as is, counted
        assert any(line.startswith(f"  {kind:25s} {n} (") for line in lines) == (n > 0), kind
    maps, cost = planted["depth_maps"], planted["missing_map_cost"]
    assert (
        f"maps of depth frames: {maps['frames']} frames, {maps['same_name']} same name, "
        f"0 same token only, {maps['none']} none ({maps['none_zoomed']} zoomed)"
    ) in lines
    (line,) = [line for line in lines if line.startswith("depth frames without a map cost")]
    assert f" cost {cost['image_sets']} image sets (" in line
    assert f" and {cost['assessments']} assessments " in line
    assert f"ok: {planted['image_sets']} image sets" in out


def test_validate_bad_cell_exits_2_with_one_error_line(demo_dir_small, tmp_path):
    root = clone(demo_dir_small, tmp_path / "d")
    edit_csv(root / NAMES.metadata_csv, 3, "Age", "abc")
    done = run("jobs.validate_data", root)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1
    assert (
        f"{NAMES.metadata_csv}, line 3, column 'Age': expected a number, got 'abc'" in done.stderr
    )


@pytest.mark.parametrize(
    "damage, words",
    [
        ("folder", "Thermal_RGB"),
        ("override", "data.image_size"),
        ("config", "none.yaml"),
        ("override after config", "data.image_size"),
    ],
)
def test_validate_other_errors_exit_2(demo_dir_small, tmp_path, capsys, damage, words):
    root = clone(demo_dir_small, tmp_path / "d")
    args = [str(root)]
    if damage == "folder":
        (root / "Thermal_RGB").unlink()
    elif damage == "override":
        args.append("data.image_size=3")
    elif damage == "config":
        args += ["--config", str(tmp_path / "none.yaml")]
    else:  # overrides may follow options (argparse alone would reject them as unrecognized)
        (tmp_path / "c.yaml").write_text("data: {workers: 1}\n")
        args += ["--config", str(tmp_path / "c.yaml"), "data.image_size=3"]
    assert validate_data.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err


def test_build_cache_prints_path_size_and_time(tmp_path):
    shots = [
        Shot("1_P001001BDMW.png", {1: (2, 3, 20, 25)}),
        Shot("2_P001001BTMW.png", {1: (4, 5, 30, 40)}),
    ]
    root = write_dataset(tmp_path / "data", shots)
    args = (root, f"data.cache_dir={tmp_path / 'cache'}", "data.image_size=16", "data.workers=1")
    done = run("jobs.build_cache", *args)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.splitlines()[0])
    assert path.parent == tmp_path / "cache" and (path / "image_sets.parquet").is_file()
    assert " MB, " in done.stdout and "cache: 1/1 image sets (100%)" in done.stderr


def test_build_cache_on_missing_folder_exits_2(tmp_path, capsys):
    assert build_cache.main([str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'missing'}")
