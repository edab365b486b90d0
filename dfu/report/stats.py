"""The numbers of the report: per combination, scores with patient-bootstrap intervals on the
pooled out-of-fold predictions, paired comparisons, the share of the oracle's kappa, the
score of choosing on inner validation (``dfu.evaluation.selection``), and each image network against
the linear baseline on its pixels.

Pooled out-of-fold: every assessment of the study was in exactly one outer test fold, so
concatenating the folds' test predictions scores each assessment once, by a model that
never saw its patient. One set of patient resamples (``PatientBootstrap``) serves every
combination, so two combinations are always compared on the same resampled patients.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dfu.combos import baseline_modality, is_baseline, parse_combo
from dfu.config import ReportConfig
from dfu.constants import PROBA_COLUMNS
from dfu.evaluation.bootstrap import (
    Difference,
    Estimate,
    PatientBootstrap,
    confusion,
    scores_from_confusion,
)
from dfu.evaluation.ensemble import ENSEMBLE
from dfu.evaluation.metrics import assessment_probabilities
from dfu.evaluation.oracle import combo_posteriors, read_posteriors
from dfu.evaluation.selection import (
    FoldChoice,
    choose,
    chosen_counts,
    chosen_predictions,
    unscored_folds,
)
from dfu.report.data import RunData

REFERENCE = "metadata"  # clinical data alone: what every image combination must beat


@dataclass
class CombinationStats:
    name: str
    rank: int
    folds: int
    fold_mean: dict[str, float]  # mean over folds (as in summary.csv)
    fold_sd: dict[str, float]
    fold_kappas: list[float]
    verdict: str  # worst training verdict over its trials
    assessments: int
    patients: int
    image_sets: int
    assessment: dict[str, Estimate]  # pooled, with patient-bootstrap intervals
    image_set: dict[str, Estimate]
    confusion: list[list[int]]  # pooled, assessment level, rows = truth
    vs_best: Difference | None = None
    vs_reference: Difference | None = None
    oracle_kappa: float | None = None

    @property
    def oracle_fraction(self) -> float | None:
        if self.oracle_kappa is None or self.oracle_kappa <= 0:
            return None
        return self.assessment["kappa"].value / self.oracle_kappa


@dataclass
class SelectionStats:
    """The headline: in each fold choose on inner validation, score the chosen on test."""

    candidates: list[str]
    choices: list[FoldChoice]
    kappa: Estimate  # pooled test kappa of the chosen models, patient-bootstrap interval
    assessments: int
    patients: int
    best_of_n: CombinationStats  # the candidate with the highest pooled test kappa
    vs_reference: Difference | None = None  # chosen models minus clinical data alone

    @property
    def counts(self) -> dict[str, int]:
        return chosen_counts(self.choices)

    @property
    def unscored(self) -> list[int]:
        return unscored_folds(self.choices)


@dataclass
class Analysis:
    combos: list[CombinationStats]  # best first; no linear baseline
    resampling: ReportConfig  # the patient bootstrap's resamples, seed and interval level
    oracle: bool
    baselines: list[CombinationStats] = field(default_factory=list)  # linear(m), rank 0
    selection: SelectionStats | None = None
    vs_linear: dict[str, Difference] = field(default_factory=dict)  # modality -> CNN - linear
    by_name: dict[str, CombinationStats] = field(init=False)

    def __post_init__(self):
        self.by_name = {c.name: c for c in [*self.combos, *self.baselines]}

    @property
    def best(self) -> CombinationStats:
        return self.combos[0]

    @property
    def reference(self) -> CombinationStats | None:
        return self.by_name.get(REFERENCE)

    @property
    def n_boot(self) -> int:
        return self.resampling.resamples

    @property
    def level(self) -> str:
        """The intervals' level as the page writes it: ``95%``."""
        return f"{100 * self.resampling.level:g}%"

    @property
    def ci(self) -> str:
        """``95% CI``, for table headers."""
        return f"{self.level} CI"


def assessment_rows(predictions: pd.DataFrame) -> pd.DataFrame:
    """Image-set rows -> one row per assessment (mean probabilities), with patient and fold."""
    per = assessment_probabilities(predictions)
    first = predictions.groupby("assessment_id", sort=True)[["patient", "fold"]].first()
    return per.join(first, on="assessment_id")


def _rows(frame: pd.DataFrame) -> tuple:
    return (
        frame["patient"].to_numpy(),
        frame["y_true"].to_numpy(),
        frame[PROBA_COLUMNS].to_numpy().argmax(axis=1),
    )


def resampling(cfg: ReportConfig, n_boot: int | None = None, seed: int | None = None):
    """The report section of a run's config, with ``n_boot`` / ``seed`` overriding it."""
    resamples = cfg.resamples if n_boot is None else n_boot
    return dataclasses.replace(cfg, resamples=resamples, seed=cfg.seed if seed is None else seed)


def analyse(data: RunData, n_boot: int | None = None, seed: int | None = None) -> Analysis:
    """Every number of the report; ``n_boot`` / ``seed`` override the run's ``report`` config."""
    settings = resampling(data.cfg.report, n_boot, seed)
    per_assessment = {c: assessment_rows(p) for c, p in data.predictions.items()}
    patients = np.concatenate([p["patient"].to_numpy() for p in data.predictions.values()])
    boot = PatientBootstrap(patients, settings)
    stats = [
        _combination(boot, data, row, per_assessment[row.combo])
        for row in data.summary.itertuples(index=False)
    ]
    combos = [s for s in stats if not is_baseline(s.name)]
    for rank, s in enumerate(combos, start=1):
        s.rank = rank
    linear = sorted(
        (s for s in stats if is_baseline(s.name)), key=lambda s: data.baselines.index(s.name)
    )
    analysis = Analysis(combos, settings, oracle=False, baselines=linear)
    for s in combos:
        s.vs_best = _paired(boot, per_assessment, s.name, analysis.best.name)
        if analysis.reference is not None:
            s.vs_reference = _paired(boot, per_assessment, s.name, REFERENCE)
    analysis.vs_linear = _vs_linear(boot, per_assessment, analysis)
    analysis.selection = _selection(boot, data, per_assessment, analysis)
    analysis.oracle = _add_oracle(analysis, data, per_assessment)
    return analysis


def _selection(
    boot: PatientBootstrap, data: RunData, per_assessment: dict, analysis: Analysis
) -> SelectionStats | None:
    """Choose per fold on inner validation (``dfu.evaluation.selection``); score the choices pooled."""
    candidates = [c for c in data.candidates if c in analysis.by_name]
    choices = choose(data.results, candidates)
    if not choices:
        return None
    rows = assessment_rows(chosen_predictions(choices, data.predictions))
    best = max((analysis.by_name[c] for c in candidates), key=lambda c: c.assessment["kappa"].value)
    stats = SelectionStats(
        candidates,
        choices,
        boot.estimates(*_rows(rows))["kappa"],
        len(rows),
        int(rows["patient"].nunique()),
        best,
    )
    if analysis.reference is not None:
        stats.vs_reference = _paired_frames(boot, rows, per_assessment[REFERENCE])
    return stats


def _vs_linear(boot: PatientBootstrap, per_assessment: dict, analysis: Analysis) -> dict:
    """modality -> the CNN on that modality alone minus its linear baseline (when both ran)."""
    out = {}
    for baseline in analysis.baselines:
        modality = baseline_modality(baseline.name)
        if modality in analysis.by_name:
            out[modality] = _paired(boot, per_assessment, modality, baseline.name)
    return out


def _combination(
    boot: PatientBootstrap, data: RunData, row, assessments: pd.DataFrame
) -> CombinationStats:
    sets = data.predictions[row.combo]
    fold_rows = data.results[data.results["combo"] == row.combo].sort_values("fold")
    full, _ = boot.confusions(*_rows(assessments))
    means = {k[: -len("_mean")]: v for k, v in row._asdict().items() if k.endswith("_mean")}
    sds = {k[: -len("_sd")]: v for k, v in row._asdict().items() if k.endswith("_sd")}
    return CombinationStats(
        name=row.combo,
        rank=0,
        folds=int(row.folds),
        fold_mean=means,
        fold_sd=sds,
        fold_kappas=fold_rows["kappa"].tolist(),
        verdict=row.verdict,
        assessments=len(assessments),
        patients=int(assessments["patient"].nunique()),
        image_sets=len(sets),
        assessment=boot.estimates(*_rows(assessments)),
        image_set=boot.estimates(*_rows(sets)),
        confusion=full.astype(int).tolist(),
    )


def _paired(boot: PatientBootstrap, per_assessment: dict, name: str, other: str) -> Difference:
    """name - other, on the assessments both scored (all of them, in a complete run)."""
    return _paired_frames(boot, per_assessment[name], per_assessment[other])


def _paired_frames(boot: PatientBootstrap, a: pd.DataFrame, b: pd.DataFrame) -> Difference:
    """Kappa of a minus kappa of b (assessment rows), on the assessments both scored;
    ``Difference.n`` says how many."""
    common = np.intersect1d(a["assessment_id"], b["assessment_id"])
    a = a.set_index("assessment_id").loc[common]
    b = b.set_index("assessment_id").loc[common]
    return boot.difference(_rows(a), _rows(b), "kappa")


def _add_oracle(analysis: Analysis, data: RunData, per_assessment: dict) -> bool:
    """Each combination's oracle kappa on its own assessments, when the data root has one."""
    root = data.cfg.data.root
    posteriors = read_posteriors(root) if root else None
    if posteriors is None:
        return False
    found = False
    for stats in [*analysis.combos, *analysis.baselines]:
        oracle = combo_posteriors(posteriors, _modalities(stats.name, data.ensemble_members))
        rows = per_assessment[stats.name]
        known = rows[rows["assessment_id"].isin(oracle.index)]
        if known.empty:
            continue
        posterior = oracle.loc[known["assessment_id"], PROBA_COLUMNS].to_numpy()
        matrix = confusion(known["y_true"].to_numpy(), posterior.argmax(axis=1))
        stats.oracle_kappa = float(scores_from_confusion(matrix)["kappa"])
        found = True
    return found


def _modalities(name: str, members: list[str]) -> tuple[str, ...]:
    """What a combination sees; the ensemble sees the union of its members' modalities, a
    linear baseline its modality's pixels."""
    if is_baseline(name):
        return (baseline_modality(name),)
    if name != ENSEMBLE:
        return parse_combo(name)
    return parse_combo("+".join(sorted({m for c in members for m in parse_combo(c)})))
