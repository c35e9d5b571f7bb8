"""rumpy core: a plugin-based trainer for image super-resolution and degradation regression.

Plugins import what they need from here::

    import rumpycore

    @rumpycore.hookimpl
    def register_models(register):
        register(rumpycore.ModelSpec(name="MyNet", build=..., params=MyParams))
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, DataError, PluginError, UserError
from .hookspecs import hookimpl
from .params import option
from .specs import (
    CallbackSpec,
    DatasetContext,
    DatasetSpec,
    DetectedModel,
    InputSize,
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

if TYPE_CHECKING:
    from .callbacks.base import Callback, CallbackContext, RunInfo, StepInfo
    from .loggers.base import Logger, LoggerContext
    from .metrics.base import Metric
    from .tasks.base import EvalResult, Sample, Task, TaskContext
    from .training.networks import Network

__version__ = "0.1.0"

# Exports that import torch load on first use, so that `rumpy --help` starts quickly.
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
    "Metric": "rumpycore.metrics.base",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Callback",
    "CallbackContext",
    "CallbackSpec",
    "ConfigError",
    "DataError",
    "DatasetContext",
    "DatasetSpec",
    "DetectedModel",
    "EvalResult",
    "InputSize",
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
