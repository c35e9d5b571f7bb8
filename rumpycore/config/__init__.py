"""TOML config: reading and command-line overrides (:mod:`.reading`), the typed sections
(:mod:`.schema`), validation with every plugin name resolved (:mod:`.resolve`), and the
validated run (:mod:`.resolved`).

Relative paths in a config resolve against the folder that holds the config file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .reading import apply_overrides, apply_set, parse_value, read_toml
from .resolve import (
    TOP_LEVEL_KEYS,
    enabled_callback_names,
    enabled_logger_names,
    resolve_metrics,
    resolve_path,
    summary_columns,
    validate,
)
from .resolved import (
    CallbackChoice,
    DataSet,
    LoggerChoice,
    LossChoice,
    MetricChoice,
    NetworkConfig,
    RunConfig,
)
from .schema import DataConfig, InitFrom, NetworkParams, OptimizerParams, TrainingConfig


def load(path: Path, training_overrides: Mapping[str, Any] | None = None,
         sets: list[str] | None = None, experiment_name: str | None = None) -> RunConfig:
    """Read, override and validate a config file."""
    raw = read_toml(path)
    apply_overrides(raw, training_overrides or {}, sets or [], experiment_name)
    return validate(raw, path)


__all__ = [
    "TOP_LEVEL_KEYS", "CallbackChoice", "DataConfig", "DataSet", "InitFrom", "LoggerChoice", "LossChoice",
    "MetricChoice", "NetworkConfig", "NetworkParams", "OptimizerParams", "RunConfig", "TrainingConfig",
    "apply_overrides", "apply_set", "enabled_callback_names", "enabled_logger_names", "load", "parse_value",
    "read_toml", "resolve_metrics", "resolve_path", "summary_columns", "validate",
]
