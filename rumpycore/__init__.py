"""rumpy core: a plugin-based trainer for image super-resolution and degradation regression.

Plugins import what they need from here::

    import rumpycore

    @rumpycore.hookimpl
    def register_models(register):
        register(rumpycore.ModelSpec(name="MyNet", build=..., params=MyParams))
"""

from typing import TYPE_CHECKING, Any

from .errors import ConfigError, DataError, PluginError, UserError
from .hookspecs import hookimpl
from .params import option
from .specs import (
    DatasetContext,
    DatasetSpec,
    LoggerSpec,
    MetricContext,
    MetricSpec,
    ModelContext,
    ModelSpec,
    NoParams,
    SchedulerContext,
    SchedulerSpec,
)

if TYPE_CHECKING:
    from .loggers.base import LoggerContext
    from .metrics.base import Metric

__version__ = "0.1.0"

# Exports that import torch load on first use, so that `rumpy --help` starts quickly.
_LAZY = {"Metric": "metrics.base", "LoggerContext": "loggers.base"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "DataError",
    "DatasetContext",
    "DatasetSpec",
    "LoggerContext",
    "LoggerSpec",
    "Metric",
    "MetricContext",
    "MetricSpec",
    "ModelContext",
    "ModelSpec",
    "NoParams",
    "PluginError",
    "SchedulerContext",
    "SchedulerSpec",
    "UserError",
    "__version__",
    "hookimpl",
    "option",
]
