"""A test-only rumpy plugin written against the public hooks alone: the ``denoise`` task trains
a noise-level estimator and a denoiser conditioned on its estimate jointly (each with its own
optimizer), with its own loss (``relative_l1``) and a stateful callback (``smoothed_loss``)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import torch

import rumpycore
from rumpycore import option
from rumpycore.tasks.base import summarise_sets

from .networks import ConditionedDenoiser, NoiseEstimator

__version__ = "0.1.0"


@dataclass
class EstimatorParams:
    features: int = option(8, min=1, max=256, help="channels")


@dataclass
class DenoiserParams:
    features: int = option(16, min=1, max=256, help="channels")
    blocks: int = option(2, min=1, max=32, help="hidden convolutions")


@dataclass
class DenoiseParams:
    """``[model.task_params]`` of the denoise task."""

    sigma: list[float] = option([5.0, 30.0], min=0.0, max=255.0, help="noise deviation range, 0-255 units")
    eval_sigma: float = option(15.0, min=0.0, max=255.0, help="noise deviation of the eval images")


class DenoiseTask(rumpycore.Task):
    """Clean images (a set's ``hr``) get Gaussian noise of a random level; the estimator learns the
    level, the denoiser learns the clean image from the noisy one and the estimated level."""

    def __init__(self, params: DenoiseParams, ctx: Any) -> None:
        super().__init__(params, ctx)
        self.estimator = ctx.networks["estimator"]
        self.denoiser = ctx.networks["model"]
        self.generator = torch.Generator(device="cpu").manual_seed(1234)

    def _noisy(self, clean: torch.Tensor, sigma: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(clean.shape, generator=generator, dtype=torch.float32).to(clean.device)
        return clean + noise * (sigma / 255.0).view(-1, 1, 1, 1)

    def _estimator_loss(self, batch):
        return self.estimator.losses(self.estimator.forward(batch["noisy"]).unsqueeze(1), batch["sigma"].unsqueeze(1))

    def _denoiser_loss(self, batch):
        level = self.estimator.forward(batch["noisy"]).detach()
        return self.denoiser.losses(self.denoiser.forward(batch["noisy"], level).float(), batch["hr"])

    def train_step(self, batch):
        clean = batch["hr"]
        low, high = self.params.sigma
        sigma = (low + (high - low) * torch.rand(clean.shape[0], generator=self.generator)).to(clean.device)
        batch = {**batch, "noisy": self._noisy(clean, sigma, self.generator), "sigma": sigma}
        estimated, estimator_applied = self.estimator.minimise(self._estimator_loss, batch)
        terms, applied = self.denoiser.minimise(self._denoiser_loss, batch)
        return {**terms, "estimator": estimated["loss"]}, applied and estimator_applied

    def predict(self, batch):
        noisy = batch["lr"]
        return self.denoiser.module(noisy, self.estimator.module(noisy))

    def evaluate(self, loaders, metrics):
        per_set = {}
        for set_id, loader in loaders.items():
            generator = torch.Generator(device="cpu").manual_seed(99)  # the same noisy eval images every time
            columns = {"loss": [], **{name: [] for name in metrics}}
            for raw in loader:
                batch = self.to_device(raw)
                sigma = torch.full((batch["hr"].shape[0],), self.params.eval_sigma, device=self.ctx.device)
                output = self.predict({**batch, "lr": self._noisy(batch["hr"], sigma, generator)}).float()
                columns["loss"].append(self.denoiser.losses.per_image(output, batch["hr"]))
                for name, metric in metrics.items():
                    columns[name].append(metric.values(output, batch["hr"], batch).double())
            per_set[set_id] = {k: self.ctx.gather(torch.cat(v)) for k, v in columns.items()}
        return rumpycore.EvalResult(summarise_sets(per_set, metrics))

    def state_dict(self):
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        if "generator" in state:
            self.generator.set_state(state["generator"])


class RelativeL1(torch.nn.Module):
    """|prediction - target| / (|target| + 1), per image: errors of large levels count less."""

    def forward(self, prediction, target):
        return ((prediction.float() - target.float()).abs() / (target.float().abs() + 1.0)).flatten(1).mean(dim=1)


@dataclass
class SmoothedLossParams:
    factor: float = option(0.9, min=0.0, max=1.0, help="weight of the running value at each step")


class SmoothedLoss(rumpycore.Callback):
    """A running average of the training loss over steps, written after every epoch to
    ``result_outputs/smoothed_loss.csv``; its value and step count survive resumes."""

    def __init__(self, params: SmoothedLossParams, ctx: Any) -> None:
        self.factor = params.factor
        self.path = ctx.results / "smoothed_loss.csv"
        self.is_main = ctx.is_main
        self.value = 0.0
        self.steps = 0
        self.rows: list[tuple[int, float, int]] = []

    def step_end(self, step):
        self.value = self.factor * self.value + (1 - self.factor) * float(step.terms["loss"])
        self.steps += 1

    def epoch_end(self, epoch, row, history):
        self.rows.append((epoch, self.value, self.steps))
        if self.is_main:
            from rumpycore.atomic import atomic_write_text

            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows([("epoch", "smoothed_loss", "steps"), *self.rows])
            atomic_write_text(self.path, buffer.getvalue())

    def state_dict(self):
        return {"value": self.value, "steps": self.steps, "rows": [list(r) for r in self.rows]}

    def load_state_dict(self, state):
        self.value = float(state.get("value", 0.0))
        self.steps = int(state.get("steps", 0))
        self.rows = [tuple(r) for r in state.get("rows", [])]


@rumpycore.hookimpl
def register_models(register):
    register(rumpycore.ModelSpec("NoiseEstimator", lambda p, ctx: NoiseEstimator(p.features), EstimatorParams,
                                 task="noise_estimator", scales=(), summary="noise level of an image"))
    register(rumpycore.ModelSpec("ConditionedDenoiser", lambda p, ctx: ConditionedDenoiser(p.features, p.blocks),
                                 DenoiserParams, task="denoise", scales=(1,), summary="denoiser told the noise level"))


@rumpycore.hookimpl
def register_tasks(register):
    register(rumpycore.TaskSpec(
        "denoise", DenoiseTask, DenoiseParams,
        roles=(rumpycore.NetworkRole("model", ("denoise",), losses={"l1": 1.0}),
               rumpycore.NetworkRole("estimator", ("noise_estimator",), default_model="NoiseEstimator",
                                     losses={"relative_l1": 1.0})),
        metrics=("PSNR",), best_metric="val-PSNR", writes=None,
        unsupported={"cuda_graph": "two networks step in turn"},
        summary="x1 denoising with a jointly trained noise-level estimator"))


@rumpycore.hookimpl
def register_losses(register):
    register(rumpycore.LossSpec("relative_l1", lambda p, ctx: RelativeL1(), summary="L1 relative to the target"))


@rumpycore.hookimpl
def register_callbacks(register):
    register(rumpycore.CallbackSpec("smoothed_loss", SmoothedLoss, SmoothedLossParams,
                                    summary="running average of the training loss, kept across resumes"))
