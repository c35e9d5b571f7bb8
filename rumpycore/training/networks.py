"""The networks of a run: each role's model built from its config, its initial weights, and
what trains it (optimizer, scheduler, and the step that applies the run's precision and
gradient clipping)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from ..config import NetworkConfig, RunConfig
from ..errors import ConfigError
from ..losses import LossSet, loss_set
from ..sizing import fit_inputs
from ..specs import InputSize, ModelContext, ModelSpec, SchedulerContext
from ..store import checkpoints, experiment_weights, read_weights_file, renamed
from .speed import SpeedSettings, optimizer_kwargs
from .steps import EagerStep, GraphStep, LossOf


def count_parameters(module: torch.nn.Module) -> int:
    """Number of trainable parameter elements."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class Network:
    """One network of a run, by its role in the task.

    ``module`` is the model itself: its weights, what evaluation and ``predict`` call, what
    checkpoints store. ``forward`` calls it during training, through DistributedDataParallel
    and ``torch.compile`` when the run uses them. ``losses`` are its configured losses.
    :meth:`minimise` runs one optimisation step of this network.
    """

    def __init__(self, role: str, module: torch.nn.Module, forward: Callable[..., Any] | None = None,
                 losses: LossSet | None = None, step: EagerStep | None = None, scheduler: Any = None,
                 scheduler_interval: str = "batch") -> None:
        self.role = role
        self.module = module
        self.forward = forward if forward is not None else module
        self.losses = losses
        self.step = step
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval

    @property
    def optimizer(self) -> torch.optim.Optimizer | None:
        """The network's optimizer (None outside training)."""
        return self.step.optimizer if self.step is not None else None

    @property
    def rate(self) -> float | torch.Tensor:
        """The learning rate the next step uses, as the optimizer holds it (a device tensor when
        the step is a captured CUDA graph, so reading it never waits for the device)."""
        return self.optimizer.param_groups[0]["lr"]

    def minimise(self, loss_of: LossOf, batch: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], bool]:
        """One step: ``loss_of(batch)`` under the run's precision, backward, clipping, the optimizer
        and (per batch) the scheduler. Returns the loss terms and whether the update was applied
        (``skip_nonfinite`` skips non-finite ones)."""
        if self.step is None:
            raise RuntimeError(f"network {self.role} has no optimizer outside training")
        return self.step(batch, loss_of)

    def end_epoch(self) -> None:
        """Step a scheduler that counts epochs."""
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        """Optimizer, scheduler and precision-scaler states, for checkpoints."""
        return {"optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "precision": self.step.state_dict()}


def build_model(network: NetworkConfig, scale: int, metadata_dims: Mapping[str, int]) -> torch.nn.Module:
    """The network's model, built by its plugin (see :func:`build_module`)."""
    return build_module(network.model.spec, network.params, scale, metadata_dims, f"{network.where}.internal_params")


def build_module(spec: ModelSpec, params: Any, scale: int, metadata_dims: Mapping[str, int] = {},
                 where: str = "model.internal_params") -> torch.nn.Module:
    """``spec``'s model with ``params`` for ``scale``; a model too large for memory is one line naming
    ``where``. A model that needs particular input sizes (``ModelSpec.input_size``) pads other inputs
    and crops its output back (:mod:`rumpycore.sizing`)."""
    ctx = ModelContext(scale=scale, metadata_dims=dict(metadata_dims))
    try:
        module = spec.build(params, ctx)
    except (MemoryError, torch.OutOfMemoryError) as exc:
        raise ConfigError(f"{where}: {spec.name} with these parameters needs more memory than is available "
                          f"({type(exc).__name__}); make it smaller") from None
    except RuntimeError as exc:
        if "alloc" not in str(exc).lower():
            raise
        raise ConfigError(f"{where}: {spec.name} with these parameters needs more memory than is available (could "
                          f"not allocate its weights); make it smaller") from None
    rule = spec.size_rule(params)
    if rule != InputSize():
        fit_inputs(module, rule, scale)
    return module


def initialise(network: NetworkConfig, module: torch.nn.Module) -> None:
    """Load the network's ``init_from`` weights and report what was loaded in one line."""
    init = network.init_from
    where = f"{network.where}.internal_params.init_from"
    if init.file is not None:
        weights, source = read_weights_file(Path(init.file), init.key, where), init.file
    else:
        weights, source = experiment_weights(Path(init.experiment), init.epoch, init.network or network.role, where)
    weights = renamed(weights, init.map)
    if init.convert:
        weights = _converted(network, weights, source, where)
    missing, unexpected = checkpoints.load_weights(
        module, weights, source, f"check {where} (key, map) or set strict = false", strict=init.strict)
    notes = "".join(f"; {label}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
                    for label, keys in (("missing", missing), ("unexpected", unexpected)) if keys)
    print(f"rumpy: {network.where} initialised from {source}: {len(weights) - len(unexpected)} tensors{notes}",
          file=sys.stderr)


def _converted(network: NetworkConfig, weights: dict[str, torch.Tensor], file: str,
               where: str) -> dict[str, torch.Tensor]:
    """``weights`` converted into the model's own layout by its plugin (``ModelSpec.detect``)."""
    spec = network.model.spec
    detected = spec.detect(weights) if spec.detect is not None else None
    if detected is None:
        raise ConfigError(f"{where}.convert: {spec.name} does not recognise {file} as weights of its own or of a "
                          f"layout it converts; remove convert, or check the file")
    return dict(detected.weights)


def build_optimizer(network: NetworkConfig, module: torch.nn.Module, speed: SpeedSettings,
                    device: torch.device) -> torch.optim.Optimizer:
    """Adam over the trainable parameters, with the implementation the speed settings ask for.

    For CUDA-graph capture the learning rate is a device tensor, so scheduler updates reach
    the replayed step.
    """
    o = network.optimizer
    params = [p for p in module.parameters() if p.requires_grad]
    lr = network.training.lr
    return torch.optim.Adam(params, lr=torch.tensor(lr, device=device) if speed.cuda_graph else lr,
                            betas=(o.beta_1, o.beta_2), eps=o.eps, weight_decay=o.weight_decay,
                            **optimizer_kwargs(speed))


def build_scheduler(network: NetworkConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int,
                    num_epochs: int, captured_step: bool = False, total_steps: int | None = None) -> tuple[Any, str]:
    """The network's scheduler (or None) and whether it steps per ``batch`` or ``epoch`` (with
    ``num_iterations``, an evaluation period counts as an epoch)."""
    if network.scheduler is None:
        return None, "batch"
    ctx = SchedulerContext(steps_per_epoch, num_epochs, network.training.lr, captured_step, total_steps)
    spec = network.scheduler.spec
    return spec.build(optimizer, network.scheduler_params, ctx), spec.interval


def place(module: torch.nn.Module, device: torch.device, memory_format: torch.memory_format) -> torch.nn.Module:
    """``module`` on ``device``, its 4-D weights (2-D convolutions') in ``memory_format``; weights of
    other ranks (a 3-D convolution's) keep their layout, which channels_last does not apply to."""
    module = module.to(device)
    for tensor in (*module.parameters(), *module.buffers()):
        if tensor.dim() == 4:
            tensor.data = tensor.data.contiguous(memory_format=memory_format)
    return module


def model_metadata_dims(network: NetworkConfig, metadata_dims: Mapping[str, int]) -> dict[str, int]:
    """The metadata value counts of the names ``network``'s model uses, in its order."""
    return {name: metadata_dims[name] for name in network.metadata if name in metadata_dims}


def build_networks(config: RunConfig, metadata_dims: Mapping[str, int], device: torch.device,
                   speed: SpeedSettings, steps_per_epoch: int, wrap: Callable[[torch.nn.Module], Any],
                   skip_if: Callable[[torch.Tensor], bool] | None = None) -> dict[str, Network]:
    """Every network of a training run, on ``device``, initialised (``init_from``) and ready to
    step. ``wrap`` gives the training forward of a module (DistributedDataParallel or itself)."""
    networks = {}
    for role, network in config.networks.items():
        module = build_model(network, config.scale, model_metadata_dims(network, metadata_dims))
        if network.init_from is not None and config.training.continue_from_epoch is None:
            initialise(network, module)
        module = place(module, device, speed.memory_format)
        forward = wrap(module)
        if speed.compile:
            forward = torch.compile(forward, backend=speed.compile_backend)
        optimizer = build_optimizer(network, module, speed, device)
        training = config.training
        scheduler, interval = build_scheduler(network, optimizer, training.period or steps_per_epoch,
                                              training.target_epoch, speed.cuda_graph, training.num_iterations)
        step_type = GraphStep if speed.cuda_graph else EagerStep
        step = step_type([p for p in module.parameters() if p.requires_grad], optimizer, scheduler,
                         interval == "batch", network.training.grad_clip or None, speed, device, skip_if=skip_if)
        networks[role] = Network(role, module, forward, loss_set(network.losses, device, role), step, scheduler,
                                 interval)
    return networks


def inference_networks(config: RunConfig, metadata_dims: Mapping[str, int], state: Mapping[str, Any],
                       device: torch.device, source: Path) -> dict[str, Network]:
    """Every network of a trained run with the checkpoint ``state``'s weights (the averaged ones
    when the run kept them), in evaluation mode on ``device``, for ``rumpy eval``."""
    networks = {}
    for role, network in config.networks.items():
        if role not in state["networks"]:
            raise ConfigError(f"{source}: holds no network '{role}'; it was not written by this experiment's run")
        module = build_model(network, config.scale, model_metadata_dims(network, metadata_dims))
        checkpoints.load_weights(module, checkpoints.network_weights(state, role), str(source),
                                 f"it does not match {network.where} of the experiment's config.toml")
        networks[role] = Network(role, module.to(device).eval())
    return networks
