"""The report of a real (tiny) run, rendered by headless Chromium as a reader would see it."""

import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from dfu.combos import baseline_name
from dfu.evaluation.ensemble import ENSEMBLE
from dfu.report.write import write_report
from tests.helpers.browser import CHROMIUM, FLAGS, needs_chromium
from tests.helpers.run_dirs import trained_run

COMBOS = ["metadata", "thermal_map", "metadata+thermal_map"]
pytestmark = [pytest.mark.slow, needs_chromium(": renders report.html headless")]


@pytest.fixture(scope="module")
def report(demo_dir_medium, tmp_path_factory):
    layout = trained_run(tmp_path_factory.mktemp("trained_run"), demo_dir_medium, COMBOS)
    return write_report(layout.root)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_rendered_page_shows_every_table_and_figure(report, tmp_path):
    done = chromium(tmp_path, "--dump-dom", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    ranking = re.search(r'<table id="ranking-table">.*?</table>', dom, re.S).group(0)
    rows = re.findall(r"<tr[^>]*>.*?</tr>", ranking.split("<tbody>")[1], re.S)
    # the ensemble of metadata and metadata+thermal_map, and thermal_map's linear baseline
    assert len(rows) == len(COMBOS) + 2
    for combo in [*COMBOS, ENSEMBLE, baseline_name("thermal_map")]:
        assert f'<span class="name">{combo}</span>' in ranking
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', dom)
    # kappa chart, confusion matrices, pre-training, 2 image combinations' learning curves
    assert len(images) == 5 and all(len(b) > 2000 for b in images)
    for table_id in (
        "comparison-table",
        "image-set-table",
        "health-table",
        "fold-table",
        "data-table",
    ):
        assert f'<table id="{table_id}">' in dom
    assert "What this says" in dom and "tensorboard --logdir" in dom


def test_screenshot_is_not_blank(report, tmp_path):
    shot = tmp_path / "report.png"
    done = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,3000", report.as_uri())
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    image = Image.open(shot).convert("L")
    assert image.size == (1400, 3000)
    # Text, tables and figures: many distinct grey levels, not an empty white page.
    assert len(set(image.getdata())) > 50
