"""One optimisation step of one network, eager or replayed from a captured CUDA graph.

Both take a batch already on the device and a function computing the step's loss terms from
it (``{"loss": total, ...}``), and return those terms as device tensors, without
synchronising with the host (except fp16's gradient scaler, which must check for overflow).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any

import torch

from .speed import SpeedSettings

LossOf = Callable[[Mapping[str, Any]], dict[str, torch.Tensor]]
"""Computes a step's loss terms from a device batch; ``"loss"`` is the total that is minimised."""


class EagerStep:
    """forward and loss (under autocast) -> backward -> clip -> optimizer step -> scheduler step."""

    def __init__(self, parameters: list[torch.nn.Parameter], optimizer: torch.optim.Optimizer, scheduler: Any,
                 per_batch_scheduler: bool, grad_clip: float | None, settings: SpeedSettings,
                 device: torch.device, skip_if: Callable[[torch.Tensor], bool] | None = None) -> None:
        self.parameters = parameters
        self.optimizer = optimizer
        self.scheduler = scheduler if per_batch_scheduler else None
        self.grad_clip = grad_clip
        self.settings = settings
        self.device = device
        self.skip_if = skip_if
        self.scaler = torch.amp.GradScaler(device.type) if settings.precision == "fp16" else None

    def __call__(self, batch: Mapping[str, Any], loss_of: LossOf) -> tuple[dict[str, torch.Tensor], bool]:
        """Run one step; returns the loss terms and whether the update was applied."""
        with self.settings.autocast(self.device):
            terms = loss_of(batch)
        loss = terms["loss"]
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        if self.skip_if is not None and self.skip_if(loss):
            self.optimizer.zero_grad(set_to_none=True)
            return terms, False
        if self.grad_clip:
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.parameters, self.grad_clip, foreach=True)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return terms, True

    def state_dict(self) -> dict:
        """The gradient scaler's state (fp16), for checkpoints."""
        return {"scaler": self.scaler.state_dict()} if self.scaler is not None else {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the gradient scaler's state."""
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])


class CudaGraphCapture:
    """Records ``fn`` into a CUDA graph; ``replay()`` reruns the recorded kernels."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = fn()

    def replay(self) -> Any:
        self.graph.replay()
        return self.output


class GraphStep(EagerStep):
    """The whole step captured once in a CUDA graph and replayed for every batch of the
    captured shape (a batch of another shape, such as a short last batch, runs eagerly).

    Deep, thin networks launch thousands of small kernels per step; replaying them as one
    graph removes the launch overhead. The optimizer must be capturable with a tensor
    learning rate, so the scheduler's updates reach the replayed step. Warm-up steps needed
    before capture are undone, so capturing does not change the training trajectory.
    ``capture`` is the recorder (:class:`CudaGraphCapture`; tests substitute one that reruns
    the step on the CPU).
    """

    WARMUP = 3

    def __init__(self, *args: Any, capture: Callable[[Callable[[], Any]], Any] = CudaGraphCapture,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.capture = capture
        self.recorded: Any = None
        self.loss_of: LossOf | None = None
        self.static_batch: dict[str, Any] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.fixed: list[dict[str, Any]] = []

    def _tensors(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        return {k: v for k, v in batch.items() if isinstance(v, torch.Tensor) and v.device == self.device}

    def _graphed_step(self) -> dict[str, torch.Tensor]:
        with self.settings.autocast(self.device, cache=False):
            terms = self.loss_of(self.static_batch)
        terms["loss"].backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.parameters, self.grad_clip, foreach=True)
        self.optimizer.step()
        return terms

    def _record(self, batch: Mapping[str, Any], loss_of: LossOf) -> None:
        tensors = self._tensors(batch)
        self.loss_of = loss_of
        self.static_batch = {**batch, **{k: v.clone() for k, v in tensors.items()}}
        self.shapes = {k: tuple(v.shape) for k, v in tensors.items()}
        saved = snapshot(self.parameters, self.optimizer)
        cuda = self.device.type == "cuda"
        side = torch.cuda.Stream() if cuda else None
        if cuda:
            side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side) if cuda else nullcontext():
            for _ in range(self.WARMUP):
                self.optimizer.zero_grad(set_to_none=True)
                self._graphed_step()
        if cuda:
            torch.cuda.current_stream().wait_stream(side)
        # with no gradient tensors at capture time, the captured backward writes fresh
        # gradients on every replay instead of accumulating, so replays need no zeroing
        self.optimizer.zero_grad(set_to_none=True)
        self.recorded = self.capture(self._graphed_step)
        restore(saved, self.parameters, self.optimizer)
        self.fixed = self._fixed_hyperparameters()

    def _fixed_hyperparameters(self) -> list[dict[str, Any]]:
        """The optimizer settings baked into the graph as constants (all but the tensors)."""
        return [{k: v for k, v in group.items() if k != "params" and not isinstance(v, torch.Tensor)}
                for group in self.optimizer.param_groups]

    def __call__(self, batch: Mapping[str, Any], loss_of: LossOf) -> tuple[dict[str, torch.Tensor], bool]:
        tensors = self._tensors(batch)
        if self.recorded is None:
            self._record(batch, loss_of)
        elif loss_of != self.loss_of:  # bound methods are new objects on every access, but compare equal
            raise RuntimeError("a captured CUDA-graph step replays one loss function; a task that minimises "
                               "several per network must declare cuda_graph unsupported")
        elif {k: tuple(v.shape) for k, v in tensors.items()} != self.shapes:
            return super().__call__(batch, loss_of)
        if self._fixed_hyperparameters() != self.fixed:
            raise RuntimeError("the scheduler changed an optimizer setting other than the learning rate, which a "
                               "captured CUDA-graph step cannot follow; its factory must refuse captured_step")
        for key, value in tensors.items():
            self.static_batch[key].copy_(value, non_blocking=True)
        terms = self.recorded.replay()
        if self.scheduler is not None:
            self.scheduler.step()
        return {key: value.detach().clone() for key, value in terms.items()}, True


def snapshot(parameters: list[torch.nn.Parameter], optimizer: torch.optim.Optimizer) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Copies of every parameter and optimizer-state tensor, paired with the live tensor."""
    pairs = [(p, p.detach().clone()) for p in parameters]
    for state in optimizer.state.values():
        pairs += [(t, t.detach().clone()) for t in state.values() if isinstance(t, torch.Tensor)]
    return pairs


def restore(saved: list[tuple[torch.Tensor, torch.Tensor]], parameters: list[torch.nn.Parameter],
            optimizer: torch.optim.Optimizer) -> None:
    """Write the snapshot back in place (captured graphs keep pointing at the same memory).

    Optimizer state created after the snapshot (Adam's moments on its first step) is reset
    to zero, which is the state a fresh Adam starts from.
    """
    known = {id(live) for live, _ in saved}
    with torch.no_grad():
        for live, copy in saved:
            live.copy_(copy)
        for state in optimizer.state.values():
            for tensor in state.values():
                if isinstance(tensor, torch.Tensor) and id(tensor) not in known:
                    tensor.zero_()
