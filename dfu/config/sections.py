"""The sections of the one typed configuration of dfu-cv, with their defaults.

Defaults live here, visible at a glance; ``dfu.config.loading`` puts the sections together
(``Config``) and reads a YAML file and dotted overrides into them, ``dfu.config.validation``
checks the ranges types alone cannot express.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


class ConfigError(ValueError):
    """A configuration value is unknown, mistyped or out of range; the message names the key."""


@dataclass
class AugmentConfig:
    """Random transforms of training crops, per image modality: a property of the data.

    A wound's healing phase does not depend on how the camera was held, so mirror images
    (``flip``) and turns (``rotate``, any angle: crops are zero-padded squares) preserve the
    label on every modality. ``brightness`` / ``contrast`` (+-10%) suit the RGB frames only:
    on a false-coloured map, colour *is* the measured depth or temperature. Data whose label
    depends on orientation (digits, text) must turn geometry off: set a list to [].
    """

    depth_rgb: list[str] = field(default_factory=lambda: ["flip"])
    depth_map: list[str] = field(default_factory=lambda: ["flip"])
    thermal_rgb: list[str] = field(default_factory=lambda: ["flip"])
    thermal_map: list[str] = field(default_factory=lambda: ["flip"])

    def by_modality(self) -> dict[str, list[str]]:
        return dataclasses.asdict(self)


@dataclass
class DataConfig:
    """Where the Zivot-layout dataset lives and how images are prepared."""

    root: str = ""
    metadata_csv: str = "DataMaster_Processed_V12_WithMissing.csv"
    bbox_depth_csv: str = "bounding_box_depth.csv"
    bbox_thermal_csv: str = "bounding_box_thermal.csv"
    depth_rgb_dir: str = "Depth_RGB"
    depth_map_dir: str = "Depth_Map_IMG"
    thermal_rgb_dir: str = "Thermal_RGB"
    thermal_map_dir: str = "Thermal_Map_IMG"
    image_size: int = 64
    # Treatment columns (Dressing*, Offloading*) describe care given: admissible only by choice.
    include_treatment: bool = False
    # Explicit feature list (exact header text); None = every admissible feature column.
    feature_columns: list[str] | None = None
    exclude_columns: list[str] = field(default_factory=list)
    cache_dir: str = ".cache/dfu"
    # Processes for image decoding; 0 = all cores.
    workers: int = 0
    # Metadata rows repeating a (Patient#, Appt#, DFU#) with other values: "first" keeps the
    # first row and counts the others as skips; "error" stops, naming both lines.
    duplicate_assessments: str = "first"
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class FoldConfig:
    """Outer patient-grouped folds and the inner validation split."""

    n_folds: int = 5
    # Inner validation = one of round(1 / inner_val_fraction) patient-grouped inner folds.
    inner_val_fraction: float = 0.2
    seed: int = 42


@dataclass
class MetadataModelConfig:
    """Random forest on clinical metadata (scikit-learn Pipeline)."""

    n_estimators: int = 300
    max_depth: int = 10
    min_samples_leaf: int = 5
    class_weight_max_ratio: float = 3.0
    # Inner patient-grouped folds giving out-of-fold probabilities for training rows.
    oof_folds: int = 5
    n_jobs: int = 1


@dataclass
class ModelConfig:
    """Image branches and fusion."""

    # "small_cnn" or any keras.applications name (e.g. "EfficientNetB0").
    backbone: str = "small_cnn"
    # Local weights file for a keras.applications backbone; never downloaded at run time.
    backbone_weights: str | None = None
    filters: list[int] = field(default_factory=lambda: [16, 32, 64])
    # BatchNorm of the small CNN: with ~20 steps per epoch Keras' default 0.99 leaves inference
    # statistics far from the data for many epochs, and inner-val predictions collapse to one
    # class; 0.9 follows the data within a few epochs.
    batchnorm_momentum: float = 0.9
    # Read-out of the last feature maps: averaged over a grid x grid layout and flattened, so
    # the branch knows where a feature is (1 = global average pooling, position lost).
    pool_grid: int = 4
    head_units: int = 32
    dropout: float = 0.3
    fusion_init_metadata: float = 0.70
    # "log": weights applied to log-probabilities (product of experts; see
    # dfu.models.fusion.SourceWeights);
    # "linear": weights applied to probabilities (the clinic's original design).
    fusion: str = "log"
    # Stage 1 freezes each branch's backbone; also its hidden layer when True (then only the
    # fresh heads and the fusion weights train, a read-out of the pre-trained features).
    freeze_hidden: bool = False
    # Stage 2 unfreezes only the top fraction of each backbone's layers with weights (counted
    # from the output end; 1.0 = all of them). The clinic fine-tuned DenseNet121's top 0.05.
    unfreeze_fraction: float = 1.0


@dataclass
class StageConfig:
    """One training stage: how long, how fast, how patient."""

    epochs: int = 30
    learning_rate: float = 1e-3
    patience: int = 6
    # Epochs trained before early stopping may pick a best one. Inner validation is small, so
    # its kappa is noisy: without a warm-up a lucky first epoch ended stages after one epoch
    # of training (the old pipeline's "never left epoch 1"). Shortened to fit short stages.
    warmup: int = 3
    # What early stopping watches (best epoch restored): inner-val "val_kappa" or "val_loss".
    monitor: str = "val_kappa"


# training.fusion_fit_rows -> the splits whose rows the fusion weights are refitted on.
FUSION_FIT_SPLITS = {"val": ("val",), "train+val": ("train", "val")}


@dataclass
class TrainingConfig:
    """The staged protocol (pre-train, stage 1 frozen, stage 2 fine-tune)."""

    batch_size: int = 32
    # Smaller batches when the data is small, so an epoch is at least this many updates.
    min_steps_per_epoch: int = 32
    pretrain: StageConfig = field(default_factory=lambda: StageConfig(40, 1e-3, 10))
    stage1: StageConfig = field(default_factory=lambda: StageConfig(30, 1e-3, 6))
    stage2: StageConfig = field(default_factory=lambda: StageConfig(15, 1e-5, 4, warmup=0))
    # 0 = class-weighted cross-entropy. Focal gamma 2 slowed learning: on real digit images a
    # branch's pre-training stayed on its "everything is P" plateau in 1-2 folds of 3.
    focal_gamma: float = 0.0
    # Per-class focal alpha (I, P, R); None = from training class frequencies.
    alpha: list[float] | None = None
    alpha_max_ratio: float = 3.0
    # L2 penalty on the fusion weights when they are refitted after training
    # (dfu.training.fusion_fit).
    fusion_l2: float = 1e-3
    # Rows the fusion weights are refitted on (a key of FUSION_FIT_SPLITS); with inner-train
    # rows, the image weights' scale is then fitted on inner val; the keep-or-revert check is
    # judged on inner-val rows either way.
    fusion_fit_rows: str = "train+val"
    # Verdict thresholds (dfu.training.health). overfit: train kappa - inner-val kappa above this.
    overfit_gap: float = 0.2
    min_trainable_params: int = 500
    # collapsed: at least this share of inner-val rows predicted as one class.
    collapse_fraction: float = 0.98
    # no-learning (at the first eligible best epoch): the training loss never fell this share
    # below epoch 1's, or the trainable weights moved less than min_weight_change (relative
    # L2). Adam moves each weight by about the learning rate per step: a stage at 1e-5 or more
    # over 10+ steps changes the weights by > 1e-3, a rate of 1e-9 by ~1e-6.
    loss_drop: float = 0.01
    min_weight_change: float = 1e-4
    seed: int = 0
    # Test option: shuffle labels inside the training data (leak check). Never for real runs.
    permute_train_labels: bool = False


@dataclass
class BaselineConfig:
    """The linear baseline of each image modality: logistic regression on standardised pixels."""

    # Larger crops are average-pooled down to this size first (a 3072-feature model at 32 px).
    image_size: int = 32
    # Inverse regularisation strengths tried; the one with the best inner-val kappa is used.
    c_grid: list[float] = field(default_factory=lambda: [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0])
    max_iter: int = 300


@dataclass
class SearchConfig:
    """Which folds and combinations to run, and how to spread them over Ray."""

    # "all" (31), "clinic" (15 subsets of metadata/depth_rgb/depth_map/thermal_map),
    # or a list such as ["metadata", "metadata+thermal_map"].
    combinations: str | list[str] = "clinic"
    folds: list[int] | None = None
    workers_per_trial: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    # 0 = derived from the cluster's resources.
    max_concurrent_trials: int = 0
    max_failures: int = 2
    storage: str = "results"
    name: str = "dfu-cv"
    verbose: bool = False


@dataclass
class ReportConfig:
    """The report's uncertainty: the patient bootstrap behind every interval and comparison.

    Never changes what a unit computes: a run may resume, and be reported again, with other
    values (``jobs.report --resamples/--seed`` override them).
    """

    resamples: int = 2000
    seed: int = 0
    level: float = 0.95  # of the percentile intervals
