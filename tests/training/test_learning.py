"""Does the protocol learn what the data show? Checked where the truth is known, on three datasets:

- the demo clinic, whose Bayes-optimal answer the generator records (``_oracle/``);
- real handwritten digits drawn into the Zivot layout (``tests.helpers.digits``): a dataset not
  designed for this model, whose metadata is pure noise; flips and turns are off (they change a
  digit);
- the demo with its images shuffled across assessments: images carry no signal.

Each search runs in this process (``dfu.runs.local``), with the demo config's settings and with
the defaults. The issue's bars: a single image modality reaches 0.9 x its linear baseline's
kappa wherever that baseline reaches 0.2; a fusion never scores below its best member by more
than 0.03 (asserted with a margin of ``MARGIN`` for run-to-run noise); the demo's all-modality
fusion beats its best member and reaches a fraction of the oracle. Plus leak checks (labels
permuted before anything is fitted stay at chance) and fold-0 training health.

``make test-acceptance`` (CI) runs them trimmed in folds and combinations, never in datasets;
``make test-acceptance-full`` runs every fold and combination (marker ``acceptance_full``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dfu.combos import baseline_name, parse_combo
from dfu.config import load_config
from dfu.constants import IMAGE_MODALITIES, PROBA_COLUMNS
from dfu.demo import make_demo
from dfu.evaluation.metrics import assessment_probabilities, classification_metrics
from dfu.runs.local import execute_local
from dfu.runs.run import search
from jobs.check_learning import oracle_kappa
from tests.helpers.datasets import shuffled_images_copy
from tests.helpers.digits import write_digits_dataset

MARGIN = 0.05  # a fusion may fall this far below its best member (the bar: 0.03)
# The demo's fusion must reach this fraction of the oracle's kappa on the same test rows. A
# guard against regressions, not the goal (0.85). Measured with the fusion refitted on
# inner-train + inner-val and the image weights' scale on inner val: metadata+depth_rgb+
# thermal_map 0.77 with the demo config (3 folds; 0.75 before the scale), all five sources 0.82
# with the demo config. ~50 test patients per fold leave a few hundredths of noise.
ORACLE_FRACTION = {"demo": 0.7, "default": 0.75}
# The goal itself, for all five sources with the defaults on all 5 folds (full scope only):
# measured 0.87 (0.574 of 0.658) once the image weights' scale is fitted on inner val.
GOAL_FRACTION = 0.85
ALL = "metadata+depth_rgb+depth_map+thermal_rgb+thermal_map"
NO_GEOMETRY = [f"data.augment.{m}=[]" for m in IMAGE_MODALITIES]  # digits change when turned
SETTINGS = {"demo": "dfu/configs/demo.yaml", "default": None}
# CI's trim: the defaults' 5 folds cut to 2 (the demo config has 3), combinations cut below.
CI_FOLDS = {"demo": [], "default": ["search.folds=[0,1]"]}
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
    "digits": {
        "ci": ["depth_rgb", "thermal_map", "metadata+depth_rgb+thermal_map", "metadata"],
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
        "ci": ["metadata", "depth_rgb", "metadata+depth_rgb"],
        "full": [
            "metadata",
            "depth_rgb",
            "thermal_map",
            "metadata+depth_rgb",
            "metadata+depth_rgb+thermal_map",
        ],
    },
}
RUNS = [
    pytest.param(
        d,
        s,
        scope,
        marks=pytest.mark.acceptance if scope == "ci" else pytest.mark.acceptance_full,
        id=f"{d}-{s}-{scope}",
    )
    for scope in ("ci", "full")
    for d in COMBOS
    for s in SETTINGS
]


@pytest.fixture(scope="session")
def datasets(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("learning")
    make_demo(root / "demo")  # the default demo: 60 patients, seed 0
    write_digits_dataset(root / "digits")
    shuffled_images_copy(root / "demo", root / "shuffled")
    return {
        "demo": root / "demo",
        "digits": root / "digits",
        "shuffled": root / "shuffled",
        "cache": root / "cache",
        "runs": root / "runs",
    }


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


def _means(rows: pd.DataFrame) -> pd.Series:
    return rows.groupby("combo")["kappa"].mean()


@pytest.mark.parametrize("dataset, settings, scope", RUNS)
def test_branches_learn_and_fusion_never_falls_below_its_best_member(
    datasets, dataset, settings, scope
):
    trim = CI_FOLDS[settings] if scope == "ci" else []
    rows = learn(
        datasets, dataset, settings, COMBOS[dataset][scope], f"{dataset}-{settings}-{scope}", *trim
    )
    kappa = _means(rows)
    for name in kappa.index:
        members = parse_combo(name) if "(" not in name else ()
        if len(members) == 1 and members[0] != "metadata":
            linear = kappa[baseline_name(name)]
            if linear >= 0.2:  # a branch must earn its keep against a linear model
                assert kappa[name] >= 0.9 * linear, (name, kappa[name], linear)
        elif len(members) > 1:
            best = max(kappa[m] for m in members if m in kappa.index)
            assert kappa[name] >= best - MARGIN, (name, kappa[name], best)
    if dataset == "demo":
        fusion = ALL if ALL in kappa.index else "metadata+depth_rgb+thermal_map"
        singles = [m for m in parse_combo(fusion) if m in kappa.index]
        assert kappa[fusion] > max(kappa[m] for m in singles) + 0.05  # more than picking one
        oracle = rows[rows["combo"] == fusion]["oracle"].mean()
        goal = fusion == ALL and settings == "default"
        fraction = GOAL_FRACTION if goal else ORACLE_FRACTION[settings]
        assert kappa[fusion] >= fraction * oracle, (kappa[fusion], oracle)


@pytest.mark.acceptance
def test_permuted_training_labels_leave_the_metadata_model_at_chance(datasets):
    """The forest, labels permuted inside training data, over 6 CV draws: mean kappa ~ 0.
    (One fold's null kappa has sd ~0.1 with ~80 test assessments, hence many draws.)"""
    kappas = []
    for seed in range(6):
        rows = learn(
            datasets,
            "demo",
            "demo",
            ["metadata"],
            f"leak-metadata-{seed}",
            "training.permute_train_labels=true",
            f"folds.seed={seed}",
        )
        kappas.extend(rows.loc[rows["combo"] == "metadata", "kappa"])
    assert abs(np.mean(kappas)) <= 0.05, kappas


@pytest.mark.acceptance
def test_permuted_training_labels_leave_the_fusion_at_chance(datasets):
    """The image pipeline, permuted: pooled out-of-fold kappa over all 3 folds near 0."""
    rows = learn(
        datasets,
        "demo",
        "demo",
        ["metadata+depth_rgb+thermal_map"],
        "leak-fusion",
        "training.permute_train_labels=true",
    )
    fusion = rows[rows["combo"] == "metadata+depth_rgb+thermal_map"]
    pooled = assessment_probabilities(pd.concat(list(fusion["predictions"])))
    kappa = classification_metrics(pooled["y_true"].to_numpy(), pooled[PROBA_COLUMNS].to_numpy())[
        "kappa"
    ]
    assert abs(kappa) <= 0.1, fusion[["fold", "kappa"]]


@pytest.mark.acceptance
def test_fold0_stages_are_healthy_for_every_single_image(datasets):
    """Pre-training and stage 1 must learn; nothing may collapse. Stage 2 may find nothing to
    add (it is then reverted, and says so)."""
    rows = learn(datasets, "demo", "demo", list(IMAGE_MODALITIES), "health", "search.folds=[0]")
    for summary in rows[~rows["combo"].str.startswith("linear(")]["summary"]:
        for record in [*summary["pretrain"].values(), *summary["stages"]]:
            verdicts = record["verdicts"]
            assert "collapsed" not in verdicts, (summary["combo"], record["stage"], verdicts)
            if record["stage"] != "stage2":
                assert "no-learning" not in verdicts, (summary["combo"], record["stage"], verdicts)
        for record in summary["pretrain"].values():
            assert record["val_kappa"] > 0, record["stage"]
