"""Training losses: registered components (``register_losses``) combined as weighted sums.

A network's losses are configured in its ``internal_params``::

    [model.internal_params.losses.l1]
    weight = 1.0
    [model.internal_params.losses.perceptual]
    weight = 1.0
    layers = { conv5_4 = 1.0 }

Each loss gives one value per image; :class:`LossSet` weighs and sums them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class LossTerm:
    """One configured loss: its name, weight and module."""

    name: str
    weight: float
    module: torch.nn.Module


class LossSet(torch.nn.Module):
    """The weighted sum of a network's losses.

    Called on a batch, it returns the terms a step reports: ``"loss"`` (the weighted sum,
    averaged over the batch) and, when there are several terms, ``"loss-<name>"`` (each term's
    weighted share), so the shares add up to the total.
    """

    def __init__(self, terms: list[LossTerm]) -> None:
        super().__init__()
        self.names = [term.name for term in terms]
        self.weights = [term.weight for term in terms]
        self.modules_ = torch.nn.ModuleList(term.module for term in terms)

    def __len__(self) -> int:
        return len(self.names)

    def shares(self, prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each loss's weighted value, averaged over the batch, by loss name."""
        return {name: weight * module(prediction, target).mean()
                for name, weight, module in zip(self.names, self.weights, self.modules_)}

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        shares = self.shares(prediction, target)
        terms = {"loss": torch.stack(list(shares.values())).sum()}
        if len(shares) > 1:
            terms.update({f"loss-{name}": share for name, share in shares.items()})
        return terms

    def split(self, select: Callable[[torch.nn.Module], bool]) -> tuple[LossSet, LossSet]:
        """The losses whose module ``select`` accepts and the others, as two sets sharing the modules.

        A task whose losses compare different things (a GAN's generator: images with images for
        pixel and perceptual losses, discriminator outputs for the adversarial one) splits its
        network's losses by kind and calls each part on its own inputs.
        """
        chosen: list[LossTerm] = []
        others: list[LossTerm] = []
        for name, weight, module in zip(self.names, self.weights, self.modules_):
            (chosen if select(module) else others).append(LossTerm(name, weight, module))
        return LossSet(chosen), LossSet(others)

    def per_image(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The weighted sum for each image of a batch (``val-loss`` averages it over the eval images)."""
        return sum(weight * module(prediction, target)
                   for weight, module in zip(self.weights, self.modules_))


def loss_set(choices: Mapping[str, Any] | list, device: torch.device, role: str = "model") -> LossSet:
    """Build the configured losses (``rumpycore.config`` ``LossChoice`` items) on ``device``."""
    from ..specs import LossContext

    ctx = LossContext(device=device, role=role)
    return LossSet([LossTerm(c.name, c.weight, c.loss.spec.build(c.params, ctx)) for c in choices])
