"""rumpy core: a plugin-based trainer for image super-resolution and degradation regression.

Plugins import what they need from here::

    import rumpycore

    @rumpycore.hookimpl
    def register_models(register):
        register(rumpycore.ModelSpec(name="MyNet", build=..., params=MyParams))
"""

from .errors import ConfigError, DataError, PluginError, UserError
from .hookspecs import hookimpl
from .metrics.base import Metric
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

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "DatasetContext",
    "DatasetSpec",
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
