"""Where a search keeps everything, in one place: ``<storage>/<name>/...``.

config.yaml                     resolved config of the run
folds.csv                       patient -> outer fold manifest
data_summary.json               what the reader found and skipped
run.json                        the data fingerprint (cache key) and the fold manifest's hash
folds/fold{k}/                  the fold's random forest: metadata.parquet (its probabilities
                                for every assessment of the fold), metadata_model.joblib
branches/fold{k}/{modality}/    pre-trained image branch: weights.h5, record.json
trials/fold{k}/{combo}/         trial.json, predictions.parquet, tensorboard/ (also
                                ``linear(<modality>)``: the linear baselines)
results.csv                     one row per fold x combination
summary.csv                     per combination: mean and sd over folds
search.json                     how the search ran: trials and pre-trainings run, errors, timings
report.html, summary.json       the report
tune/                           Ray Tune's own experiment folders
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dfu.combos import Combo, combo_name


@dataclass(frozen=True)
class RunLayout:
    root: Path

    @classmethod
    def of(cls, storage: str | Path, name: str) -> RunLayout:
        return cls(Path(storage).expanduser().resolve() / name)

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def folds(self) -> Path:
        return self.root / "folds.csv"

    @property
    def data_summary(self) -> Path:
        return self.root / "data_summary.json"

    @property
    def results(self) -> Path:
        return self.root / "results.csv"

    @property
    def summary(self) -> Path:
        return self.root / "summary.csv"

    @property
    def search_record(self) -> Path:
        return self.root / "search.json"

    @property
    def tune(self) -> Path:
        return self.root / "tune"

    @property
    def fingerprint(self) -> Path:
        return self.root / "run.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    def fold_dir(self, fold: int) -> Path:
        return self.root / "folds" / f"fold{fold}"

    def fold_metadata(self, fold: int) -> Path:
        return self.fold_dir(fold) / "metadata.parquet"

    def fold_metadata_model(self, fold: int) -> Path:
        return self.fold_dir(fold) / "metadata_model.joblib"

    def branch(self, fold: int, modality: str) -> Path:
        return self.root / "branches" / f"fold{fold}" / modality

    def trial(self, fold: int, combo: Combo | str) -> Path:
        """A combination's (or a baseline's, by name) trial folder."""
        name = combo if isinstance(combo, str) else combo_name(combo)
        return self.root / "trials" / f"fold{fold}" / name

    def trial_dirs(self) -> list[Path]:
        return sorted(p.parent for p in (self.root / "trials").glob("fold*/*/trial.json"))

    def branch_dirs(self) -> list[Path]:
        return sorted(p.parent for p in (self.root / "branches").glob("fold*/*/record.json"))
