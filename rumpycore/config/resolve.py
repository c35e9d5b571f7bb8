"""Validation: a raw config dict to a :class:`RunConfig`, every plugin name resolved.

Validation is complete before anything is written: every mistake is a one-line
:class:`ConfigError` naming the key. The model and the task are resolved first, since they
decide much of what else is valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import params as P
from ..data.online import pipeline_scale
from ..errors import ConfigError
from ..legacy import (
    drop_original_keys,
    drop_original_model_keys,
    drop_original_set_keys,
    drop_repeated_scheduler,
    drop_unmeasured_metrics,
)
from ..plugins import (
    Registered,
    callback_registry,
    dataset_registry,
    host,
    logger_registry,
    loss_registry,
    metric_registry,
    model_registry,
    scheduler_registry,
    task_registry,
)
from ..resources import local_files_checked
from ..safety import folder_name, user_path
from ..specs import ModelSpec, NetworkRole, TaskSpec
from ..store.weights import WEIGHT_SUFFIXES
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

TOP_LEVEL_KEYS = ("experiment", "experiment_save_loc", "experiment_group", "training", "model", "data")
MODEL_KEYS = ("name", "task", "internal_params", "task_params")


def _table(raw: Mapping, key: str, where: str, required: bool = True) -> dict:
    value = raw.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{where}{key}: missing required section [{where}{key}]")
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}{key}: expected a table, got {value!r}")
    return dict(value)


def resolve_path(base: Path, value: str, key: str) -> Path:
    """A path from the config (``~`` expanded, relative to ``base``), absolute and resolved."""
    return user_path(value, base, key).resolve()


def validate(raw: dict, path: Path) -> RunConfig:
    """Turn a raw config dict into a :class:`RunConfig`, or raise a one-line ConfigError."""
    path = path.resolve()
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(P.unknown_key_message("config", key, TOP_LEVEL_KEYS).replace("config.", "", 1))
    model_raw = _table(raw, "model", "")
    task, primary_model = _task_and_model(model_raw)
    networks = _networks(model_raw, task.spec, primary_model, path.parent)
    task_params = P.parse(task.spec.params, _table(model_raw, "task_params", "model.", required=False),
                          "model.task_params")

    if raw.get("experiment") is None:
        raise ConfigError("experiment: missing required key (the experiment folder name)")
    experiment = folder_name(raw["experiment"], "experiment")
    save_loc_raw = raw.get("experiment_save_loc", "results")
    if not isinstance(save_loc_raw, str) or not save_loc_raw.strip():
        raise ConfigError(f"experiment_save_loc: expected a folder path, got {save_loc_raw!r}")
    group = raw.get("experiment_group")
    if group is not None and not isinstance(group, str):
        raise ConfigError(f"experiment_group: expected a string, got {group!r}")

    training = P.parse(TrainingConfig, drop_original_keys(_table(raw, "training", "", required=False)), "training")
    if training.num_epochs and training.epoch_cutoff and training.num_epochs != training.epoch_cutoff:
        raise ConfigError("training.epoch_cutoff: conflicts with training.num_epochs; keep one of them")
    if training.num_iterations is not None and (training.num_epochs or training.epoch_cutoff):
        raise ConfigError("training.num_iterations: given together with num_epochs; a run is counted in epochs or "
                          "in iterations, keep one")
    if training.eval_every_iterations is not None and training.num_iterations is None:
        raise ConfigError("training.eval_every_iterations: only used with num_iterations; set num_iterations or "
                          "use eval_frequency (in epochs)")
    if training.target_epoch is None:
        raise ConfigError("training.num_epochs: missing required key (how many epochs, or num_iterations, to train)")
    if training.self_ensemble and task.spec.output != "image":
        raise ConfigError(f"training.self_ensemble: the {task.spec.name} task does not output images; remove it")
    if training.compile or training.compile_backend != "inductor":
        _check_compile_backend(training.compile_backend)

    data = P.parse(DataConfig, _table(raw, "data", ""), "data")
    primary = networks[task.spec.primary.name].training
    if not primary_model.spec.scales and primary.scale is None and data.online_pipeline is not None:
        primary.scale = pipeline_scale(data.online_pipeline, path.parent)
    if data.task_type is not None:
        # the original's two kinds: super-resolution, and the rest (its regressors and contrastive encoders)
        if (data.task_type in ("sr", "sisr")) != (task.spec.output == "image"):
            raise ConfigError(f"data.task_type: '{data.task_type}' does not match model {primary_model.spec.name}, "
                              f"which is a {task.spec.name} model")
    training_sets = _data_sets(data.training_sets, "data.training_sets")
    eval_sets = _data_sets(data.eval_sets, "data.eval_sets")

    if training.metrics is None:
        training.metrics = list(task.spec.metrics)
    elif task.spec.output == "none":
        training.metrics = drop_unmeasured_metrics(training.metrics, task.spec.name)
    metrics = resolve_metrics(training.metrics, training.metric_params, task.spec.metric_kind, "training.")
    save_loc = resolve_path(path.parent, save_loc_raw, "experiment_save_loc")
    config = RunConfig(
        path=path,
        raw=raw,
        experiment=experiment,
        experiment_group=group,
        save_loc=save_loc,
        aim_home=resolve_path(path.parent, training.aim_home, "training.aim_home") if training.aim_home else save_loc,
        training=training,
        task=task,
        task_params=task_params,
        networks=networks,
        data=data,
        training_sets=training_sets,
        eval_sets=eval_sets,
        metrics=metrics,
        loggers=_loggers(training, task.spec),
        callbacks=_callbacks(training),
    )
    _check_crops(config)
    if task.spec.metadata == "targets" and not config.model_metadata:
        raise ConfigError(f"model.internal_params: {primary_model.spec.name} is a {task.spec.name} model but names "
                          f"no targets; give the metadata columns it should predict")
    _check_columns(config)
    return config


# ---------------------------------------------------------------------------- model, task, networks


def _model(table: Mapping, where: str, role: NetworkRole) -> Registered[ModelSpec] | None:
    name = table.get("name", role.default_model)
    if name is None:
        return None
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name: missing required key (run 'rumpy list-models' to see the choices)")
    return model_registry().get(name, f"{where}.name")


def _task_and_model(model_raw: dict) -> tuple[Registered[TaskSpec], Registered[ModelSpec]]:
    name = model_raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("model.name: missing required key (run 'rumpy list-models' to see the choices)")
    model = model_registry().get(name, "model.name")
    host().report_failures()
    task_name = model_raw.get("task", model.spec.task)
    if not isinstance(task_name, str):
        raise ConfigError(f"model.task: expected a task name, got {task_name!r}")
    task = task_registry().get(task_name, "model.task")
    roles = [role.name for role in task.spec.roles[1:]]
    for key in model_raw:
        if key not in MODEL_KEYS and key not in roles:
            raise ConfigError(P.unknown_key_message("model", key, [*MODEL_KEYS, *roles]))
    _check_accepts(model, task.spec.primary, task.spec, "model.name")
    return task, model


def _check_accepts(model: Registered[ModelSpec], role: NetworkRole, task: TaskSpec, where: str) -> None:
    if model.spec.task not in role.accepts:
        raise ConfigError(f"{where}: {model.spec.name} is a {model.spec.task} model, but the {role.name} of the "
                          f"{task.name} task must be a {' or '.join(role.accepts)} model")


def _moved_init_keys(model_raw: dict, task: TaskSpec, base: Path) -> tuple[dict, dict[str, dict]]:
    """``model_raw`` without the original keys that give other roles' weights
    (``NetworkRole.init_from_key``), and each such role's ``init_from`` table made from its key."""
    internal = dict(_table(model_raw, "internal_params", "model.", required=False))
    moved: dict[str, dict] = {}
    for role in task.roles[1:]:
        key = next((k for k in internal if role.init_from_key and k.lower() == role.init_from_key.lower()), None)
        if key is None:
            continue
        path = internal.pop(key)
        if not isinstance(path, str) or not path:
            raise ConfigError(f"model.internal_params.{key}: expected the path of an experiment folder or weights file, "
                              f"got {path!r}")
        if "init_from" in _table(_table(model_raw, role.name, "model.", required=False), "internal_params",
                                 f"model.{role.name}.", required=False):
            raise ConfigError(f"model.internal_params.{key}: gives the {role.name}'s weights, as does "
                              f"model.{role.name}.internal_params.init_from; keep one")
        is_file = Path(path).suffix.lower() in (".pt", ".pth", ".safetensors")
        found = resolve_path(base, path, f"model.internal_params.{key}")
        if not (found.is_file() if is_file else (found / "config.toml").is_file()):
            kind = "weights file" if is_file else "rumpy experiment folder (no config.toml)"
            raise ConfigError(f"model.internal_params.{key}: {found} is no {kind}; point it at the {role.name}'s "
                              f"experiment or weights file")
        moved[role.name] = {"file": path} if is_file else {"experiment": path, "network": "model"}
    return {**model_raw, "internal_params": internal} if moved else model_raw, moved


def _networks(model_raw: dict, task: TaskSpec, primary: Registered[ModelSpec], base: Path) -> dict[str, NetworkConfig]:
    model_raw, moved = _moved_init_keys(model_raw, task, base)
    networks = {task.primary.name: _network(task.primary, "model", model_raw, primary, task, base)}
    for role in task.roles[1:]:
        where = f"model.{role.name}"
        table = _table(model_raw, role.name, "model.", required=False)
        if role.name in moved:
            internal = _table(table, "internal_params", f"{where}.", required=False)
            table = {**table, "internal_params": {**internal, "init_from": moved[role.name]}}
        for key in table:
            if key not in ("name", "internal_params"):
                raise ConfigError(P.unknown_key_message(where, key, ("name", "internal_params")))
        model = _model(table, where, role)
        if model is None:
            if role.optional:
                continue
            raise ConfigError(f"{where}.name: missing required key; the {task.name} task trains a {role.name} "
                              f"({' or '.join(role.accepts)} model)")
        _check_accepts(model, role, task, f"{where}.name")
        networks[role.name] = _network(role, where, table, model, task, base)
    return networks


def _network(role: NetworkRole, where: str, table: Mapping, model: Registered[ModelSpec], task: TaskSpec,
             base: Path) -> NetworkConfig:
    here = f"{where}.internal_params"
    general, params = _split_internal_params(_table(table, "internal_params", f"{where}.", required=False),
                                             model.spec, here)
    optimizer = P.parse(OptimizerParams, general.optimizer_params, f"{here}.optimizer_params")
    if role is task.primary and model.spec.scales:
        if general.scale is None:
            raise ConfigError(f"{here}.scale: missing required key (the super-resolution scale)")
        if general.scale not in model.spec.scales:
            supported = ", ".join(str(s) for s in model.spec.scales)
            raise ConfigError(f"{here}.scale: {model.spec.name} supports scales {supported}, not {general.scale}")
    elif role is not task.primary and general.scale is not None:
        raise ConfigError(f"{here}.scale: the scale is the run's, set in [model.internal_params]; remove it here")
    scheduler = scheduler_params = None
    if general.scheduler and general.scheduler.lower() != "none":
        scheduler = scheduler_registry().get(general.scheduler, f"{here}.scheduler")
        where_params = f"{here}.scheduler_params"
        scheduler_params = P.parse(scheduler.spec.params,
                                   drop_repeated_scheduler(general.scheduler_params, general.scheduler, where_params),
                                   where_params)
    elif general.scheduler_params:
        raise ConfigError(f"{here}.scheduler_params: given without a scheduler; set scheduler")
    init_from = _init_from(general.init_from, here, base)
    if init_from is not None and init_from.convert and model.spec.detect is None:
        raise ConfigError(f"{here}.init_from.convert: {model.spec.name} converts no other weight layouts; "
                          f"remove convert (map renames key prefixes)")
    return NetworkConfig(role.name, where, model, params, general, optimizer, scheduler, scheduler_params,
                         _losses(general, role, here), init_from)


def _split_internal_params(raw: dict, spec: ModelSpec, where: str) -> tuple[NetworkParams, Any]:
    core_names = P.accepted_names(NetworkParams)
    own_names = P.accepted_names(spec.params)
    raw = drop_original_model_keys(raw, where, core_names | own_names)
    for key in raw:
        if key.lower() not in core_names | own_names:
            known = [i.name for i in (*P.describe(NetworkParams), *P.describe(spec.params))]
            raise ConfigError(P.unknown_key_message(where, key, known))
    core_raw = {k: v for k, v in raw.items() if k.lower() in core_names}
    own_raw = {k: v for k, v in raw.items() if k.lower() not in core_names}
    general = P.parse(NetworkParams, core_raw, where)
    if general.preset is not None:
        own_raw = _with_preset(spec, general.preset, own_raw, P.describe(spec.params), where)
    return general, P.parse(spec.params, own_raw, where)


def _with_preset(spec: ModelSpec, preset: str, given: dict, own: list[P.ParamInfo], where: str) -> dict:
    """The model's own keys: the preset's, then those the config gives (which win)."""
    presets = {name.lower(): name for name in spec.presets}
    if preset.lower() not in presets:
        known = sorted(spec.presets)
        suggestion = P.closest(preset, known)
        hint = f"did you mean {suggestion}? " if suggestion else ""
        raise ConfigError(f"{where}.preset: {spec.name} has no preset '{preset}'; {hint}"
                          f"known: {', '.join(known) if known else 'none'}")
    spelling = {n.lower(): i.name for i in own for n in (i.name, *i.aliases)}
    given_names = {spelling[k.lower()] for k in given}
    values = {k: v for k, v in spec.presets[presets[preset.lower()]].items() if k not in given_names}
    return {**values, **given}


def _losses(general: NetworkParams, role: NetworkRole, where: str) -> list[LossChoice]:
    if general.loss is not None and general.losses:
        raise ConfigError(f"{where}.loss: given together with losses; keep one (loss = '{general.loss}' is "
                          f"losses.{general.loss} with weight 1)")
    tables: Mapping[str, Any] = general.losses
    if general.loss is not None:
        tables = {general.loss: {}}
    elif not tables:
        tables = {name: {"weight": weight} for name, weight in role.losses.items()}
    registry = loss_registry()
    choices = []
    for name, table in tables.items():
        here = f"{where}.losses.{name}"
        if not isinstance(table, Mapping):
            raise ConfigError(f"{here}: expected a table (weight = ..., settings), got {table!r}")
        entry = registry.get(name, here)
        settings = dict(table)
        weight = P.coerce(settings.pop("weight", 1.0), float, f"{here}.weight")
        if weight < 0:
            raise ConfigError(f"{here}.weight: {weight} is below the minimum 0")
        params = P.parse(entry.spec.params, settings, here)
        if entry.spec.check is not None:
            entry.spec.check(params)
        choices.append(LossChoice(entry.spec.name, entry, weight, params))
    return choices


def _init_from(raw: dict | None, where: str, base: Path) -> InitFrom | None:
    if raw is None:
        return None
    here = f"{where}.init_from"
    init = P.parse(InitFrom, raw, here)
    if (init.experiment is None) == (init.file is None):
        raise ConfigError(f"{here}: give either experiment (a rumpy experiment folder) or file (a weights file)")
    if init.file is not None:
        path = resolve_path(base, init.file, f"{here}.file")
        if local_files_checked() and not path.is_file():
            raise ConfigError(f"{here}.file: {path} does not exist; check the path")
        if path.suffix.lower() not in WEIGHT_SUFFIXES:
            raise ConfigError(f"{here}.file: {path.name} is not a .pt, .pth or .safetensors file")
        init.file = str(path)
    else:
        folder = resolve_path(base, init.experiment, f"{here}.experiment")
        if local_files_checked() and not (folder / "config.toml").is_file():
            raise ConfigError(f"{here}.experiment: {folder} is not a rumpy experiment folder (no config.toml)")
        init.experiment = str(folder)
    for old, new in init.map.items():
        if not isinstance(new, str):
            raise ConfigError(f"{here}.map.{old}: expected the new key prefix as a string, got {new!r}")
    return init


# ---------------------------------------------------------------------------- data, metrics, loggers, callbacks


def _check_crops(config: RunConfig) -> None:
    """Training crops must suit the model's input size rule (``ModelSpec.input_size``): a window
    attention model cannot train on patches whose sides are not multiples of its window."""
    model = config.model.spec
    rule = model.size_rule(config.model_params)
    for data_set in config.training_sets:
        crop = getattr(data_set.params, "crop", None)
        if crop and not rule.fits(crop):
            raise ConfigError(
                f"{data_set.where}.crop: {crop} does not suit {model.name}, whose input sides must be multiples of "
                f"{rule.multiple} and at least {rule.minimum} pixels with these parameters; use {rule.padded(crop)}")


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
        table = drop_original_set_keys(table, here, P.accepted_names(dataset.spec.params))
        sets.append(DataSet(set_id, here, dataset, P.parse(dataset.spec.params, table, here)))
    return sets


def resolve_metrics(names: list[str], metric_params: Mapping[str, Any], kind: str,
                    where: str = "") -> list[MetricChoice]:
    """Look up metric names, validate their ``metric_params`` tables and run their checks.

    ``kind`` is what the metrics must measure (a task's ``metric_kind``); ``where`` prefixes
    the keys named in errors (``"training."`` for a training config).
    """
    registry = metric_registry()
    choices = []
    seen = set()
    for i, name in enumerate(names):
        entry = registry.get(name, f"{where}metrics[{i}]")
        if entry.spec.task != kind:
            raise ConfigError(
                f"{where}metrics[{i}]: {entry.spec.name} measures {entry.spec.task} outputs, "
                f"but the model is a {kind} model"
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


def enabled_logger_names(training: TrainingConfig, task: TaskSpec) -> list[str]:
    """Loggers of a run: console, summary and the step losses always, plots/aim by their options,
    the task's evaluation outputs (``TaskSpec.writes``) with ``save_samples``."""
    names = ["console", "summary", "step_loss"]
    if training.logging == "visual":
        names.append("plots")
    if training.save_samples and task.writes:
        names.append(task.writes)
    if training.aim_track:
        names.append("aim")
    return names


def enabled_callback_names(training: TrainingConfig) -> list[str]:
    """The core's callbacks a run's options turn on: the non-finite guard and the best-epoch link
    always, weight averaging with ``ema_decay``, early stopping with ``early_stopping_patience``."""
    names = ["nonfinite_guard", "best_checkpoint"]
    if training.ema_decay:
        names.append("ema")
    if training.early_stopping_patience:
        names.append("early_stopping")
    return names


def _choices(requested: list[tuple[str, str]], registry, params: Mapping[str, Any], where: str) -> list:
    chosen: list[tuple[str, Any]] = []
    for name, key in requested:
        entry = registry.get(name, key)
        if not any(c[0].lower() == entry.spec.name.lower() for c in chosen):
            chosen.append((entry.spec.name, entry))
    for key in params:
        if not any(name.lower() == key.lower() for name, _ in chosen):
            raise ConfigError(f"training.{where}.{key}: {registry.kind} {key} is not enabled for this run")
    resolved = []
    for name, entry in chosen:
        table = next((t for k, t in params.items() if k.lower() == name.lower()), {})
        if not isinstance(table, Mapping):
            raise ConfigError(f"training.{where}.{name}: expected a table, got {table!r}")
        resolved.append((name, entry, P.parse(entry.spec.params, table, f"training.{where}.{name}")))
    return resolved


def _loggers(training: TrainingConfig, task: TaskSpec) -> list[LoggerChoice]:
    requested = [(name, "") for name in enabled_logger_names(training, task)]
    requested += [(name, f"training.loggers[{i}]") for i, name in enumerate(training.loggers)]
    return [LoggerChoice(*c) for c in _choices(requested, logger_registry(), training.logger_params, "logger_params")]


def _callbacks(training: TrainingConfig) -> list[CallbackChoice]:
    requested = [(name, "") for name in enabled_callback_names(training)]
    requested += [(name, f"training.callbacks[{i}]") for i, name in enumerate(training.callbacks)]
    return [CallbackChoice(*c) for c in _choices(requested, callback_registry(), training.callback_params,
                                                  "callback_params")]


def _check_compile_backend(name: str) -> None:
    from torch._dynamo import list_backends

    known = list_backends(exclude_tags=())
    if name not in known:
        suggestion = P.closest(name, known)
        hint = f"did you mean {suggestion}? " if suggestion else ""
        raise ConfigError(f"training.compile_backend: unknown torch.compile backend '{name}'; {hint}"
                          f"known: {', '.join(sorted(known))}")


def summary_columns(config: RunConfig) -> set[str]:
    """Summary columns that metric-watching options may name."""
    columns = {"train-loss", "val-loss"}
    targets = config.model_metadata if config.task.spec.metadata == "targets" else ()
    for choice in config.metrics:
        columns.add(f"val-{choice.name}")
        columns.update(f"val-{choice.name}-{target}" for target in targets)
    return columns


def _check_columns(config: RunConfig) -> None:
    columns = summary_columns(config)
    for key, value in (("best_metric", config.best_metric), ("early_stopping_metric", config.early_stopping_metric)):
        if value not in columns:
            suggestion = P.closest(value, columns)
            hint = f"did you mean {suggestion}? " if suggestion else ""
            raise ConfigError(
                f"training.{key}: '{value}' is not a summary column of this run; {hint}"
                f"choose from {', '.join(sorted(columns))}"
            )
