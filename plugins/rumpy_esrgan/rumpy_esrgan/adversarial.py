"""Adversarial losses of GAN super-resolution, registered in the loss registry.

Each loss has two sides. The generator's is the registered loss itself: ``forward(fake, real)``
takes the discriminator's logits of the super-resolved and of the HR images and gives one value
per image, so it sits in the generator's ``losses`` table with its weight like any loss. The
discriminator's is :meth:`AdversarialLoss.discriminator`: a term for the real and one for the
fake images. Logits may be one per image (ESRGAN's VGG discriminator) or one per pixel
(Real-ESRGAN's U-Net); a per-image value is the mean over an image's logits.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from rumpycore import ConfigError


def _per_image(values: torch.Tensor) -> torch.Tensor:
    return values.float().flatten(1).mean(dim=1)


def _bce(logits: torch.Tensor, label: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits, label, dtype=torch.float32),
                                              reduction="none")


class AdversarialLoss(torch.nn.Module):
    """A GAN objective: :meth:`generator` and :meth:`discriminator` terms from realness logits.

    Only the ``gan`` task can give it discriminator logits; it marks the losses it drives with
    :meth:`attach`, and a loss used anywhere else stops the run with one line.
    """

    name = "adversarial"
    summary = ""

    def __init__(self) -> None:
        super().__init__()
        self.attached = False

    def attach(self) -> None:
        """Mark the loss as fed by a discriminator (the ``gan`` task does this)."""
        self.attached = True

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        if not self.attached:
            raise ConfigError(f"losses.{self.name}: an adversarial loss needs a discriminator; train with "
                              f"[model] task = \"gan\" or remove it")
        return _per_image(self.generator(fake, real))

    def generator(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """The generator's loss per logit (``real`` carries no gradient)."""
        raise NotImplementedError

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The discriminator's loss on the real and on the fake images, one value per image each
        (``fake`` comes from a generator output without gradient)."""
        raise NotImplementedError


class VanillaGAN(AdversarialLoss):
    """The original GAN's cross-entropy (non-saturating for the generator), as Real-ESRGAN uses."""

    name = "vanilla_gan"
    summary = "adversarial: cross-entropy of the original GAN (gan task)"

    def generator(self, fake, real):
        return _bce(fake, 1.0)

    def discriminator(self, real, fake):
        return _per_image(_bce(real, 1.0)), _per_image(_bce(fake, 0.0))


class LSGAN(AdversarialLoss):
    """Least squares GAN (Mao et al., 2017): squared distance of the logits to 1 (real) and 0 (fake)."""

    name = "lsgan"
    summary = "adversarial: least squares GAN (gan task)"

    def generator(self, fake, real):
        return (fake.float() - 1.0).square()

    def discriminator(self, real, fake):
        return _per_image((real.float() - 1.0).square()), _per_image(fake.float().square())


class HingeGAN(AdversarialLoss):
    """Hinge loss (Lim and Ye, 2017; SAGAN): the discriminator pushes real logits above 1 and fake
    ones below -1; the generator raises the fake logits."""

    name = "hinge_gan"
    summary = "adversarial: hinge loss (gan task)"

    def generator(self, fake, real):
        return -fake.float()

    def discriminator(self, real, fake):
        return _per_image(F.relu(1.0 - real.float())), _per_image(F.relu(1.0 + fake.float()))


class RelativisticGAN(AdversarialLoss):
    """The relativistic average GAN of ESRGAN (Jolicoeur-Martineau, 2018): each side judges whether
    real images look more realistic than the fake ones on average, and the reverse.

    Averages are over the batch; each side's loss is half the sum of its two cross-entropies.
    """

    name = "relativistic_gan"
    summary = "adversarial: relativistic average GAN of ESRGAN (gan task)"

    def generator(self, fake, real):
        real = real.detach().float()
        fake = fake.float()
        return 0.5 * (_bce(real - fake.mean(), 0.0) + _bce(fake - real.mean(), 1.0))

    def discriminator(self, real, fake):
        real, fake = real.float(), fake.float()
        return (_per_image(0.5 * _bce(real - fake.detach().mean(), 1.0)),
                _per_image(0.5 * _bce(fake - real.detach().mean(), 0.0)))


ADVERSARIAL_LOSSES = (VanillaGAN, LSGAN, HingeGAN, RelativisticGAN)
