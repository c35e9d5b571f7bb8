"""The plugin contract: one pluggy hook per kind of component.

A plugin is a module (or object) whose functions are marked with ``@rumpycore.hookimpl``
and named after the hooks below. rumpy calls each hook once per plugin, handing it a
``register`` callback; the plugin calls ``register(spec)`` once per component it provides.
A plugin implements only the hooks it needs. The core's own built-ins are registered
through these same hooks (see ``rumpycore/builtins.py``).

Plugins are discovered through the Python entry-point group ``rumpy``::

    [project.entry-points.rumpy]
    myplugin = "my_package_module"
"""

from __future__ import annotations

from typing import Callable

import pluggy

hookspec = pluggy.HookspecMarker("rumpy")
hookimpl = pluggy.HookimplMarker("rumpy")


@hookspec
def register_models(register: Callable) -> None:
    """Register network architectures.

    Call ``register(ModelSpec(...))`` for each model. A :class:`rumpycore.ModelSpec` names
    the model, gives a ``build(params, context)`` factory returning a ``torch.nn.Module``,
    a params dataclass describing ``[model.internal_params]`` keys with types and defaults,
    its task (the default when a config names none, and the kind of network a task's role
    accepts) and the scales it supports. Its ``inputs`` are extra image inputs
    (``("lr_interp",)``: the LR image pre-upscaled to the HR size instead of the LR image); the
    metadata a model consumes (or, for regression, predicts) is its own field,
    ``metadata(params)``, returning the metadata names.
    """


@hookspec
def register_datasets(register: Callable) -> None:
    """Register dataset types usable in ``[data.training_sets.*]`` and ``[data.eval_sets.*]``.

    Call ``register(DatasetSpec(...))``. A set table selects its type with ``type = "<name>"``;
    the remaining keys of the table are validated against the spec's params dataclass and
    passed to ``build(params, context)``, which returns a ``torch.utils.data.Dataset``.
    """


@hookspec
def register_metrics(register: Callable) -> None:
    """Register evaluation metrics usable in ``[training] metrics = [...]``.

    Call ``register(MetricSpec(...))``. ``build(params, context)`` returns a
    :class:`rumpycore.Metric`: its ``values(prediction, target, batch)`` maps a batch of
    predictions and targets (float tensors on the training device) and the batch dict to one
    value (or row) per image, and its ``reduce(values)`` gives the reported number. The spec
    says whether higher values are better, which drives best-epoch selection and early
    stopping, and which task's outputs the metric measures (``"sisr"`` images, or
    ``"regression"`` predictions in the targets' original units).
    """


@hookspec
def register_schedulers(register: Callable) -> None:
    """Register learning-rate schedulers usable in ``[model.internal_params] scheduler``.

    Call ``register(SchedulerSpec(...))``. ``build(optimizer, params, context)`` returns a
    ``torch.optim.lr_scheduler.LRScheduler``; ``scheduler_params`` keys are validated against
    the spec's params dataclass. The spec says whether it steps per batch or per epoch.
    """


@hookspec
def register_loggers(register: Callable) -> None:
    """Register training loggers usable in ``[training] loggers = [...]``.

    Call ``register(LoggerSpec(...))``. ``build(params, context)`` gets a
    :class:`rumpycore.LoggerContext` and returns an object with any of the event methods of
    :class:`rumpycore.loggers.base.Logger` (``run_start``, ``epoch_end``, ``samples``,
    ``per_image``, ``run_end``); the trainer calls them and never reaches into the logger
    otherwise.
    """


@hookspec
def register_tasks(register: Callable) -> None:
    """Register kinds of training usable as ``[model] task = "<name>"``.

    Call ``register(TaskSpec(...))``. A :class:`rumpycore.TaskSpec` names the networks the task
    trains (its roles: ``[model]`` and ``[model.<role>]`` tables), its default metrics, best
    column and losses, what it needs from the data, and a ``build(params, context)`` factory
    returning a :class:`rumpycore.Task`, which owns the training step and the evaluation. The
    core's ``sisr`` and ``regression`` tasks are registered through this hook.
    """


@hookspec
def register_losses(register: Callable) -> None:
    """Register training losses usable in ``[model.internal_params.losses.<name>]``.

    Call ``register(LossSpec(...))``. ``build(params, context)`` returns a module mapping
    predictions and targets to one value per image; the ``weight`` key of the loss's table
    scales it in the weighted sum a task minimises.
    """


@hookspec
def register_callbacks(register: Callable) -> None:
    """Register callbacks usable in ``[training] callbacks = [...]``.

    Call ``register(CallbackSpec(...))``. ``build(params, context)`` returns a
    :class:`rumpycore.Callback`: it receives the run's events (run start, epoch start, step,
    evaluation, checkpoint, epoch end, run end), may ask the run to stop, and keeps state
    that every checkpoint stores and a resume restores.
    """
