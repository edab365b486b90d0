"""The typed config: defaults, YAML + dotted overrides, errors that name the key, saved and reloaded."""

from __future__ import annotations

import pytest

from dfu.config import Config, ConfigError, load_config


def test_defaults_match_the_documented_protocol():
    cfg = load_config()
    assert cfg.training.stage2.learning_rate == 1e-5 and cfg.training.alpha_max_ratio == 3.0
    assert cfg.model.fusion_init_metadata == 0.70 and cfg.metadata.n_estimators == 300
    assert cfg.data.metadata_csv == "DataMaster_Processed_V12_WithMissing.csv"


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "training:\n  batch_size: 16\n  stage1: {epochs: 4}\nsearch:\n  combinations: all\n"
    )
    cfg = load_config(path, ["training.stage1.learning_rate=1e-4", "search.folds=[0, 2]"])
    assert cfg.training.batch_size == 16 and cfg.training.stage1.epochs == 4
    assert cfg.training.stage1.learning_rate == 1e-4 and cfg.training.stage1.patience == 6
    assert cfg.search.folds == [0, 2] and cfg.search.combinations == "all"


def test_a_partial_section_keeps_that_fields_own_defaults():
    """Stage 2's defaults differ from the StageConfig class's: a partial override keeps them."""
    cfg = load_config(overrides=["training.stage2.epochs=5"])
    assert cfg.training.stage2.learning_rate == 1e-5 and cfg.training.stage2.warmup == 0
    assert cfg.training.stage1.warmup == 3 and cfg.training.stage2.epochs == 5


@pytest.mark.parametrize(
    "override, names",
    [
        ("training.stage1.epoch=3", "training.stage1.epoch"),
        ("training.batch_size=abc", "training.batch_size"),
        ("search.combinations=[metadata+xray]", "xray"),
        ("data.image_size=8", "data.image_size"),
        ("model.fusion=mean", "model.fusion"),
        ("training.fusion_fit_rows=test", "training.fusion_fit_rows"),
        ("training.alpha=[1, 2]", "training.alpha"),
        ("folds.n_folds=5", None),
        ("search.folds=[7]", "search.folds"),
        ("nonsense", "key=value"),
    ],
)
def test_errors_name_the_bad_key(override, names):
    if names is None:
        load_config(overrides=[override])
        return
    with pytest.raises(ConfigError, match=names.replace("[", r"\[").replace("+", r"\+")):
        load_config(overrides=[override])


def test_saved_config_reloads_identically(tmp_path):
    cfg = load_config(overrides=["training.alpha=[1.0, 1.5, 2.0]", "data.feature_columns=[Age]"])
    again = load_config(cfg.save(tmp_path / "run" / "config.yaml"))
    assert again == cfg and isinstance(again, Config)


def test_demo_config_file_is_valid():
    cfg = load_config("dfu/configs/demo.yaml")
    assert cfg.folds.n_folds >= 2 and cfg.search.combinations


def test_the_report_health_and_batchnorm_settings_are_config_keys():
    cfg = load_config()
    assert (cfg.report.resamples, cfg.report.seed, cfg.report.level) == (2000, 0, 0.95)
    t = cfg.training
    assert (t.collapse_fraction, t.loss_drop, t.min_weight_change) == (0.98, 0.01, 1e-4)
    assert cfg.model.batchnorm_momentum == 0.9
    bad_values = (
        "report.level=1.5",
        "report.resamples=0",
        "training.collapse_fraction=0",
        "training.loss_drop=1",
        "model.batchnorm_momentum=1",
    )
    for bad in bad_values:
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            load_config(overrides=[bad])


def test_outer_folds_are_the_configured_ones_or_all():
    assert load_config(overrides=["folds.n_folds=4"]).outer_folds() == [0, 1, 2, 3]
    assert load_config(overrides=["search.folds=[2, 0]"]).outer_folds() == [2, 0]


def test_the_tests_tiny_config_is_shipped_and_valid():
    from tests.helpers.paths import TINY_CONFIG

    cfg = load_config(TINY_CONFIG)
    assert cfg.data.image_size == 16 and cfg.outer_folds() == [0, 1]
    assert cfg.training.pretrain.epochs == cfg.training.stage1.epochs == 1
    assert cfg.training.pretrain.warmup == 3  # a partial section keeps its other defaults
