"""Bad input at every job, as a user types it: exit 2, one ``error: ...`` line naming the
problem, never a traceback. Each case fails before any training (tiny demo, fast).

Argument errors are argparse's (its usage lines, then one error line); everything else goes
through ``jobs.cli``'s guard: one ``error: ...`` line, the last on stderr (progress lines,
e.g. the cache's, may come before it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dfu.config import load_config
from tests.helpers.paths import REPO

CACHE = "data.cache_dir={tmp}/cache"
LOCAL_SEARCH = [
    "jobs.cv_search",
    "--data",
    "{demo}",
    "--executor",
    "local",
    "--storage",
    "{tmp}/runs",
]


def case(name, args, words, usage=False, marks=()):
    """``args``: the job's module and arguments ({demo}, {tmp} filled in); ``words``: what the
    error line must say; ``usage``: an argparse error (usage lines before the error line)."""
    return pytest.param(args, words, usage, id=name, marks=marks)


CASES = [
    case(
        "validate_data: no such folder",
        ["jobs.validate_data", "/nonexistent/zivot"],
        "/nonexistent/zivot: dataset folder not found",
    ),
    case(
        "validate_data: mistyped override",
        ["jobs.validate_data", "{demo}", "data.image_size=abc"],
        "data.image_size: expected int, got 'abc'",
    ),
    case(
        "build_cache: no such config file",
        ["jobs.build_cache", "{demo}", "--config", "{tmp}/none.yaml", CACHE],
        "{tmp}/none.yaml",
    ),
    case(
        "build_cache: config is not YAML",
        ["jobs.build_cache", "{demo}", "--config", "{tmp}/bad.yaml", CACHE],
        "{tmp}/bad.yaml, line 2, column 1: not valid YAML",
    ),
    case(
        "make_demo_data: patients not a number",
        ["jobs.make_demo_data", "--out", "{tmp}/d", "--patients", "abc"],
        "argument --patients: invalid int value: 'abc'",
        usage=True,
    ),
    case(
        "make_demo_data: no patients",
        ["jobs.make_demo_data", "--out", "{tmp}/d", "--patients", "0"],
        "--patients must be at least 2",
        usage=True,
    ),
    case(
        "cv_search local: unknown modality",
        [
            *LOCAL_SEARCH,
            "search.combinations=[metadata+foo]",
        ],
        "unknown modality foo",
    ),
    case(
        "cv_search local: fold not in the folds",
        [
            *LOCAL_SEARCH,
            "search.folds=[7]",
            "folds.n_folds=2",
            CACHE,
        ],
        "search.folds: fold [7] outside 0..1",
    ),
    case(
        "report: not a run", ["jobs.report", "{tmp}"], "{tmp}: not a run directory (no config.yaml)"
    ),
    case(
        "report: nothing finished",
        ["jobs.report", "{tmp}/empty_run"],
        "{tmp}/empty_run: no finished trial",
    ),
    case(
        "report: no resamples",
        ["jobs.report", "{tmp}/empty_run", "--resamples", "0"],
        "--resamples must be at least 1",
        usage=True,
    ),
    case(
        "predict: not a bundle",
        ["jobs.predict", "--bundle", "{tmp}", "--data", "{demo}", "--out", "{tmp}/p.csv"],
        "{tmp}: not a bundle",
    ),
    case(
        "predict: damaged bundle.json",
        [
            "jobs.predict",
            "--bundle",
            "{tmp}/bad_bundle",
            "--data",
            "{demo}",
            "--out",
            "{tmp}/p.csv",
        ],
        "{tmp}/bad_bundle/bundle.json: not a valid bundle",
    ),
    case(
        "check_learning: no such folder",
        ["jobs.check_learning", "--data", "/nonexistent/zivot", "--out", "{tmp}/c.json", CACHE],
        "/nonexistent/zivot: dataset folder not found",
    ),
    case(
        "check_learning: more folds than patients",
        [
            "jobs.check_learning",
            "--data",
            "{demo}",
            "--out",
            "{tmp}/c.json",
            "--storage",
            "{tmp}/runs",
            "folds.n_folds=100",
            CACHE,
        ],
        "cannot fill 100 patient-grouped folds",
    ),
    case(
        "cv_search: no such folder",
        [
            "jobs.cv_search",
            "--data",
            "/nonexistent/zivot",
            "--name",
            "b",
            "--storage",
            "{tmp}/runs",
            CACHE,
        ],
        "/nonexistent/zivot: dataset folder not found",
    ),
    case(
        "cv_search: more folds than patients",
        [
            "jobs.cv_search",
            "--data",
            "{demo}",
            "--name",
            "c",
            "--storage",
            "{tmp}/runs",
            "folds.n_folds=100",
            CACHE,
        ],
        "cannot fill 100 patient-grouped folds",
    ),
]


@pytest.fixture
def places(tmp_path, demo_dir_small) -> dict:
    """The {placeholders} of the cases, and the broken files some of them point at."""
    load_config().save(tmp_path / "empty_run" / "config.yaml")  # a run, nothing finished
    (tmp_path / "bad.yaml").write_text("data: [unclosed\n")
    (tmp_path / "bad_bundle").mkdir()
    (tmp_path / "bad_bundle" / "bundle.json").write_text("{not json")
    return {"demo": str(demo_dir_small), "tmp": str(tmp_path)}


def job(args: list[str], places: dict) -> subprocess.CompletedProcess:
    filled = [a.format(**places) for a in args]
    return subprocess.run(
        [sys.executable, "-m", *filled], cwd=REPO, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("args, words, usage", CASES)
def test_bad_invocation_exits_2_with_one_error_line(args, words, usage, places):
    done = job(args, places)
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in lines if "error: " in line]
    assert len(errors) == 1 and words.format(**places) in errors[0], lines
    assert lines[-1] == errors[0]  # the last word; before it only progress or usage lines
    if usage:  # argparse: its usage, then "<prog>: error: ..."
        assert lines[0].startswith("usage: ")
    else:
        assert errors[0].startswith("error: ")


@pytest.mark.parametrize(
    "name, overrides",
    [("b", ["--data", "/nonexistent/zivot"]), ("c", ["--data", "{demo}", "folds.n_folds=100"])],
)
def test_a_search_that_cannot_start_leaves_no_claim_on_its_name(name, overrides, places):
    """Else the corrected rerun under the same name is refused (or resumes a broken run)."""
    done = job(
        ["jobs.cv_search", "--name", name, "--storage", "{tmp}/runs", CACHE, *overrides], places
    )
    assert done.returncode == 2
    assert not (Path(places["tmp"]) / "runs" / name / "config.yaml").exists()
