"""Where a search keeps everything, in one place: every file name of a run and of a bundle.

``<storage>/<name>/`` (``RunLayout``):

config.yaml                     resolved config of the run
folds.csv                       patient -> outer fold manifest
data_summary.json               what the reader found and skipped
run.json                        the data fingerprint (cache key) and the fold manifest's hash
.lock                           the driver holding the run (host, pid)
folds/fold{k}/                  the fold's random forest: metadata.parquet (its probabilities
                                for every assessment of the fold), metadata_model.joblib
branches/fold{k}/{modality}/    pre-trained image branch: weights.h5, record.json
trials/fold{k}/{combo}/         trial.json, predictions.parquet, model_weights.h5 (image
                                combinations), tensorboard/ (also ``linear(<modality>)``: the
                                linear baselines)
ensemble/fold{k}/               the ensemble, in the trial format: trial.json, predictions.parquet
results.csv                     one row per fold x combination
summary.csv                     per combination: mean and sd over folds
search.json                     how the search ran: units run, errors, timings
report.html, summary.json       the report
bundle/                         the chosen combination packed for new patients (``BundleLayout``)
tune/                           Ray Tune's own experiment folders (tune/train: Ray Train's)

``<bundle>/`` (``BundleLayout``):

bundle.json                     combination, folds, class order, feature columns
config.yaml                     the run's config (image size, model shape, ...)
fold{k}/metadata_model.joblib   the fold's random-forest Pipeline (with metadata)
fold{k}/model_weights.h5        the fold's Keras weights (with images)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dfu.combos import Combo, combo_name

CONFIG_FILE = "config.yaml"
TRIAL_FILE = "trial.json"  # written last: marks a trial done
PREDICTIONS_FILE = "predictions.parquet"
MODEL_WEIGHTS_FILE = "model_weights.h5"  # a trial's trained model (rebuilt from config + combo)
# Not "*.weights.h5": tf_keras loads such names as Keras-3 files, not the HDF5 save_weights wrote.
WEIGHTS_FILE = "weights.h5"  # a pre-trained branch's
RECORD_FILE = "record.json"  # a pre-trained branch's record, written last
METADATA_MODEL_FILE = "metadata_model.joblib"
TENSORBOARD_DIR = "tensorboard"
REPORT_FILE = "report.html"
REPORT_SUMMARY_FILE = "summary.json"  # every number of the report
BUNDLE_FILE = "bundle.json"


@dataclass(frozen=True)
class RunLayout:
    root: Path

    @classmethod
    def of(cls, storage: str | Path, name: str) -> RunLayout:
        return cls(Path(storage).expanduser().resolve() / name)

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

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
    def report(self) -> Path:
        return self.root / REPORT_FILE

    @property
    def report_summary(self) -> Path:
        return self.root / REPORT_SUMMARY_FILE

    @property
    def bundle(self) -> Path:
        return self.root / "bundle"

    @property
    def tune(self) -> Path:
        return self.root / "tune"

    @property
    def train_runs(self) -> Path:
        """Ray Train's own run folders."""
        return self.tune / "train"

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
        return self.fold_dir(fold) / METADATA_MODEL_FILE

    def branch(self, fold: int, modality: str) -> Path:
        return self.root / "branches" / f"fold{fold}" / modality

    def trial(self, fold: int, combo: Combo | str) -> Path:
        """A combination's (or a baseline's, by name) trial folder."""
        name = combo if isinstance(combo, str) else combo_name(combo)
        return self.root / "trials" / f"fold{fold}" / name

    def ensemble(self, fold: int) -> Path:
        """The ensemble's folder in one fold (the trial format)."""
        return self.root / "ensemble" / f"fold{fold}"

    def trial_dirs(self) -> list[Path]:
        return sorted(p.parent for p in (self.root / "trials").glob(f"fold*/*/{TRIAL_FILE}"))

    def branch_dirs(self) -> list[Path]:
        return sorted(p.parent for p in (self.root / "branches").glob(f"fold*/*/{RECORD_FILE}"))


@dataclass(frozen=True)
class BundleLayout:
    root: Path

    @property
    def info(self) -> Path:
        return self.root / BUNDLE_FILE

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    def fold_dir(self, fold: int) -> Path:
        return self.root / f"fold{fold}"

    def metadata_model(self, fold: int) -> Path:
        return self.fold_dir(fold) / METADATA_MODEL_FILE

    def weights(self, fold: int) -> Path:
        return self.fold_dir(fold) / MODEL_WEIGHTS_FILE
