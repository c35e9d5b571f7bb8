"""TOML config: reading, command-line overrides, and typed validation against the core's
schema plus the schemas of the plugins the config names.

Validation is complete before anything is written: every mistake is a one-line
:class:`ConfigError` naming the key. Relative paths in a config resolve against the folder
that holds the config file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import toml

from . import params as P
from .errors import ConfigError, UserError
from .legacy import drop_original_keys
from .params import option
from .plugins import (
    Registered,
    host,
    dataset_registry,
    logger_registry,
    metric_registry,
    model_registry,
    scheduler_registry,
)
from .specs import DatasetSpec, LoggerSpec, MetricSpec, ModelSpec, SchedulerSpec, Task
from .tasks import TASK_METRICS

TOP_LEVEL_KEYS = ("experiment", "experiment_save_loc", "experiment_group", "training", "model", "data")


@dataclass
class TrainingConfig:
    """The ``[training]`` section."""

    num_epochs: int | None = option(
        None, min=1, help="train until this epoch (epochs count from 1); a resumed run continues to it"
    )
    epoch_cutoff: int | None = option(None, min=1, help="the original toolbox's name for num_epochs")
    continue_from_epoch: int | Literal["best", "last"] | None = option(
        None, min=1, help="resume from this saved epoch, or 'best' / 'last'"
    )
    seed: int = option(8, min=0, help="seeds model initialisation, data order, crops and augmentation")
    metrics: list[str] | None = option(
        None, help="metrics computed on the eval sets (default: PSNR, SSIM for SISR; MAE, RMSE, R2 for regression)"
    )
    metric_params: dict = option({}, help="per-metric settings: [training.metric_params.<METRIC>]")
    metric_channel: Literal["y", "rgb"] = option(
        "y", help="PSNR/SSIM on the BT.601 Y channel (as SR papers) or on RGB"
    )
    crop_border: int | None = option(None, min=0, help="pixels shaved off each border before PSNR/SSIM (default: scale)")
    eval_frequency: int = option(1, min=1, help="evaluate every this many epochs (and always on the last)")
    best_metric: str | None = option(
        None,
        aliases=("best_load_metric",),
        help="summary column that picks the best epoch (default val-PSNR for SISR, val-MAE for regression, "
             "else val-loss)",
    )
    early_stopping_patience: int | None = option(
        None, min=1, help="stop after this many evaluations without improvement of early_stopping_metric"
    )
    early_stopping_metric: str = option("val-loss", help="summary column watched by early stopping")
    precision: Literal["auto", "fp32", "tf32", "bf16", "fp16"] = option(
        "auto", help="training arithmetic: auto = bf16 on a GPU, fp32 on the CPU (evaluation is always fp32)"
    )
    channels_last: bool | None = option(None, help="NHWC layout for images and convolutions (default: on a GPU)")
    compile: bool = option(False, help="compile the training forward pass with torch.compile")
    compile_backend: str = option("inductor", help="torch.compile backend (inductor; aot_eager for debugging)")
    cuda_graph: bool = option(False, help="capture the whole training step in a CUDA graph and replay it")
    optimizer_impl: Literal["auto", "default", "foreach", "fused"] = option(
        "auto", help="Adam implementation (auto = fused on a GPU)"
    )
    ema_decay: float = option(
        0.0, min=0.0, max=0.99999,
        help="keep an exponential moving average of the weights with this decay (e.g. 0.999), evaluated, "
             "sampled and loaded by rumpy eval in place of the raw weights; 0 = off",
    )
    skip_nonfinite: bool = option(
        False, help="skip batches whose loss is NaN/inf instead of stopping (costs a sync per step on GPUs)"
    )
    skip_optimizer_load: bool = option(
        False, help="when resuming, start Adam afresh, so a changed lr or betas takes effect"
    )
    skip_scheduler_load: bool = option(False, help="when resuming, start the scheduler afresh")
    overwrite_data: bool = option(False, help="allow a new run to replace an existing experiment")
    branch_root: str | None = option(None, help="branch sub-folder to resume from and save into")
    new_branch: bool = option(False, help="resume into a new branch folder")
    new_branch_name: str | None = option(None, help="name of the new branch (default branch_epoch_<N>)")
    logging: Literal["visual", "text"] = option("visual", help="'visual' also draws loss and metric plots")
    save_samples: bool = option(
        True, aliases=("save_model_outputs",),
        help="after each evaluation save its outputs: SISR sample images; regression predictions.csv and plots",
    )
    num_samples: int = option(4, min=1, help="how many eval images save_samples writes")
    gpu: Literal["off", "single", "multiple", "multi"] = option("off", help="'off', 'single' or 'multiple'")
    sp_gpu: int = option(0, min=0, help="GPU index used when gpu = 'single'")
    aim_track: bool = option(True, help="also log the run to an Aim repository")
    aim_home: str | None = option(None, help="Aim repository folder (default: experiment_save_loc)")
    loggers: list[str] = option([], help="extra loggers provided by plugins")
    logger_params: dict = option({}, help="per-logger settings: [training.logger_params.<LOGGER>]")

    @property
    def target_epoch(self) -> int | None:
        """The epoch training stops after (``num_epochs`` or the original ``epoch_cutoff``)."""
        return self.num_epochs if self.num_epochs is not None else self.epoch_cutoff


@dataclass
class OptimizerParams:
    """``[model.internal_params.optimizer_params]``: Adam settings."""

    beta_1: float = option(0.9, min=0.0, max=1.0, help="Adam beta1")
    beta_2: float = option(0.999, min=0.0, max=1.0, help="Adam beta2")
    eps: float = option(1e-8, min=0.0, help="Adam epsilon")
    weight_decay: float = option(0.0, min=0.0, help="L2 weight decay")


@dataclass
class ModelTrainingParams:
    """Keys of ``[model.internal_params]`` that the core handles for every model."""

    lr: float = option(1e-4, min=0.0, help="Adam learning rate")
    scale: int | None = option(None, min=1, help="super-resolution scale (required for SISR models)")
    scheduler: str | None = option(None, help="learning-rate scheduler name (none by default)")
    scheduler_params: dict = option({}, help="settings of the scheduler")
    optimizer_params: dict = option({}, help="Adam settings: beta_1, beta_2, eps, weight_decay")
    grad_clip: float | None = option(None, min=0.0, help="clip the gradient norm to this value (0 = off)")
    loss: Literal["l1", "mse"] = option(
        "l1", help="training loss: 'l1' or 'mse' (SISR: on the pixels; regression: on the normalised targets)"
    )


@dataclass(kw_only=True)
class DataConfig:
    """The ``[data]`` section (the per-set tables are validated by their dataset type)."""

    batch_size: int = option(16, min=1, help="training batch size")
    eval_batch_size: int = option(1, min=1, help="evaluation batch size")
    dataloader_threads: int | None = option(
        None, min=0, help="data loader worker processes (default: the number of CPU cores, at most 8)"
    )
    drop_last_training_batch: bool = option(False, help="drop the last incomplete training batch")
    task_type: Literal["sr", "sisr", "classification", "regression"] | None = option(
        None, help="the original's task selector; the model's task decides, this must agree"
    )
    online_pipeline: dict | None = option(
        None, help="operations (as for rumpy degrade) that sets with online_degradations apply to their HR images"
    )
    metadata_normalization: Literal["minmax", "none"] = option(
        "minmax", help="scale each metadata value to [0, 1] over the training sets ('minmax'), or keep it raw"
    )
    training_sets: dict = option(help="one [data.training_sets.<id>] table per training set")
    eval_sets: dict = option(help="one [data.eval_sets.<id>] table per eval set")


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
class RunConfig:
    """A fully validated run: typed sections, resolved plugin specs, and the merged raw dict."""

    path: Path
    raw: dict
    experiment: str
    experiment_group: str | None
    save_loc: Path
    training: TrainingConfig
    model: Registered[ModelSpec]
    model_params: Any
    general: ModelTrainingParams
    optimizer: OptimizerParams
    data: DataConfig
    training_sets: list[DataSet]
    eval_sets: list[DataSet]
    metrics: list[MetricChoice]
    scheduler: Registered[SchedulerSpec] | None
    scheduler_params: Any
    loggers: list[LoggerChoice] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths in the config are resolved against."""
        return self.path.parent

    @property
    def task(self) -> Task:
        """The task of the selected model."""
        return self.model.spec.task

    @property
    def scale(self) -> int:
        """The super-resolution scale (1 for regression models without one)."""
        return self.general.scale or 1

    @property
    def model_metadata(self) -> tuple[str, ...]:
        """Metadata names the model consumes (SISR) or predicts (regression)."""
        spec = self.model.spec
        return tuple(spec.metadata(self.model_params)) if spec.metadata else ()

    @property
    def best_metric(self) -> str:
        """Summary column that selects the best epoch: as configured, else the task's first
        default metric when the run reports it, else ``val-loss``."""
        if self.training.best_metric:
            return self.training.best_metric
        first = TASK_METRICS[self.task][0]
        return f"val-{first}" if first.upper() in (m.name.upper() for m in self.metrics) else "val-loss"

    def resolved(self) -> dict:
        """The config with every default filled in (the model's, the scheduler's, and those of the
        metrics and loggers the run uses), as written to the experiment folder."""
        model_table = {"name": self.model.spec.name, "internal_params": {}}
        internal = model_table["internal_params"]
        internal.update(_without_none(asdict(self.general)))
        internal.update(_without_none(asdict(self.model_params)))
        if self.raw.get("model", {}).get("internal_params", {}).get("optimizer_params") is not None:
            internal["optimizer_params"] = asdict(self.optimizer)
        if self.scheduler is not None:
            internal["scheduler_params"] = _without_none(asdict(self.scheduler_params))
        data = _without_none(asdict(self.data))
        data["training_sets"] = {s.set_id: _set_table(s) for s in self.training_sets}
        data["eval_sets"] = {s.set_id: _set_table(s) for s in self.eval_sets}
        out: dict[str, Any] = {"experiment": self.experiment, "experiment_save_loc": str(self.save_loc)}
        if self.experiment_group:
            out["experiment_group"] = self.experiment_group
        training = _without_none(asdict(self.training))
        for key, choices in (("metric_params", self.metrics), ("logger_params", self.loggers)):
            training.pop(key, None)
            tables = _without_none({c.name: _without_none(asdict(c.params)) for c in choices})
            if tables:
                training[key] = tables
        out["training"] = training
        out["model"] = model_table
        out["data"] = data
        return out


def _without_none(d: dict) -> dict:
    # TOML has no null: an unset optional key is simply absent from the written config.
    return {k: v for k, v in d.items() if v is not None and v != {}}


def _set_table(s: DataSet) -> dict:
    table = {"type": s.dataset.spec.name}
    table.update(_without_none(asdict(s.params)))
    return table


# ---------------------------------------------------------------------------- reading


def read_toml(path: Path) -> dict:
    """Read a TOML file; a missing or malformed file is a one-line error naming it."""
    if not path.is_file():
        raise UserError(f"{path}: config file not found; check the --parameters path")
    try:
        return toml.load(path)
    except (toml.TomlDecodeError, UnicodeDecodeError, IndexError, TypeError, ValueError) as exc:
        # the toml package reports some malformed input with plain IndexError/TypeError
        raise ConfigError(f"{path}: not valid TOML ({' '.join(str(exc).split())}); fix the syntax") from None


def parse_value(text: str) -> Any:
    """Parse a command-line value as TOML (``3``, ``1e-4``, ``true``, ``[1, 2]``), else a string."""
    try:
        return toml.loads(f"v = {text}")["v"]
    except toml.TomlDecodeError:
        return text


def apply_set(raw: dict, assignment: str) -> None:
    """Apply one ``--set section.key=value`` override to the raw config dict."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment}: expected section.key=value")
    dotted, text = assignment.split("=", 1)
    keys = [k.strip() for k in dotted.strip().split(".") if k.strip()]
    if not keys:
        raise ConfigError(f"--set {assignment}: expected section.key=value")
    table = raw
    for i, key in enumerate(keys[:-1]):
        node = table.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {assignment}: {'.'.join(keys[: i + 1])} is not a table")
        table = node
    table[keys[-1]] = parse_value(text.strip())


def apply_overrides(raw: dict, training: Mapping[str, Any], sets: list[str], experiment_name: str | None) -> dict:
    """Merge command-line overrides into a raw config: flags go to ``[training]``."""
    for key, value in training.items():
        if value is not None:
            raw.setdefault("training", {})[key] = value
    if training.get("num_epochs") is not None:
        # the flag wins over the original toolbox's spelling of the same setting in the file
        raw["training"].pop("epoch_cutoff", None)
    for assignment in sets:
        apply_set(raw, assignment)
    if experiment_name:
        raw["experiment"] = experiment_name
    return raw


# ---------------------------------------------------------------------------- validation


def _table(raw: Mapping, key: str, where: str, required: bool = True) -> dict:
    value = raw.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{where}{key}: missing required section [{where}{key}]")
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}{key}: expected a table, got {value!r}")
    return dict(value)


def _resolve_path(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def validate(raw: dict, path: Path) -> RunConfig:
    """Turn a raw config dict into a :class:`RunConfig`, or raise a one-line ConfigError."""
    path = path.resolve()
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(P.unknown_key_message("config", key, TOP_LEVEL_KEYS).replace("config.", "", 1))
    experiment = raw.get("experiment")
    if not isinstance(experiment, str) or not experiment.strip():
        raise ConfigError("experiment: missing required key (the experiment folder name)")
    if "/" in experiment or "\\" in experiment or experiment in (".", ".."):
        raise ConfigError(f"experiment: {experiment!r} must be a plain folder name, not a path")
    save_loc_raw = raw.get("experiment_save_loc", "results")
    if not isinstance(save_loc_raw, str):
        raise ConfigError(f"experiment_save_loc: expected a string, got {save_loc_raw!r}")
    group = raw.get("experiment_group")
    if group is not None and not isinstance(group, str):
        raise ConfigError(f"experiment_group: expected a string, got {group!r}")

    training = P.parse(TrainingConfig, drop_original_keys(_table(raw, "training", "", required=False)), "training")
    if training.num_epochs and training.epoch_cutoff and training.num_epochs != training.epoch_cutoff:
        raise ConfigError("training.epoch_cutoff: conflicts with training.num_epochs; keep one of them")
    if training.target_epoch is None:
        raise ConfigError("training.num_epochs: missing required key (how many epochs to train)")

    model_raw = _table(raw, "model", "")
    for key in model_raw:
        if key not in ("name", "internal_params"):
            raise ConfigError(P.unknown_key_message("model", key, ("name", "internal_params")))
    name = model_raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("model.name: missing required key (run 'rumpy list-models' to see the choices)")
    model = model_registry().get(name, "model.name")
    host().report_failures()
    general, model_params = _split_internal_params(
        _table(model_raw, "internal_params", "model.", required=False), model.spec
    )
    optimizer = P.parse(OptimizerParams, general.optimizer_params, "model.internal_params.optimizer_params")
    if model.spec.task == "sisr":
        if general.scale is None:
            raise ConfigError("model.internal_params.scale: missing required key (the super-resolution scale)")
        if model.spec.scales and general.scale not in model.spec.scales:
            supported = ", ".join(str(s) for s in model.spec.scales)
            raise ConfigError(
                f"model.internal_params.scale: {model.spec.name} supports scales {supported}, not {general.scale}"
            )

    scheduler = None
    scheduler_params = None
    if general.scheduler and general.scheduler.lower() != "none":
        scheduler = scheduler_registry().get(general.scheduler, "model.internal_params.scheduler")
        scheduler_params = P.parse(
            scheduler.spec.params, general.scheduler_params, "model.internal_params.scheduler_params"
        )
    elif general.scheduler_params:
        raise ConfigError("model.internal_params.scheduler_params: given without a scheduler; set scheduler")

    data = P.parse(DataConfig, _table(raw, "data", ""), "data")
    task = model.spec.task
    if data.task_type is not None:
        wanted = "regression" if data.task_type in ("classification", "regression") else "sisr"
        if wanted != task:
            raise ConfigError(
                f"data.task_type: '{data.task_type}' does not match model {model.spec.name}, "
                f"which is a {task} model"
            )
    training_sets = _data_sets(data.training_sets, "data.training_sets")
    eval_sets = _data_sets(data.eval_sets, "data.eval_sets")

    if training.metrics is None:
        training.metrics = list(TASK_METRICS[task])
    metrics = _metrics(training, task)
    loggers = _loggers(training, task)
    config = RunConfig(
        path=path,
        raw=raw,
        experiment=experiment.strip(),
        experiment_group=group,
        save_loc=_resolve_path(path.parent, save_loc_raw),
        training=training,
        model=model,
        model_params=model_params,
        general=general,
        optimizer=optimizer,
        data=data,
        training_sets=training_sets,
        eval_sets=eval_sets,
        metrics=metrics,
        scheduler=scheduler,
        scheduler_params=scheduler_params,
        loggers=loggers,
    )
    if task == "regression" and not config.model_metadata:
        raise ConfigError(f"model.internal_params: {model.spec.name} is a regression model but names no targets; "
                          f"give the metadata columns it should predict")
    _check_columns(config)
    return config


def _split_internal_params(raw: dict, spec: ModelSpec) -> tuple[ModelTrainingParams, Any]:
    where = "model.internal_params"
    core = P.describe(ModelTrainingParams)
    own = P.describe(spec.params)
    core_names = {n.lower() for i in core for n in (i.name, *i.aliases)}
    own_names = {n.lower() for i in own for n in (i.name, *i.aliases)}
    for key in raw:
        if key.lower() not in core_names | own_names:
            known = [i.name for i in core] + [i.name for i in own]
            raise ConfigError(P.unknown_key_message(where, key, known))
    core_raw = {k: v for k, v in raw.items() if k.lower() in core_names}
    own_raw = {k: v for k, v in raw.items() if k.lower() not in core_names}
    return P.parse(ModelTrainingParams, core_raw, where), P.parse(spec.params, own_raw, where)


def _data_sets(tables: dict, where: str) -> list[DataSet]:
    if not tables:
        raise ConfigError(f"{where}: at least one set is required ([{where}.<id>] with lr/hr folders)")
    sets = []
    for set_id, table in tables.items():
        here = f"{where}.{set_id}"
        if not isinstance(table, Mapping):
            raise ConfigError(f"{here}: expected a table with lr/hr keys, got {table!r}")
        table = dict(table)
        type_name = table.pop("type", "paired")
        if not isinstance(type_name, str):
            raise ConfigError(f"{here}.type: expected a string, got {type_name!r}")
        dataset = dataset_registry().get(type_name, f"{here}.type")
        sets.append(DataSet(set_id, here, dataset, P.parse(dataset.spec.params, table, here)))
    return sets


def _metrics(training: TrainingConfig, task: Task) -> list[MetricChoice]:
    return resolve_metrics(training.metrics, training.metric_params, task, "training.")


def resolve_metrics(names: list[str], metric_params: Mapping[str, Any], task: Task,
                    where: str = "") -> list[MetricChoice]:
    """Look up metric names, validate their ``metric_params`` tables and run their checks.

    ``where`` prefixes the keys named in errors (``"training."`` for a training config).
    """
    registry = metric_registry()
    choices = []
    seen = set()
    for i, name in enumerate(names):
        entry = registry.get(name, f"{where}metrics[{i}]")
        if entry.spec.task != task:
            raise ConfigError(
                f"{where}metrics[{i}]: {entry.spec.name} measures {entry.spec.task} outputs, "
                f"but the model is a {task} model"
            )
        if entry.spec.name.lower() in seen:
            raise ConfigError(f"{where}metrics[{i}]: {entry.spec.name} is listed twice")
        seen.add(entry.spec.name.lower())
        choices.append(MetricChoice(entry.spec.name, entry, None))
    for key, table in metric_params.items():
        match = [c for c in choices if c.name.lower() == key.lower()]
        if not match:
            raise ConfigError(f"{where}metric_params.{key}: {key} is not in {where}metrics")
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}metric_params.{key}: expected a table, got {table!r}")
    for choice in choices:
        table = next((t for k, t in metric_params.items() if k.lower() == choice.name.lower()), {})
        choice.params = P.parse(choice.metric.spec.params, table, f"{where}metric_params.{choice.name}")
        if choice.metric.spec.check is not None:
            choice.metric.spec.check(choice.params)
    return choices


def enabled_logger_names(training: TrainingConfig, task: Task = "sisr") -> list[str]:
    """Loggers of a run: console and summary always, plots/aim by their options, the task's
    eval outputs (SISR: samples; regression: predictions) with ``save_samples``."""
    names = ["console", "summary"]
    if training.logging == "visual":
        names.append("plots")
    if training.save_samples:
        names.append("samples" if task == "sisr" else "predictions")
    if training.aim_track:
        names.append("aim")
    return names


def _loggers(training: TrainingConfig, task: Task) -> list[LoggerChoice]:
    registry = logger_registry()
    choices: list[LoggerChoice] = []
    requested = [(name, "") for name in enabled_logger_names(training, task)]
    requested += [(name, f"training.loggers[{i}]") for i, name in enumerate(training.loggers)]
    for name, where in requested:
        entry = registry.get(name, where)
        if not any(c.name.lower() == entry.spec.name.lower() for c in choices):
            choices.append(LoggerChoice(entry.spec.name, entry, None))
    for key in training.logger_params:
        if not any(c.name.lower() == key.lower() for c in choices):
            raise ConfigError(f"training.logger_params.{key}: logger {key} is not enabled for this run")
    for choice in choices:
        table = next((t for k, t in training.logger_params.items() if k.lower() == choice.name.lower()), {})
        if not isinstance(table, Mapping):
            raise ConfigError(f"training.logger_params.{choice.name}: expected a table, got {table!r}")
        choice.params = P.parse(choice.logger.spec.params, table, f"training.logger_params.{choice.name}")
    return choices


def summary_columns(config: RunConfig) -> set[str]:
    """Summary columns that metric-watching options may name."""
    columns = {"train-loss", "val-loss"}
    targets = config.model_metadata if config.task == "regression" else ()
    for choice in config.metrics:
        columns.add(f"val-{choice.name}")
        columns.update(f"val-{choice.name}-{target}" for target in targets)
    return columns


def _check_columns(config: RunConfig) -> None:
    columns = summary_columns(config)
    for key in ("best_metric", "early_stopping_metric"):
        value = config.best_metric if key == "best_metric" else config.training.early_stopping_metric
        if value not in columns:
            suggestion = P.closest(value, columns)
            hint = f"did you mean {suggestion}? " if suggestion else ""
            raise ConfigError(
                f"training.{key}: '{value}' is not a summary column of this run; {hint}"
                f"choose from {', '.join(sorted(columns))}"
            )


def load(path: Path, training_overrides: Mapping[str, Any] | None = None,
         sets: list[str] | None = None, experiment_name: str | None = None) -> RunConfig:
    """Read, override and validate a config file."""
    raw = read_toml(path)
    apply_overrides(raw, training_overrides or {}, sets or [], experiment_name)
    return validate(raw, path)
