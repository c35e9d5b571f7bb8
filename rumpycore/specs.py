"""What a plugin hands to ``register(...)``: one small spec per component.

A spec is data the core can list, validate against and document: a name, a factory, and a
params dataclass (see :mod:`rumpycore.params`) describing the component's settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Task = str
"""A task's registered name (``"sisr"``, ``"regression"``, or one a plugin registers)."""

SPEED_OPTIONS = ("channels_last", "compile", "cuda_graph", "bf16", "fp16")


@dataclass
class NoParams:
    """Params dataclass for a component that takes no settings."""


@dataclass(frozen=True)
class ModelContext:
    """What a model factory learns from the run besides its own params.

    ``metadata_dims`` maps each metadata name the model asked for (through
    ``ModelSpec.metadata``) to the number of values it carries per image, in the order the
    values arrive; for a regression model these are its targets.
    """

    scale: int
    metadata_dims: Mapping[str, int] = field(default_factory=dict)
    in_channels: int = 3

    @property
    def metadata_size(self) -> int:
        """Total length of the metadata vector one image carries."""
        return sum(self.metadata_dims.values())


@dataclass(frozen=True)
class InputSize:
    """What a model needs of its input's height and width (window attention without padding of its
    own): multiples of ``multiple``, and at least ``minimum`` pixels.

    Training crops are checked against it before anything is written; evaluation pads the input
    (reflection, then replication) to the next size that fits and crops the output back.
    """

    multiple: int = 1
    minimum: int = 1

    def fits(self, size: int) -> bool:
        """Whether a side of ``size`` pixels is accepted."""
        return size >= self.minimum and size % self.multiple == 0

    def padded(self, size: int) -> int:
        """The smallest accepted side of at least ``size`` pixels."""
        size = max(size, self.minimum)
        return -(-size // self.multiple) * self.multiple


@dataclass(frozen=True)
class DetectedModel:
    """A model recognised from a state dict (``ModelSpec.detect``): the scale it was trained for,
    its ``[model.internal_params]`` (the model's own keys) and its weights in the layout the
    model's ``build`` gives (converted when the file used another one)."""

    scale: int
    params: Mapping[str, Any]
    weights: Mapping[str, Any]
    note: str = ""
    """What was recognised, for the one line that reports it (``SwinIR (spandrel), converted from ...``)."""


@dataclass(frozen=True)
class ModelSpec:
    """A network architecture a plugin provides.

    - ``build(params, context)`` returns a ``torch.nn.Module``. SISR models take an RGB batch
      in [0, 1] (``N x 3 x h x w``) and return ``N x 3 x (h*scale) x (w*scale)``. Regression
      models take the image and return ``N x context.metadata_size`` predictions. Models of a
      plugin's own kind (``task = "discriminator"``, say) take what its task gives them.
    - ``params``: dataclass of ``[model.internal_params]`` keys (see :func:`rumpycore.option`).
    - ``metadata(params)``: the metadata column names the model consumes (SISR) or predicts
      (regression); checked against the data before training starts. A SISR model for which
      it returns names is called as ``model(lr, metadata)`` with one float vector per image
      (``N x context.metadata_size``, the names' values concatenated in order).
    - ``inputs``: extra image inputs; ``("lr_interp",)`` means the model takes the LR image
      pre-upscaled to the HR size instead of the LR image.
    - ``unsupported``: speed options (see ``SPEED_OPTIONS``) the model cannot use, each with a
      one-line reason; the trainer falls back and says so.
    - ``cpu_channels_last``: the model trains faster on the CPU in the channels_last layout
      (measure it: ``benchmarks/channels_last_cpu.py``); it is then the CPU default too.
    - ``presets``: named published configurations (name -> the model's own keys);
      ``preset = "<name>"`` in ``internal_params`` fills the keys a config does not give.
    - ``input_size(params)``: an :class:`InputSize` when the input's sides must be multiples of a
      window size (or have a minimum); None or ``InputSize()`` when any size works.
    - ``detect(state_dict)``: a :class:`DetectedModel` when the weights are this model's (in its
      own or a foreign layout it converts, such as the official EDSR code's), else None; used by
      ``rumpy eval -me FILE -``, ``rumpy export`` and ``init_from = {file, convert = true}``.
    - ``fallback``: registered only when no other plugin registers a model of the same name (a
      library of architectures yields to a plugin dedicated to one of them).
    - ``paper``: the publication, for the README's model table.
    """

    name: str
    build: Callable[[Any, ModelContext], Any]
    params: type = NoParams
    task: Task = "sisr"
    """The task that trains the model when a config names no task, and the kind of network it is:
    a task's network roles accept models of given tasks (a GAN's generator, ``"sisr"`` models)."""
    scales: tuple[int, ...] = (2, 3, 4)
    inputs: tuple[str, ...] = ()
    online_pipeline: Mapping[str, Any] | None = None
    metadata: Callable[[Any], Sequence[str]] | None = None
    summary: str = ""
    unsupported: Mapping[str, str] = field(default_factory=dict)
    cpu_channels_last: bool = False
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    input_size: Callable[[Any], InputSize] | None = None
    detect: Callable[[Mapping[str, Any]], DetectedModel | None] | None = None
    fallback: bool = False
    paper: str = ""

    def size_rule(self, params: Any) -> InputSize:
        """What the model needs of its input's sides with these params (any size: ``InputSize()``)."""
        return self.input_size(params) if self.input_size is not None else InputSize()


@dataclass(frozen=True)
class DatasetContext:
    """What a dataset factory learns from the run.

    ``base_dir`` is the folder of the config file: relative paths are resolved against it.
    ``metadata`` lists the metadata columns the model needs from each item. ``inputs`` are
    the model's extra image inputs (``ModelSpec.inputs``): with ``"lr_interp"``, items must
    carry ``"lr_interp"``, the LR image upscaled to the HR size. ``online_pipeline`` is the
    ``[data.online_pipeline]`` table (if any), for sets that degrade HR images on the fly.
    """

    set_id: str
    split: Literal["train", "eval"]
    scale: int
    task: Task
    base_dir: Any
    metadata: tuple[str, ...] = ()
    needs_hr: bool = True
    inputs: tuple[str, ...] = ()
    online_pipeline: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset type for ``[data.training_sets.*]`` / ``[data.eval_sets.*]`` tables.

    ``build(params, context)`` returns a ``torch.utils.data.Dataset`` whose items are dicts
    with ``"lr"`` (uint8 tensor ``3 x h x w``), ``"hr"`` (uint8 ``3 x H x W``, SISR), ``"name"``
    (str) and, when metadata was asked for, ``"metadata"`` (float32 vector of raw values)
    plus a ``metadata_dims`` attribute (name -> values per image) and a ``metadata_values()``
    method (all images' raw vectors, images x values) from which the core computes the
    normalisation. Training items are fetched with a key ``(index, seed)`` that seeds the
    random crop and augmentation, so every sample is reproducible whatever worker loads it;
    evaluation items with an int.
    """

    name: str
    build: Callable[[Any, DatasetContext], Any]
    params: type = NoParams
    summary: str = ""


@dataclass(frozen=True)
class MetricContext:
    """What a metric factory learns from the run.

    ``target_dims`` maps each target of a regression model to its number of values, in the
    order the values appear in a prediction (empty for SISR).
    """

    scale: int
    device: Any
    channel: Literal["y", "y_basicsr", "rgb"] = "y"
    crop_border: int | None = None
    target_dims: Mapping[str, int] = field(default_factory=dict)

    @property
    def target_names(self) -> tuple[str, ...]:
        """The regression targets, in order."""
        return tuple(self.target_dims)


@dataclass(frozen=True)
class MetricSpec:
    """An evaluation metric.

    ``build(params, context)`` returns a :class:`rumpycore.Metric`: its
    ``values(prediction, target, batch)`` gives one row per image (``batch`` is the batch dict,
    with e.g. ``"gray"`` flags and image names), and ``reduce(values)`` turns all rows of an
    evaluation into the reported number. ``higher_is_better`` drives best-epoch
    selection and early stopping. ``task`` says which task's outputs it measures.
    ``check(params)``, if given, runs before training to fail early (e.g. missing weights).
    """

    name: str
    build: Callable[[Any, MetricContext], Any]
    higher_is_better: bool
    params: type = NoParams
    task: Task = "sisr"
    summary: str = ""
    check: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class SchedulerContext:
    """What a scheduler factory learns from the run.

    ``captured_step`` is true when every training step replays a CUDA graph: the learning
    rate (a device tensor the scheduler updates in place) still reaches the step, but other
    hyperparameters such as Adam's betas are fixed at capture, so a scheduler that changes
    them must refuse with a :class:`~rumpycore.errors.ConfigError`.
    """

    steps_per_epoch: int
    num_epochs: int
    lr: float
    captured_step: bool = False
    total_steps: int | None = None
    """Optimizer steps the whole run takes (``num_iterations``, or ``steps_per_epoch * num_epochs``)."""

    @property
    def run_steps(self) -> int:
        """The run's optimizer steps: ``total_steps``, else ``steps_per_epoch * num_epochs``."""
        return self.total_steps if self.total_steps is not None else self.steps_per_epoch * self.num_epochs


@dataclass(frozen=True)
class SchedulerSpec:
    """A learning-rate scheduler.

    ``build(optimizer, params, context)`` returns a torch LR scheduler. ``interval`` is
    ``"batch"`` (stepped after every optimizer step, as the original toolbox did) or ``"epoch"``.
    """

    name: str
    build: Callable[[Any, Any, SchedulerContext], Any]
    params: type = NoParams
    interval: Literal["batch", "epoch"] = "batch"
    summary: str = ""


@dataclass(frozen=True)
class LoggerSpec:
    """A training logger: receives run, epoch and sample events from the trainer.

    ``build(params, context)`` gets a :class:`rumpycore.LoggerContext` and returns an object
    implementing any of the methods of :class:`rumpycore.loggers.base.Logger`.
    """

    name: str
    build: Callable[[Any, Any], Any]
    params: type = NoParams
    summary: str = ""


@dataclass(frozen=True)
class NetworkRole:
    """One network a task trains: ``model`` is the ``[model]`` table itself, any other role has its
    own ``[model.<role>]`` table (``name``, ``internal_params``).

    ``accepts`` lists the model kinds (``ModelSpec.task``) that may fill the role;
    ``default_model`` fills it when the config names none; an ``optional`` role without a
    model is left out. ``losses`` are the role's default losses (name -> weight) when its
    ``internal_params`` give none. ``init_from_key`` names a key of the ``[model]`` table's
    ``internal_params`` that gives this role's starting weights as the original toolbox wrote
    it (a path): a weights file, or an experiment folder (its best epoch's ``model`` network),
    becomes the role's ``init_from``.
    """

    name: str
    accepts: tuple[str, ...]
    default_model: str | None = None
    optional: bool = False
    losses: Mapping[str, float] = field(default_factory=dict)
    summary: str = ""
    init_from_key: str | None = None


@dataclass(frozen=True)
class TaskSpec:
    """A kind of training: which networks it builds, how a step trains them, how it evaluates.

    - ``build(params, context)`` returns a :class:`rumpycore.Task` for a run (or for ``rumpy eval``,
      without optimizers); ``params`` describes ``[model.task_params]``.
    - ``roles``: the networks, the first of them the ``[model]`` table (see :class:`NetworkRole`).
    - ``metrics``: default ``[training] metrics``; ``metric_kind``: which metrics may measure it
      (``MetricSpec.task``); ``best_metric``: the default column that picks the best epoch
      (used when the run reports it, else ``val-loss``); ``early_stopping_metric`` likewise.
    - ``output``: ``"image"`` when :meth:`rumpycore.Task.predict` returns super-resolved images
      (then ``rumpy eval`` can evaluate it), ``"values"`` when it predicts metadata values.
    - ``needs_hr``: whether its data sets must give HR images; ``metadata``: what the primary
      model's metadata names are to it, ``"inputs"`` (fed to the model) or ``"targets"``
      (predicted, as regression does).
    - ``writes``: the logger that writes its evaluation outputs each epoch when ``save_samples``.
    - ``unsupported``: speed options its step cannot use (see ``SPEED_OPTIONS``), with a reason.
    """

    name: str
    build: Callable[[Any, Any], Any]
    params: type = NoParams
    roles: tuple[NetworkRole, ...] = (NetworkRole("model", ("sisr",)),)
    metrics: tuple[str, ...] = ("PSNR", "SSIM")
    metric_kind: str = "sisr"
    best_metric: str | None = None
    early_stopping_metric: str = "val-loss"
    output: Literal["image", "values", "none"] = "image"
    needs_hr: bool = True
    metadata: Literal["inputs", "targets"] = "inputs"
    writes: str | None = "samples"
    unsupported: Mapping[str, str] = field(default_factory=dict)
    summary: str = ""

    @property
    def primary(self) -> NetworkRole:
        """The role of the ``[model]`` table."""
        return self.roles[0]


@dataclass(frozen=True)
class LossContext:
    """What a loss factory learns from the run: the device and the network role it trains."""

    device: Any
    role: str = "model"


@dataclass(frozen=True)
class LossSpec:
    """A training loss usable in ``[model.internal_params.losses.<name>]``.

    ``build(params, context)`` returns a ``torch.nn.Module`` whose ``forward(prediction, target)``
    gives one value per image (``N``); a run's losses are summed with their ``weight``.
    ``check(params)``, if given, runs before anything is written (e.g. missing weights).
    """

    name: str
    build: Callable[[Any, LossContext], Any]
    params: type = NoParams
    summary: str = ""
    check: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class CallbackSpec:
    """Something that watches or changes a run, enabled with ``[training] callbacks = [...]``.

    ``build(params, context)`` gets a :class:`rumpycore.CallbackContext` and returns a
    :class:`rumpycore.Callback`: it receives the run's events and keeps its own state
    (``state_dict``/``load_state_dict``), which every checkpoint stores. An exception in a
    callback ends the run (a logger's is only reported).
    """

    name: str
    build: Callable[[Any, Any], Any]
    params: type = NoParams
    summary: str = ""
