import json
import re

import pandas as pd
import pytest
from conftest_run import SYNTHETIC_COMBOS, synthetic_run

from dfu.ensemble import ENSEMBLE
from dfu.report import write_report
from dfu.report_html import plain_name
from jobs.cli import guarded
from jobs.report import main as report_main

PLANTED = {(1, "metadata+thermal_map", "stage1"): ["collapsed"]}


@pytest.fixture(scope="module")
def report(demo_dir_small, tmp_path_factory):
    """(run layout, report.html text, summary.json) of a synthetic run with one planted verdict."""
    layout = synthetic_run(tmp_path_factory.mktemp("report_run"), demo_dir_small, plant=PLANTED)
    path = write_report(layout.root, n_boot=300)
    return layout, path.read_text(), json.loads((layout.root / "summary.json").read_text())


def table(html: str, table_id: str) -> str:
    return re.search(rf"<table id='{table_id}'>.*?</table>", html, re.S).group(0)


def test_every_combination_and_the_ensemble_is_ranked(report):
    _, html, summary = report
    ranking = table(html, "ranking-table")
    names = [c["combo"] for c in summary["combinations"]]
    assert sorted(names) == sorted([*SYNTHETIC_COMBOS, ENSEMBLE])
    for name in names:
        assert f"<span class='name'>{name}</span>" in ranking
        assert plain_name(name) in ranking
    assert ranking.count("<tr") == len(names) + 1  # header + one row each
    means = [c["fold_mean"]["kappa"] for c in summary["combinations"]]
    assert means == sorted(means, reverse=True) and summary["best"] == names[0]


def test_planted_verdict_is_highlighted_in_the_health_table(report):
    _, html, summary = report
    health = table(html, "health-table")
    flagged = re.findall(r"<tr class='flag'>(.*?)</tr>", health, re.S)
    assert len(flagged) == 1 and summary["health"]["flagged"] == 1
    row = flagged[0]
    assert "metadata+thermal_map" in row and ">collapsed<" in row and ">1<" in row
    assert "1 of" in summary["headline"] and "flagged" in summary["headline"]
    ranking_row = next(c for c in summary["combinations"] if c["combo"] == "metadata+thermal_map")
    assert ranking_row["verdict"] == "collapsed"


def test_numbers_are_consistent(report):
    _, _, summary = report
    for c in summary["combinations"]:
        for level in ("assessment", "image_set"):
            for score in ("kappa", "qwk", "accuracy", "f1_macro", "f1_I", "f1_P", "f1_R"):
                e = c[level][score]
                assert e["low"] <= e["value"] <= e["high"], (c["combo"], level, score)
        best = summary["combinations"][0]["assessment"]["kappa"]["value"]
        assert c["vs_best"]["value"] == pytest.approx(c["assessment"]["kappa"]["value"] - best,
                                                      abs=1e-5)  # fmt: skip
        assert 0 < c["oracle_fraction"] < 1.5  # the demo root has an _oracle/ folder
        assert sum(map(sum, c["confusion"])) == c["assessments"]
    assert summary["reference"] == "metadata"
    assert summary["bootstrap"]["unit"] == "patient"


def test_results_and_summary_tables_include_the_ensemble(report):
    layout, _, _ = report
    results = pd.read_csv(layout.results)
    assert set(results["combo"]) == {*SYNTHETIC_COMBOS, ENSEMBLE}
    assert len(results) == 2 * (len(SYNTHETIC_COMBOS) + 1)
    ensemble = results[results["combo"] == ENSEMBLE]
    assert set(ensemble["verdict"]) == {"collapsed", "ok"}  # worst of its members, per fold
    assert ENSEMBLE in set(pd.read_csv(layout.summary)["combo"])


def test_page_is_self_contained_with_its_figures(report):
    layout, html, summary = report
    images = re.findall(r"<img alt='[^']*' src='data:image/png;base64,([A-Za-z0-9+/=]+)'>", html)
    # kappa chart, confusion matrices, pre-training curves, 3 image combinations' curves
    assert len(images) == 6 and all(len(b) > 1000 for b in images)
    assert "http" not in html.replace("http://localhost:6006", "")  # nothing fetched
    assert f"--logdir {layout.root} --host 127.0.0.1" in html
    takeaway = re.search(r"<div class='takeaway[^']*'>(.*?)</div>", html, re.S).group(1)
    text = re.sub(r"<[^>]+>", " ", takeaway).replace("&#x27;", "'")
    assert " ".join(text.split()) == summary["headline"]  # the summary, sentence for sentence
    for anchor in ("comparison-table", "image-set-table", "fold-table", "data-table"):
        assert f"id='{anchor}'" in html


def test_report_cli_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert guarded(lambda: report_main([str(tmp_path)])) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {tmp_path}: not a run directory (no config.yaml)"
    ]


def test_report_cli_prints_the_summary(report, capsys):
    layout, _, summary = report
    assert guarded(lambda: report_main([str(layout.root), "--resamples", "200"])) == 0
    out = capsys.readouterr().out
    assert out.startswith("The best combination is") and "report.html" in out
