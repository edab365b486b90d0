"""The configuration as a whole (``Config``) and how it is read: YAML file + dotted overrides.

A run is configured by an optional YAML file (same nesting as the sections of
``dfu.config.sections``) plus dotted overrides such as ``training.stage1.epochs=3``. Every key
is checked against the sections' dataclasses and coerced to its type, and every error names
the offending key; then ``dfu.config.validation`` checks the ranges. The resolved config is
saved beside every output.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dfu.config import sections, validation
from dfu.config.sections import ConfigError


@dataclass
class Config:
    data: sections.DataConfig = field(default_factory=sections.DataConfig)
    folds: sections.FoldConfig = field(default_factory=sections.FoldConfig)
    metadata: sections.MetadataModelConfig = field(default_factory=sections.MetadataModelConfig)
    model: sections.ModelConfig = field(default_factory=sections.ModelConfig)
    training: sections.TrainingConfig = field(default_factory=sections.TrainingConfig)
    baseline: sections.BaselineConfig = field(default_factory=sections.BaselineConfig)
    search: sections.SearchConfig = field(default_factory=sections.SearchConfig)
    report: sections.ReportConfig = field(default_factory=sections.ReportConfig)

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

    def outer_folds(self) -> list[int]:
        """The outer folds a run scores: ``search.folds``, default all ``folds.n_folds``."""
        if self.search.folds is not None:
            return list(self.search.folds)
        return list(range(self.folds.n_folds))


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


def validate(config: Config) -> None:
    """Range checks that types alone cannot express, section by section."""
    validation.check_data(config.data)
    validation.check_folds(config.folds)
    validation.check_metadata(config.metadata)
    validation.check_model(config.model)
    validation.check_training(config.training)
    validation.check_baseline(config.baseline)
    validation.check_search(config.search, config.folds.n_folds)
    validation.check_report(config.report)


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
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(hint, value, key)
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        item = typing.get_args(hint)[0]
        return [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    return _coerce_scalar(hint, value, key)


def _coerce_union(hint: Any, value: Any, key: str) -> Any:
    args = typing.get_args(hint)
    if value is None and type(None) in args:
        return None
    errors = []
    for arg in (a for a in args if a is not type(None)):
        try:
            return _coerce(arg, value, key)
        except ConfigError as err:
            errors.append(str(err))
    raise ConfigError(errors[-1] if len(errors) == 1 else f"{key}: {value!r} fits none of {hint}")


def _coerce_scalar(hint: Any, value: Any, key: str) -> Any:
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
