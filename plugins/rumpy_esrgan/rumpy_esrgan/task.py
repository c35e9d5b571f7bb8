"""The ``gan`` task: a super-resolution generator trained against a discriminator.

Each step first updates the generator (the ``[model]`` network, any SISR model) on its losses:
those that compare its output with the HR image (pixel, perceptual; against an unsharp-masked
HR with ``usm = true``) plus one adversarial loss on the discriminator's logits, the
discriminator frozen. Then the discriminator (``[model.discriminator]``) is updated
``discriminator_steps`` times on the same batch, real HR images against the generator's
output of that step. Each network has its own optimizer, scheduler and clipping; evaluation,
samples and ``rumpy eval`` use the generator (its weight average with ``ema_decay``) as the
``sisr`` task does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from rumpycore import ConfigError, option
from rumpycore.tasks.sisr import SISRTask

from .adversarial import AdversarialLoss
from .sharpen import UnsharpMask

ADVERSARIAL_NAMES = "vanilla_gan, lsgan, hinge_gan or relativistic_gan"


@dataclass
class GANParams:
    """``[model.task_params]`` of the ``gan`` task."""

    discriminator_steps: int = option(1, min=1, max=100,
                                      help="discriminator updates per generator update (on the same batch)")
    usm: bool = option(False, help="compare pixel and perceptual losses with unsharp-masked HR images "
                                   "(Real-ESRGAN); the discriminator sees the plain ones")
    usm_size: int = option(51, min=3, max=255, help="unsharp mask: Gaussian taps (odd; sigma as OpenCV's for 0)")
    usm_amount: float = option(0.5, min=0.0, max=10.0, help="unsharp mask: share of the detail added back")
    usm_threshold: float = option(10.0, min=0.0, max=255.0,
                                  help="unsharp mask: sharpen only where the detail exceeds this (0-255 units)")


def loss_terms(shares: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """``{prefix: total, "<prefix>-<name>": share, ...}`` from each loss's weighted share."""
    return {prefix: torch.stack(list(shares.values())).sum(),
            **{f"{prefix}-{name}": share for name, share in shares.items()}}


class GANTask(SISRTask):
    """Generator (``model``) and discriminator (``discriminator``) trained in turn."""

    def __init__(self, params: GANParams, ctx: Any) -> None:
        super().__init__(params, ctx)
        self.generator = self.network
        self.discriminator = ctx.networks["discriminator"]
        self.sharpen = UnsharpMask(params.usm_size, params.usm_amount, params.usm_threshold).to(ctx.device) \
            if params.usm else None
        if ctx.training:
            self.adversarial, self.content = self._split_losses()

    def _split_losses(self):
        adversarial, content = self.generator.losses.split(lambda module: isinstance(module, AdversarialLoss))
        where = "model.internal_params.losses"
        if len(adversarial) != 1:
            found = ", ".join(adversarial.names) or "none"
            raise ConfigError(f"{where}: the gan task needs exactly one adversarial loss ({ADVERSARIAL_NAMES}), "
                              f"found {found}")
        if not len(content):
            raise ConfigError(f"{where}: the gan task needs a loss comparing the output with the HR image as well "
                              f"(l1, perceptual, ...)")
        if len(self.discriminator.losses):
            raise ConfigError(f"model.discriminator.internal_params.losses: the discriminator is trained with the "
                              f"generator's {adversarial.names[0]}; remove its losses")
        self.gan = next(m for m in adversarial.modules() if isinstance(m, AdversarialLoss))
        self.gan.attach()
        return adversarial, content

    def train_step(self, batch: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], bool]:
        hr = batch["hr"]
        target = self.sharpen(hr) if self.sharpen is not None else hr
        made: dict[str, torch.Tensor] = {}

        def generator_loss(batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
            output = self._call(self.generator.forward, batch).float()
            made["sr"] = output.detach()
            shares = self.content.shares(output, target)
            # the discriminator judges without DDP or compile here: it is frozen and not updated
            judge = self.discriminator.module
            shares.update(self.adversarial.shares(judge(output), judge(hr).detach()))
            return loss_terms(shares, "loss")

        frozen = [p for p in self.discriminator.module.parameters() if p.requires_grad]
        for parameter in frozen:
            parameter.requires_grad_(False)
        try:
            terms, applied = self.generator.minimise(generator_loss, batch)
        finally:
            for parameter in frozen:
                parameter.requires_grad_(True)

        def discriminator_loss(batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
            judge = self.discriminator.forward
            real, fake = self.gan.discriminator(judge(hr), judge(made["sr"]))
            return loss_terms({"real": real.mean(), "fake": fake.mean()}, "loss")

        steps = self.params.discriminator_steps
        for _ in range(steps):
            judged, judged_applied = self.discriminator.minimise(discriminator_loss, batch)
            applied = applied and judged_applied
            for key, value in judged.items():
                name = "discriminator" + key.removeprefix("loss")  # discriminator, discriminator-real, ...
                terms[name] = terms[name] + value.detach() / steps if name in terms else value.detach() / steps
        return terms, applied

    def eval_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``val-loss``: the generator's losses that compare with the HR image (no adversarial term)."""
        return self.content.per_image(output, target)

