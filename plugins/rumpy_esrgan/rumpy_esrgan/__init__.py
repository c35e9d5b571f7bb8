"""rumpy plugin for GAN super-resolution: ESRGAN and Real-ESRGAN.

- ``RRDBNet``: ESRGAN's generator, an ordinary SISR model (train it alone with ``sisr`` for the
  PSNR-oriented first stage).
- ``VGGDiscriminator`` (ESRGAN) and ``UNetDiscriminator`` (Real-ESRGAN): models of the
  ``discriminator`` kind.
- The ``gan`` task: the ``[model]`` network (any SISR model) as the generator and
  ``[model.discriminator]`` as its adversary, each with its own optimizer.
- Adversarial losses for the generator's ``losses`` table: ``vanilla_gan``, ``lsgan``,
  ``hinge_gan``, ``relativistic_gan``.
"""

from __future__ import annotations

from dataclasses import dataclass

import rumpycore
from rumpycore import option

from .adversarial import ADVERSARIAL_LOSSES
from .detection import detect
from .discriminators import UNetDiscriminator, VGGDiscriminator
from .rrdbnet import RRDBNet
from .task import GANParams, GANTask

__version__ = "0.1.0"


@dataclass
class RRDBNetParams:
    """``[model.internal_params]`` of RRDBNet (besides the core's lr, scale, scheduler, ...)."""

    num_features: int = option(64, min=1, max=1024, aliases=("num_feat", "nf"), help="channels of the body")
    num_blocks: int = option(23, min=1, max=256, aliases=("num_block", "nb"), help="RRDB blocks")
    growth: int = option(32, min=1, max=1024, aliases=("num_grow_ch", "gc"),
                         help="channels each dense convolution adds")
    res_scale: float = option(0.2, min=0.0, max=1.0, help="scaling of every residual before it is added")


@dataclass
class VGGDiscriminatorParams:
    """``[model.discriminator.internal_params]`` of VGGDiscriminator."""

    num_features: int = option(64, min=1, max=1024, aliases=("num_feat",), help="channels of the first stage")
    size: int = option(128, min=32, max=1024, aliases=("input_size",),
                       help="side of the HR patches it judges (a power of two; training crop x scale)")

    def __post_init__(self) -> None:
        if self.size & (self.size - 1):
            raise rumpycore.ConfigError(f"model.discriminator.internal_params.size: {self.size} is not a power of "
                                        f"two; use 128 (ESRGAN) or 256")


@dataclass
class UNetDiscriminatorParams:
    """``[model.discriminator.internal_params]`` of UNetDiscriminator."""

    num_features: int = option(64, min=1, max=1024, aliases=("num_feat",), help="channels of the first level")
    skip_connection: bool = option(True, help="add the encoder's maps to the decoder's (Real-ESRGAN: true)")


@rumpycore.hookimpl
def register_models(register):
    register(rumpycore.ModelSpec(
        name="RRDBNet",
        build=lambda p, ctx: RRDBNet(ctx.scale, p.num_features, p.num_blocks, p.growth, p.res_scale),
        params=RRDBNetParams, task="sisr", scales=(1, 2, 4), detect=detect,
        summary="ESRGAN's residual-in-residual dense network (Wang et al., 2018); the GAN generator"))
    register(rumpycore.ModelSpec(
        name="VGGDiscriminator", build=lambda p, ctx: VGGDiscriminator(p.size, p.num_features),
        params=VGGDiscriminatorParams, task="discriminator", scales=(),
        summary="ESRGAN's VGG-style discriminator: one logit per fixed-size HR patch"))
    register(rumpycore.ModelSpec(
        name="UNetDiscriminator", build=lambda p, ctx: UNetDiscriminator(p.num_features, p.skip_connection),
        params=UNetDiscriminatorParams, task="discriminator", scales=(),
        summary="Real-ESRGAN's U-Net discriminator with spectral normalisation: one logit per pixel"))


@rumpycore.hookimpl
def register_tasks(register):
    register(rumpycore.TaskSpec(
        "gan", GANTask, GANParams,
        roles=(rumpycore.NetworkRole("model", ("sisr",), losses={"l1": 1e-2, "perceptual": 1.0,
                                                                 "relativistic_gan": 5e-3},
                                     summary="the generator: any SISR model"),
               rumpycore.NetworkRole("discriminator", ("discriminator",), default_model="VGGDiscriminator",
                                     summary="the adversary, trained with the generator's adversarial loss")),
        metrics=("PSNR", "SSIM"), best_metric="val-PSNR", writes="samples",
        unsupported={"cuda_graph": "the generator and the discriminator step in turn, each with its own loss"},
        summary="GAN super-resolution (ESRGAN, Real-ESRGAN): a generator trained against a discriminator"))


@rumpycore.hookimpl
def register_losses(register):
    for loss in ADVERSARIAL_LOSSES:
        register(rumpycore.LossSpec(loss.name, lambda p, ctx, loss=loss: loss(), summary=loss.summary))
