"""Range checks that types alone cannot express, one function per config section.

Each raises ``ConfigError`` naming the dotted key and what it must be.
"""

from __future__ import annotations

from dfu.combos import parse_combinations
from dfu.config import sections
from dfu.config.sections import ConfigError
from dfu.constants import AUGMENTATIONS, CLASSES

STAGES = ("pretrain", "stage1", "stage2")


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")


def check_data(d: sections.DataConfig) -> None:
    _check(16 <= d.image_size <= 1024, "data.image_size", "must be between 16 and 1024")
    _check(d.workers >= 0, "data.workers", "must be >= 0 (0 = all cores)")
    _check(
        d.duplicate_assessments in ("first", "error"),
        "data.duplicate_assessments",
        "must be 'first' or 'error'",
    )
    for modality, names in d.augment.by_modality().items():
        bad = [n for n in names if n not in AUGMENTATIONS]
        _check(not bad, f"data.augment.{modality}", f"unknown {bad[:1]}; known: {AUGMENTATIONS}")


def check_folds(f: sections.FoldConfig) -> None:
    _check(f.n_folds >= 2, "folds.n_folds", "needs at least 2 folds")
    _check(0 < f.inner_val_fraction < 0.5, "folds.inner_val_fraction", "must be in (0, 0.5)")


def check_metadata(m: sections.MetadataModelConfig) -> None:
    _check(m.oof_folds >= 2, "metadata.oof_folds", "needs at least 2")
    _check(m.class_weight_max_ratio >= 1, "metadata.class_weight_max_ratio", ">= 1")


def check_model(m: sections.ModelConfig) -> None:
    _check(0 < m.fusion_init_metadata < 1, "model.fusion_init_metadata", "in (0, 1)")
    _check(m.pool_grid >= 1, "model.pool_grid", "must be >= 1 (1 = global pooling)")
    _check(0 < m.unfreeze_fraction <= 1, "model.unfreeze_fraction", "must be in (0, 1]")
    _check(0 <= m.dropout < 1, "model.dropout", "must be in [0, 1)")
    _check(m.fusion in ("log", "linear"), "model.fusion", "must be 'log' or 'linear'")
    _check(0 < m.batchnorm_momentum < 1, "model.batchnorm_momentum", "must be in (0, 1)")


def check_training(t: sections.TrainingConfig) -> None:
    _check(t.fusion_l2 >= 0, "training.fusion_l2", "must be >= 0")
    _check(
        t.fusion_fit_rows in sections.FUSION_FIT_SPLITS,
        "training.fusion_fit_rows",
        "must be one of " + ", ".join(sections.FUSION_FIT_SPLITS),
    )
    _check(t.batch_size >= 1, "training.batch_size", "must be >= 1")
    _check(t.min_steps_per_epoch >= 1, "training.min_steps_per_epoch", "must be >= 1")
    for stage in STAGES:
        _check_stage(getattr(t, stage), f"training.{stage}")
    _check(t.alpha_max_ratio >= 1, "training.alpha_max_ratio", "must be >= 1")
    if t.alpha is not None:
        _check_alpha(t.alpha, t.alpha_max_ratio)
    _check(0 < t.collapse_fraction <= 1, "training.collapse_fraction", "must be in (0, 1]")
    _check(0 <= t.loss_drop < 1, "training.loss_drop", "must be in [0, 1)")
    _check(t.min_weight_change >= 0, "training.min_weight_change", "must be >= 0")


def _check_stage(st: sections.StageConfig, key: str) -> None:
    _check(st.epochs >= 1, f"{key}.epochs", "must be >= 1")
    _check(st.learning_rate > 0, f"{key}.learning_rate", "must be > 0")
    _check(st.patience >= 1, f"{key}.patience", "must be >= 1")
    _check(st.warmup >= 0, f"{key}.warmup", "must be >= 0")
    _check(
        st.monitor in ("val_kappa", "val_loss"),
        f"{key}.monitor",
        "must be 'val_kappa' or 'val_loss'",
    )


def _check_alpha(alpha: list[float], max_ratio: float) -> None:
    _check(len(alpha) == len(CLASSES), "training.alpha", "needs one value per class (I, P, R)")
    _check(min(alpha) > 0, "training.alpha", "values must be > 0")
    ratio = max(alpha) / min(alpha)
    _check(
        ratio <= max_ratio + 1e-9,
        "training.alpha",
        f"max/min is {ratio:.1f} > training.alpha_max_ratio {max_ratio} "
        "(uncapped weights made the old pipeline predict one class)",
    )


def check_baseline(b: sections.BaselineConfig) -> None:
    _check(8 <= b.image_size <= 128, "baseline.image_size", "must be between 8 and 128")
    _check(len(b.c_grid) >= 1 and min(b.c_grid) > 0, "baseline.c_grid", "needs values > 0")


def check_search(s: sections.SearchConfig, n_folds: int) -> None:
    _check(s.workers_per_trial >= 1, "search.workers_per_trial", "must be >= 1")
    _check(s.gpus_per_worker >= 0, "search.gpus_per_worker", "must be >= 0")
    _check(s.cpus_per_worker > 0, "search.cpus_per_worker", "must be > 0")
    if s.folds is not None:
        bad = [k for k in s.folds if not 0 <= k < n_folds]
        _check(not bad, "search.folds", f"fold {bad[:1]} outside 0..{n_folds - 1}")
    try:
        parse_combinations(s.combinations)
    except ValueError as err:
        raise ConfigError(f"search.combinations: {err}") from None


def check_report(r: sections.ReportConfig) -> None:
    _check(r.resamples >= 1, "report.resamples", "must be >= 1")
    _check(0 < r.level < 1, "report.level", "must be in (0, 1)")
