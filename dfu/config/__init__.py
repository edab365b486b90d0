"""The one typed configuration of dfu-cv: sections with their defaults (``sections``), the
whole read from YAML and dotted overrides (``loading``), range checks (``validation``)."""

from dfu.config.loading import Config, load_config, validate
from dfu.config.sections import (
    AugmentConfig,
    BaselineConfig,
    ConfigError,
    DataConfig,
    FoldConfig,
    MetadataModelConfig,
    ModelConfig,
    ReportConfig,
    SearchConfig,
    StageConfig,
    TrainingConfig,
)

__all__ = [
    "AugmentConfig",
    "BaselineConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "FoldConfig",
    "MetadataModelConfig",
    "ModelConfig",
    "ReportConfig",
    "SearchConfig",
    "StageConfig",
    "TrainingConfig",
    "load_config",
    "validate",
]
