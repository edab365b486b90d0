import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dfu.evaluation.ensemble import ENSEMBLE
from dfu.evaluation.results import worst_verdict
from dfu.report.html import plain_name
from dfu.report.write import write_report
from dfu.store.records import read_json
from jobs.cli import guarded
from jobs.report import main as report_main
from tests.helpers.run_dirs import SYNTHETIC_COMBOS, synthetic_run

PLANTED = {(1, "metadata+thermal_map", "stage1"): ["collapsed"]}
ROOT = Path(__file__).resolve().parents[2]
BASELINES = ["linear(depth_rgb)", "linear(thermal_map)"]  # the image modalities of the run


@pytest.fixture(scope="module")
def report(demo_dir_small, tmp_path_factory):
    """(run layout, report.html text, summary.json) of a synthetic run with one planted verdict."""
    layout = synthetic_run(tmp_path_factory.mktemp("report_run"), demo_dir_small, plant=PLANTED)
    path = write_report(layout.root, n_boot=300)
    return layout, path.read_text(), json.loads((layout.root / "summary.json").read_text())


def table(html: str, table_id: str) -> str:
    return re.search(rf"<table id='{table_id}'>.*?</table>", html, re.S).group(0)


def rows(html: str, table_id: str) -> list[str]:
    return re.findall(r"<tr[^>]*>.*?</tr>", table(html, table_id).split("<tbody>")[1], re.S)


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&#x27;", "'").split())


def test_every_combination_and_the_ensemble_is_ranked(report):
    _, html, summary = report
    ranking = table(html, "ranking-table")
    names = [c["combo"] for c in summary["combinations"]]
    assert sorted(names) == sorted([*SYNTHETIC_COMBOS, ENSEMBLE])
    assert [b["combo"] for b in summary["baselines"]] == BASELINES
    for name in [*names, *BASELINES]:
        assert f"<span class='name'>{name}</span>" in ranking
        assert plain_name(name) in ranking
    assert len(rows(html, "ranking-table")) == len(names) + len(BASELINES)
    means = [c["fold_mean"]["kappa"] for c in summary["combinations"]]
    assert means == sorted(means, reverse=True) and summary["best"] == names[0]
    assert "Ranking by test κ (best-of-N: optimistic)" in html and "selection bias" in html


def test_a_linear_baseline_sits_beneath_its_network_greyed_and_unranked(report):
    _, html, summary = report
    shown = [
        re.search(r"<span class='name'>([^<]+)</span>", r).group(1)
        for r in rows(html, "ranking-table")
    ]
    # the network on thermal_map alone, then its baseline; depth_rgb ran only in combinations
    assert shown[shown.index("thermal_map") + 1] == "linear(thermal_map)"
    assert shown[-1] == "linear(depth_rgb)"
    for row in rows(html, "ranking-table"):
        if "linear(" in row:
            assert row.startswith("<tr class='baseline'>") and "<td class='text'>–</td>" in row
            assert "linear baseline" in row and "16 px copies (downscaled from 64 px)" in row
    assert all(b["rank"] is None for b in summary["baselines"])


def test_each_row_says_how_many_assessments_it_is_scored_on(report):
    _, html, summary = report
    for c, row in zip(summary["combinations"], rows(html, "ranking-table"), strict=False):
        assert f"<td>{c['assessments']}<br><span class='ci'>{c['patients']} patients" in row
        if c["vs_best"]:
            assert c["vs_best"]["n"] == c["assessments"]  # a complete run: all of them
    n = summary["combinations"][0]["assessments"]
    assert f"on {n} assessments" in table(html, "comparison-table")


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
        assert c["vs_best"]["value"] == pytest.approx(
            c["assessment"]["kappa"]["value"] - best, abs=1e-5
        )
        assert 0 < c["oracle_fraction"] < 1.5  # the demo root has an _oracle/ folder
        assert sum(map(sum, c["confusion"])) == c["assessments"]
    assert summary["reference"] == "metadata"
    assert summary["bootstrap"]["unit"] == "patient"


def test_the_headline_is_the_score_of_choosing_on_inner_validation(report):
    layout, html, summary = report
    selection = summary["selection"]
    assert selection["candidates"] == SYNTHETIC_COMBOS  # never the ensemble or a baseline
    for choice in selection["folds"]:  # the best inner-validation kappa of its fold
        val = {
            c: read_json(layout.trial(choice["fold"], (c,)) / "trial.json")["val"]
            for c in SYNTHETIC_COMBOS
        }
        best = max(val, key=lambda c: val[c]["assessment"]["kappa"])
        assert choice["combo"] == best
        assert choice["val_kappa"] == pytest.approx(val[best]["assessment"]["kappa"], abs=1e-6)
    k = selection["kappa"]
    everyone = summary["combinations"][0]["assessments"]
    assert k["low"] <= k["value"] <= k["high"] and selection["assessments"] == everyone
    assert selection["best_of_n"]["n"] == 4
    assert summary["headline"].startswith("Choosing the combination on inner validation")
    chosen = ", ".join(f"{c} ({n})" for c, n in selection["chosen"].items())
    assert f"kappa {k['value']:.2f}" in summary["headline"], chosen
    for name in selection["chosen"]:
        assert f"({name}) in " in summary["headline"]
    section = text(re.search(r"<section id='selection'>.*?</section>", html, re.S).group(0))
    assert "never inflate it" in section and "optimistic" in section
    assert len(rows(html, "selection-table")) == 2


def test_results_and_summary_tables_include_the_ensemble(report):
    layout, _, _ = report
    results = pd.read_csv(layout.results)
    assert set(results["combo"]) == {*SYNTHETIC_COMBOS, ENSEMBLE, *BASELINES}
    assert len(results) == 2 * (len(SYNTHETIC_COMBOS) + 1 + len(BASELINES))
    assert results.loc[results["combo"] != ENSEMBLE, "val_kappa"].notna().all()
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
    assert text(takeaway) == summary["headline"]  # the summary, sentence for sentence
    for anchor in (
        "comparison-table",
        "image-set-table",
        "fold-table",
        "data-table",
        "selection-table",
        "baseline-table",
        "skip-table",
        "val-table",
    ):
        assert f"id='{anchor}'" in html
    data = text(table(html, "data-table"))
    assert "Zoom cost" in data and "3 image sets" in data and "1 assessments" in data


def test_report_cli_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert guarded(lambda: report_main([str(tmp_path)])) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {tmp_path}: not a run directory (no config.yaml)"
    ]


def test_report_cli_prints_the_summary(report, capsys):
    layout, _, summary = report
    assert guarded(lambda: report_main([str(layout.root), "--resamples", "200"])) == 0
    out = capsys.readouterr().out
    assert out.startswith("Choosing the combination on inner validation") and "report.html" in out


@pytest.fixture(scope="module")
def weak_network(demo_dir_small, tmp_path_factory):
    """A run whose thermal_map network is pure noise while its linear baseline is sharp."""
    strength = {"thermal_map": 0.0, "linear(thermal_map)": 3.0}
    layout = synthetic_run(tmp_path_factory.mktemp("weak_run"), demo_dir_small, strength=strength)
    write_report(layout.root, n_boot=200)
    return (
        layout,
        (layout.root / "report.html").read_text(),
        json.loads((layout.root / "summary.json").read_text()),
    )


def test_a_network_that_does_not_beat_its_linear_baseline_is_named(weak_network):
    _, html, summary = weak_network
    row = next(b for b in summary["network_vs_linear"] if b["modality"] == "thermal_map")
    d = row["network_minus_linear"]
    everyone = summary["combinations"][0]["assessments"]
    assert d["value"] < 0 and d["n"] == everyone and row["downscaled"]
    cnn, linear = row["network_kappa"], row["kappa"]
    assert (
        f"The network on thermal map (thermal_map) does not beat a linear model on the "
        f"same pixels (kappa {cnn:.2f} vs {linear:.2f})"
    ) in summary["headline"]
    baseline = text(table(html, "baseline-table"))
    assert "thermal map (thermal_map)" in baseline and "downscaled from 64 px" in baseline
    assert "depth photo (depth_rgb)" in baseline and "no network on it alone" in baseline
    assert "<div class='takeaway warn'>" in html


def test_below_baseline_is_a_verdict_between_no_learning_and_overfit():
    def stage(*verdicts):
        return {"stages": [{"verdicts": list(verdicts)}]}

    assert worst_verdict(stage("overfit", "below-baseline")) == "below-baseline"
    assert worst_verdict(stage("below-baseline", "no-learning")) == "no-learning"


def test_the_resamples_seed_and_level_come_from_the_runs_report_config(
    demo_dir_small, tmp_path_factory
):
    from dfu.config import load_config

    layout = synthetic_run(tmp_path_factory.mktemp("level_run"), demo_dir_small)
    cfg = load_config(layout.config).replace("report.level=0.9", "report.resamples=150")
    cfg.save(layout.config)
    page = write_report(layout.root).read_text()
    assert "[90% CI]" in page and "95%" not in page
    bootstrap = read_json(layout.report_summary)["bootstrap"]
    assert (bootstrap["resamples"], bootstrap["level"], bootstrap["seed"]) == (150, 0.9, 0)


def test_a_search_loads_matplotlib_only_to_draw_the_report():
    """Every search process (the driver, each Ray trial) would otherwise carry pyplot's
    ~25 MiB through the whole search."""
    code = (
        "import sys, jobs.cv_search, cluster.search, cluster.trial, dfu.runs.local; "
        "from dfu.report import plots; assert 'matplotlib' not in sys.modules; "
        "bar = dict(label='metadata', value=0.3, low=0.2, high=0.4, folds=[0.3], oracle=None, "
        "role='best'); assert plots.kappa_chart([bar]); "
        "assert 'matplotlib.pyplot' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
