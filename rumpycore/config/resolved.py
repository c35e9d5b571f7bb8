"""A validated run: the typed sections with every plugin name resolved to its registered spec."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..params import absolute_paths
from ..plugins import Registered
from ..specs import (
    CallbackSpec,
    DatasetSpec,
    LoggerSpec,
    LossSpec,
    MetricSpec,
    ModelSpec,
    SchedulerSpec,
    TaskSpec,
)
from .schema import DataConfig, InitFrom, NetworkParams, OptimizerParams, TrainingConfig


INVOCATION_KEYS = ("continue_from_epoch", "overwrite_data", "branch_root", "new_branch", "new_branch_name")
"""``[training]`` keys about how one command was started (resume, replace, branch), left out of the
config written into an experiment: that config describes the run, and a fresh ``rumpy train`` on it
reproduces it."""


@dataclass
class DataSet:
    """One validated ``[data.training_sets.<id>]`` or ``[data.eval_sets.<id>]`` table."""

    set_id: str
    where: str
    dataset: Registered[DatasetSpec]
    params: Any


@dataclass
class MetricChoice:
    """A metric named in ``[training] metrics`` with its validated settings."""

    name: str
    metric: Registered[MetricSpec]
    params: Any


@dataclass
class LoggerChoice:
    """A logger enabled for the run (by its option or ``[training] loggers``) with its settings."""

    name: str
    logger: Registered[LoggerSpec]
    params: Any


@dataclass
class CallbackChoice:
    """A callback enabled for the run (by its option or ``[training] callbacks``) with its settings."""

    name: str
    callback: Registered[CallbackSpec]
    params: Any


@dataclass
class LossChoice:
    """A loss of a network with its weight and validated settings."""

    name: str
    loss: Registered[LossSpec]
    weight: float
    params: Any


@dataclass
class NetworkConfig:
    """One network of the run: the model filling a task's role, its own parameters and how it is
    trained (optimizer, scheduler, losses, initial weights). ``where`` is its table
    (``model`` or ``model.<role>``)."""

    role: str
    where: str
    model: Registered[ModelSpec]
    params: Any
    training: NetworkParams
    optimizer: OptimizerParams
    scheduler: Registered[SchedulerSpec] | None
    scheduler_params: Any
    losses: list[LossChoice]
    init_from: InitFrom | None

    @property
    def metadata(self) -> tuple[str, ...]:
        """Metadata names the model consumes (or, for a regression model, predicts)."""
        spec = self.model.spec
        return tuple(spec.metadata(self.params)) if spec.metadata else ()

    def resolved(self, scale: int | None) -> dict:
        """The network's table with every default filled in, as written to ``config.toml``."""
        internal = _without_none(asdict(self.training))
        internal.pop("loss", None)  # written as the losses it stands for
        if scale is None:
            internal.pop("scale", None)
        internal["optimizer_params"] = asdict(self.optimizer)
        internal["losses"] = {c.name: {"weight": c.weight, **_without_none(asdict(c.params))} for c in self.losses}
        if self.scheduler is not None:
            internal["scheduler"] = self.scheduler.spec.name
            internal["scheduler_params"] = _without_none(asdict(self.scheduler_params))
        if self.init_from is not None:
            internal["init_from"] = _without_none(asdict(self.init_from))
        internal.update(_without_none(asdict(self.params)))
        return {"name": self.model.spec.name, "internal_params": internal}


@dataclass
class RunConfig:
    """A fully validated run: typed sections, resolved plugin specs, and the merged raw dict."""

    path: Path
    raw: dict
    experiment: str
    experiment_group: str | None
    save_loc: Path
    aim_home: Path
    """The Aim repository folder: ``aim_home`` (relative to the config's folder), else the save location."""
    training: TrainingConfig
    task: Registered[TaskSpec]
    task_params: Any
    networks: dict[str, NetworkConfig]
    """Every network by role, the ``[model]`` table's first."""
    data: DataConfig
    training_sets: list[DataSet]
    eval_sets: list[DataSet]
    metrics: list[MetricChoice]
    loggers: list[LoggerChoice] = field(default_factory=list)
    callbacks: list[CallbackChoice] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths in the config are resolved against."""
        return self.path.parent

    @property
    def primary(self) -> NetworkConfig:
        """The network of the ``[model]`` table."""
        return next(iter(self.networks.values()))

    @property
    def model(self) -> Registered[ModelSpec]:
        """The model of the ``[model]`` table."""
        return self.primary.model

    @property
    def model_params(self) -> Any:
        """The own parameters of the ``[model]`` table's model."""
        return self.primary.params

    @property
    def task_name(self) -> str:
        """The registered name of the run's task."""
        return self.task.spec.name

    @property
    def scale(self) -> int:
        """The super-resolution scale (1 for models without one)."""
        return self.primary.training.scale or 1

    @property
    def model_metadata(self) -> tuple[str, ...]:
        """Metadata names the ``[model]`` model consumes (or predicts, for a regression task)."""
        return self.primary.metadata

    @property
    def best_metric(self) -> str:
        """Summary column that selects the best epoch: as configured, else the task's default when
        the run reports it, else ``val-loss``."""
        if self.training.best_metric:
            return self.training.best_metric
        default = self.task.spec.best_metric
        reported = {f"val-{m.name}".lower() for m in self.metrics}
        return default if default and default.lower() in reported else "val-loss"

    @property
    def early_stopping_metric(self) -> str:
        """Summary column early stopping watches: as configured, else the task's default."""
        return self.training.early_stopping_metric or self.task.spec.early_stopping_metric

    def resolved(self) -> dict:
        """The config with every default filled in (the networks', the task's, and those of the
        metrics, loggers and callbacks the run uses), as written to the experiment folder."""
        primary = self.primary
        model_table = {"name": primary.model.spec.name, "task": self.task_name,
                       **{k: v for k, v in primary.resolved(self.primary.training.scale).items() if k != "name"}}
        task_params = _without_none(asdict(self.task_params))
        if task_params:
            model_table["task_params"] = task_params
        for role, network in list(self.networks.items())[1:]:
            model_table[role] = network.resolved(None)
        data = _without_none(asdict(self.data))
        data["training_sets"] = {s.set_id: _set_table(s, self.base_dir) for s in self.training_sets}
        data["eval_sets"] = {s.set_id: _set_table(s, self.base_dir) for s in self.eval_sets}
        out: dict[str, Any] = {"experiment": self.experiment, "experiment_save_loc": str(self.save_loc)}
        if self.experiment_group:
            out["experiment_group"] = self.experiment_group
        training = _without_none(absolute_paths(self.training, self.base_dir))
        for key in INVOCATION_KEYS:  # how this command was started, not what the run is
            training.pop(key, None)
        for key, choices in (("metric_params", self.metrics), ("logger_params", self.loggers),
                             ("callback_params", self.callbacks)):
            training.pop(key, None)
            tables = _without_none({c.name: _without_none(absolute_paths(c.params, self.base_dir)) for c in choices})
            if tables:
                training[key] = tables
        out["training"] = training
        out["model"] = model_table
        out["data"] = data
        return out


def _without_none(d: dict) -> dict:
    # TOML has no null: an unset optional key is simply absent from the written config.
    return {k: v for k, v in d.items() if v is not None and v != {}}


def _set_table(s: DataSet, base: Path) -> dict:
    table = {"type": s.dataset.spec.name}
    table.update(_without_none(absolute_paths(s.params, base)))
    return table
