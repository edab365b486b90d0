"""The one typed configuration of dfu-cv.

Defaults live here, visible at a glance. A run is configured by an optional YAML file
(same nesting as these dataclasses) plus dotted overrides such as
``training.stage1.epochs=3``. Every key is checked against these dataclasses and every
error names the offending key. The resolved config is saved beside every output.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MODALITIES = ("metadata", "depth_rgb", "depth_map", "thermal_rgb", "thermal_map")
IMAGE_MODALITIES = MODALITIES[1:]
CLASSES = ("I", "P", "R")
AUGMENTATIONS = ("flip", "rotate", "brightness", "contrast")


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
    # Read-out of the last feature maps: averaged over a grid x grid layout and flattened, so
    # the branch knows where a feature is (1 = global average pooling, position lost).
    pool_grid: int = 4
    head_units: int = 32
    dropout: float = 0.3
    fusion_init_metadata: float = 0.70
    # "log": weights applied to log-probabilities (product of experts; see dfu.models.LogPool);
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
    # L2 penalty on the fusion weights when they are fitted on inner validation (dfu.fusion_fit).
    fusion_l2: float = 1e-3
    # Verdict thresholds.
    overfit_gap: float = 0.2
    min_trainable_params: int = 500
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
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    folds: FoldConfig = field(default_factory=FoldConfig)
    metadata: MetadataModelConfig = field(default_factory=MetadataModelConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path

    def replace(self, *overrides: str) -> Config:
        """A copy with dotted overrides applied (``"training.batch_size=16"``)."""
        return load_config(overrides=overrides, base=self.to_dict())


def load_config(
    path: str | Path | None = None,
    overrides: typing.Iterable[str] = (),
    base: dict[str, Any] | None = None,
) -> Config:
    """Defaults <- base dict <- YAML file <- dotted overrides, validated.

    Starting from the defaults' tree lets a partial section keep its other defaults:
    ``stage2: {epochs: 5}`` keeps stage 2's own learning rate and warm-up, not the class's.
    """
    tree: dict[str, Any] = dataclasses.asdict(Config())
    if base:
        _merge(tree, base)
    if path is not None:
        text = Path(path).read_text()
        loaded = yaml.safe_load(text) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping of sections")
        _merge(tree, loaded)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. training.batch_size=16")
        _set_dotted(tree, key.strip(), yaml.safe_load(raw) if raw.strip() else None)
    config = _build(Config, tree, "")
    validate(config)
    return config


def _merge(into: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{key}: {part} is a value, not a section")
    node[leaf] = value


def _build(cls: type, values: dict[str, Any], prefix: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a section (mapping)")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(
            f"unknown config key '{prefix}{unknown[0]}'; known keys in "
            f"{prefix.rstrip('.') or 'config'}: {', '.join(sorted(names))}"
        )
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _coerce(hints[name], value, f"{prefix}{name}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(
            errors[-1] if len(errors) == 1 else f"{key}: {value!r} fits none of {hint}"
        )
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:  # YAML 1.1 reads "1e-5" (no dot) as text; people write it anyway
            return float(value)
        except ValueError:
            pass
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    raise ConfigError(f"{key}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")


def validate(config: Config) -> None:
    """Range checks that types alone cannot express."""
    d, f, t, s = config.data, config.folds, config.training, config.search
    _check(16 <= d.image_size <= 1024, "data.image_size", "must be between 16 and 1024")
    _check(d.workers >= 0, "data.workers", "must be >= 0 (0 = all cores)")
    _check(d.duplicate_assessments in ("first", "error"), "data.duplicate_assessments",
           "must be 'first' or 'error'")  # fmt: skip
    _check(f.n_folds >= 2, "folds.n_folds", "needs at least 2 folds")
    _check(0 < f.inner_val_fraction < 0.5, "folds.inner_val_fraction", "must be in (0, 0.5)")
    _check(config.metadata.oof_folds >= 2, "metadata.oof_folds", "needs at least 2")
    _check(config.metadata.class_weight_max_ratio >= 1, "metadata.class_weight_max_ratio", ">= 1")
    _check(0 < config.model.fusion_init_metadata < 1, "model.fusion_init_metadata", "in (0, 1)")
    _check(config.model.pool_grid >= 1, "model.pool_grid", "must be >= 1 (1 = global pooling)")
    _check(0 < config.model.unfreeze_fraction <= 1, "model.unfreeze_fraction", "must be in (0, 1]")
    _check(t.fusion_l2 >= 0, "training.fusion_l2", "must be >= 0")
    for modality, names in d.augment.by_modality().items():
        bad = [n for n in names if n not in AUGMENTATIONS]
        _check(not bad, f"data.augment.{modality}", f"unknown {bad[:1]}; known: {AUGMENTATIONS}")
    _check(0 <= config.model.dropout < 1, "model.dropout", "must be in [0, 1)")
    _check(config.model.fusion in ("log", "linear"), "model.fusion", "must be 'log' or 'linear'")
    _check(t.batch_size >= 1, "training.batch_size", "must be >= 1")
    _check(t.min_steps_per_epoch >= 1, "training.min_steps_per_epoch", "must be >= 1")
    for stage in ("pretrain", "stage1", "stage2"):
        st = getattr(t, stage)
        _check(st.epochs >= 1, f"training.{stage}.epochs", "must be >= 1")
        _check(st.learning_rate > 0, f"training.{stage}.learning_rate", "must be > 0")
        _check(st.patience >= 1, f"training.{stage}.patience", "must be >= 1")
        _check(st.warmup >= 0, f"training.{stage}.warmup", "must be >= 0")
        _check(st.monitor in ("val_kappa", "val_loss"), f"training.{stage}.monitor",
               "must be 'val_kappa' or 'val_loss'")  # fmt: skip
    _check(t.alpha_max_ratio >= 1, "training.alpha_max_ratio", "must be >= 1")
    if t.alpha is not None:
        _check(
            len(t.alpha) == len(CLASSES), "training.alpha", "needs one value per class (I, P, R)"
        )
        _check(min(t.alpha) > 0, "training.alpha", "values must be > 0")
        ratio = max(t.alpha) / min(t.alpha)
        _check(ratio <= t.alpha_max_ratio + 1e-9, "training.alpha",
               f"max/min is {ratio:.1f} > training.alpha_max_ratio {t.alpha_max_ratio} "
               "(uncapped weights made the old pipeline predict one class)")  # fmt: skip
    b = config.baseline
    _check(8 <= b.image_size <= 128, "baseline.image_size", "must be between 8 and 128")
    _check(len(b.c_grid) >= 1 and min(b.c_grid) > 0, "baseline.c_grid", "needs values > 0")
    _check(s.workers_per_trial >= 1, "search.workers_per_trial", "must be >= 1")
    _check(s.gpus_per_worker >= 0, "search.gpus_per_worker", "must be >= 0")
    _check(s.cpus_per_worker > 0, "search.cpus_per_worker", "must be > 0")
    if s.folds is not None:
        bad = [k for k in s.folds if not 0 <= k < f.n_folds]
        _check(not bad, "search.folds", f"fold {bad[:1]} outside 0..{f.n_folds - 1}")
    from dfu.combos import parse_combinations  # local: combos imports this module

    try:
        parse_combinations(s.combinations)
    except ValueError as err:
        raise ConfigError(f"search.combinations: {err}") from None
