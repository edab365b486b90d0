"""The acceptance suite's machinery (``tests/training/test_learning_*.py``): its datasets, one
search in this process, and the bars a run must clear.

Does the protocol learn what the data show? Checked where the truth is known, on three datasets:

- the demo clinic, whose Bayes-optimal answer the generator records (``_oracle/``);
- real handwritten digits drawn into the Zivot layout (``tests.helpers.digits``): a dataset not
  designed for this model, whose metadata is pure noise; flips and turns are off (they change a
  digit);
- the demo with its images shuffled across assessments: images carry no signal.

Each search runs in this process (``dfu.runs.local``), with the demo config's settings and with
the defaults. The issue's bars: a single image modality reaches 0.9 x its linear baseline's
kappa wherever that baseline reaches 0.2 (with the brief demo config, falling short is allowed
only if the report says so); a fusion never scores below its best member by more than 0.03
(asserted with a margin of ``MARGIN`` for run-to-run noise); the demo's all-modality fusion
beats its best member and reaches a fraction of the oracle. Plus leak checks (labels permuted
before anything is fitted stay at chance) and training health.

``make test-acceptance`` (CI) runs the demo config, trimmed in combinations, never in datasets;
``make test-acceptance-full`` runs both settings on every fold and combination (marker
``acceptance_full``). The demo's runs and the controls (digits, shuffled images, permuted
labels) live in two modules, so that ``--dist loadfile`` gives each its own pytest worker and
the two finish together.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dfu.combos import baseline_name, parse_combo
from dfu.config import load_config
from dfu.constants import IMAGE_MODALITIES
from dfu.demo import make_demo
from dfu.report.html import named
from dfu.runs.local import execute_local
from dfu.runs.run import search
from jobs.check_learning import oracle_kappa
from tests.helpers.datasets import shuffled_images_copy
from tests.helpers.digits import write_digits_dataset

# Where a branch may fall below 0.9 x its linear baseline if the report says so (the rule:
# beat a linear model on the same pixels, or say you do not). The demo config trains briefly,
# for speed: on one VM (AMD EPYC) its depth_rgb branch scored 0.234 against its linear 0.271.
SAYS_SO_ALLOWED = {"demo"}
MARGIN = 0.05  # a fusion may fall this far below its best member (the bar: 0.03)
# The demo's fusion must reach this fraction of the oracle's kappa on the same test rows. A
# guard against regressions, not the goal (0.85). Measured with the fusion refitted on
# inner-train + inner-val and the image weights' scale on inner val: metadata+depth_rgb+
# thermal_map 0.77 with the demo config (3 folds; 0.75 before the scale), all five sources 0.82
# with the demo config. ~50 test patients per fold leave a few hundredths of noise.
ORACLE_FRACTION = 0.7
# The goal itself, for all five sources with the defaults on all 5 folds (full scope only):
# measured 0.87 (0.574 of 0.658) once the image weights' scale is fitted on inner val.
GOAL_FRACTION = 0.85
ALL = "metadata+depth_rgb+depth_map+thermal_rgb+thermal_map"
NO_GEOMETRY = [f"data.augment.{m}=[]" for m in IMAGE_MODALITIES]  # digits change when turned
SETTINGS = {"demo": "dfu/configs/demo.yaml", "default": None}
COMBOS = {
    "demo": {
        "ci": ["metadata", "depth_rgb", "thermal_map", "metadata+depth_rgb+thermal_map"],
        "full": [
            "metadata",
            "depth_rgb",
            "depth_map",
            "thermal_rgb",
            "thermal_map",
            "metadata+depth_rgb+thermal_map",
            ALL,
        ],
    },
    # CI: one camera beside its linear baseline, and the fusion with the noise metadata (digits)
    # or with noise images (shuffled), which must learn to weigh the useless input 0.
    "digits": {
        "ci": ["metadata", "depth_rgb", "metadata+depth_rgb"],
        "full": [
            "metadata",
            "depth_rgb",
            "depth_map",
            "thermal_map",
            "metadata+depth_rgb",
            "metadata+depth_rgb+thermal_map",
        ],
    },
    "shuffled": {
        "ci": ["metadata", "metadata+depth_rgb"],
        "full": [
            "metadata",
            "depth_rgb",
            "thermal_map",
            "metadata+depth_rgb",
            "metadata+depth_rgb+thermal_map",
        ],
    },
}
# CI runs the demo config on every dataset; the defaults (~3x the training: 30 min for the demo
# alone on a slow 2-core VM) run in the full scope.
SCOPE_SETTINGS = {"ci": ["demo"], "full": list(SETTINGS)}


def runs(datasets: list[str]) -> list:
    """The searches of ``datasets``: the CI scope (marker ``acceptance``) and the full one."""
    return [
        pytest.param(
            d,
            s,
            scope,
            marks=pytest.mark.acceptance if scope == "ci" else pytest.mark.acceptance_full,
            id=f"{d}-{s}-{scope}",
        )
        for scope in ("ci", "full")
        for d in datasets
        for s in SCOPE_SETTINGS[scope]
    ]


class Datasets(dict):
    """Folders by name; a dataset is written the first time a test on this worker asks for it."""

    def __init__(self, root):
        super().__init__(cache=root / "cache", runs=root / "runs")
        self.root = root

    def __missing__(self, name: str):
        folder = self.root / name
        if name == "demo":
            make_demo(folder)  # the default demo: 60 patients, seed 0
        elif name == "digits":
            write_digits_dataset(folder)
        elif name == "shuffled":
            shuffled_images_copy(self["demo"], folder)
        else:
            raise KeyError(name)
        self[name] = folder
        return folder


def learn(
    datasets: dict, dataset: str, settings: str, combos, name: str, *overrides
) -> pd.DataFrame:
    """One search in this process; per (fold, combination or baseline): test kappa, oracle."""
    extra = NO_GEOMETRY if dataset == "digits" else []
    cfg = load_config(
        SETTINGS[settings],
        [
            f"data.root={datasets[dataset]}",
            f"data.cache_dir={datasets['cache']}",
            *extra,
            f"search.storage={datasets['runs']}",
            f"search.name={name}",
            f"search.combinations={json.dumps(list(combos))}",
            *overrides,
        ],
    )
    outcome = search(cfg, lambda run: (execute_local(run, write=lambda _: None), {}))
    assert not outcome.failed, outcome.record["errors"]
    rows = []
    for folder in outcome.layout.trial_dirs():
        s = json.loads((folder / "trial.json").read_text())
        predictions = pd.read_parquet(folder / "predictions.parquet")
        rows.append(
            {
                "fold": s["fold"],
                "combo": s["combo"],
                "kappa": s["test"]["assessment"]["kappa"],
                "oracle": oracle_kappa(datasets[dataset], s["combo"], predictions),
                "summary": s,
                "predictions": predictions,
            }
        )
    frame = pd.DataFrame(rows)
    print(f"\n{name}:\n" + frame.groupby("combo")[["kappa", "oracle"]].mean().round(3).to_string())
    return frame


def says_not_beaten(report: str, modality: str) -> bool:
    """report.html's headline says the network on ``modality`` does not (or is not shown to)
    beat a linear model on the same pixels."""
    return any(
        f"The network on {named(modality)} {verb} a linear model" in report
        for verb in ("does not beat", "is not shown to beat")
    )


def means(rows: pd.DataFrame) -> pd.Series:
    return rows.groupby("combo")["kappa"].mean()


def check_search(datasets: Datasets, dataset: str, settings: str, scope: str) -> pd.DataFrame:
    """One search's bars on any dataset: branches against their linear baselines, fusions
    against their best member. Returns its rows (``learn``) for a dataset's own bars."""
    rows = learn(
        datasets, dataset, settings, COMBOS[dataset][scope], f"{dataset}-{settings}-{scope}"
    )
    kappa = means(rows)
    report = (datasets["runs"] / f"{dataset}-{settings}-{scope}" / "report.html").read_text()
    for name in kappa.index:
        members = parse_combo(name) if "(" not in name else ()
        if len(members) == 1 and members[0] != "metadata":
            linear = kappa[baseline_name(name)]
            if linear >= 0.2 and kappa[name] < 0.9 * linear:  # it must earn its keep
                assert settings in SAYS_SO_ALLOWED and says_not_beaten(report, name), (
                    name,
                    kappa[name],
                    linear,
                )
        elif len(members) > 1:
            best = max(kappa[m] for m in members if m in kappa.index)
            assert kappa[name] >= best - MARGIN, (name, kappa[name], best)
    return rows


def assert_healthy(rows: pd.DataFrame) -> None:
    """Every network trial's stages: none collapsed; pre-training and stage 1 learned."""
    for summary in rows[rows["combo"].map(lambda c: "(" not in c)]["summary"]:
        for record in [*summary.get("pretrain", {}).values(), *summary.get("stages", [])]:
            verdicts = record["verdicts"]
            assert "collapsed" not in verdicts, (summary["combo"], record["stage"], verdicts)
            if record["stage"] != "stage2":
                assert "no-learning" not in verdicts, (summary["combo"], record["stage"], verdicts)
        for record in summary.get("pretrain", {}).values():
            assert record["val_kappa"] > 0, record["stage"]
