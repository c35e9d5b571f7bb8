"""rumpy core: a plugin-based trainer for image super-resolution and degradation regression.

Plugins import what they need from here::

    import rumpycore

    @rumpycore.hookimpl
    def register_models(register):
        register(rumpycore.ModelSpec(name="MyNet", build=..., params=MyParams))
"""

from importlib import import_module
from typing import Any

from .errors import ConfigError, DataError, PluginError, UserError
from .hookspecs import hookimpl
from .metrics.base import Metric
from .params import option
from .specs import (
    CallbackSpec,
    DatasetContext,
    DatasetSpec,
    LoggerSpec,
    LossContext,
    LossSpec,
    MetricContext,
    MetricSpec,
    ModelContext,
    ModelSpec,
    NetworkRole,
    NoParams,
    SchedulerContext,
    SchedulerSpec,
    TaskSpec,
)

__version__ = "0.1.0"

# the runtime classes behind the specs, imported when first used
_LAZY = {
    "Task": "rumpycore.tasks.base",
    "TaskContext": "rumpycore.tasks.base",
    "EvalResult": "rumpycore.tasks.base",
    "Sample": "rumpycore.tasks.base",
    "SISRTask": "rumpycore.tasks.sisr",
    "Network": "rumpycore.training.networks",
    "Callback": "rumpycore.callbacks.base",
    "CallbackContext": "rumpycore.callbacks.base",
    "RunInfo": "rumpycore.callbacks.base",
    "StepInfo": "rumpycore.callbacks.base",
    "Logger": "rumpycore.loggers.base",
    "LoggerContext": "rumpycore.loggers.base",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rumpycore' has no attribute {name!r}")


__all__ = [
    "Callback",
    "CallbackContext",
    "CallbackSpec",
    "ConfigError",
    "DataError",
    "DatasetContext",
    "DatasetSpec",
    "EvalResult",
    "Logger",
    "LoggerContext",
    "LoggerSpec",
    "LossContext",
    "LossSpec",
    "Metric",
    "MetricContext",
    "MetricSpec",
    "ModelContext",
    "ModelSpec",
    "Network",
    "NetworkRole",
    "NoParams",
    "PluginError",
    "RunInfo",
    "SISRTask",
    "Sample",
    "SchedulerContext",
    "SchedulerSpec",
    "StepInfo",
    "Task",
    "TaskContext",
    "TaskSpec",
    "UserError",
    "__version__",
    "hookimpl",
    "option",
]
