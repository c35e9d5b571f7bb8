"""Real-ESRGAN's second-order degradation for a whole batch on its device (a GPU), as Real-ESRGAN
trains: the parameters of each image are drawn on the CPU from the same distributions as the
``realesrgan`` operation (:class:`rumpycore.degrade.second_order.SecondOrder`), and applied to the
batch with tensor operations; JPEG is the tensor codec of :func:`rumpycore.degrade.tensor_ops.jpeg`.

Images of a batch share one size at every step, so the two random resizes, the final
interpolation and the order of the last JPEG and sinc filter are those of the batch's first
image; kernels, noise and qualities are each image's own. Over many batches every parameter
therefore follows the distribution the per-image operation draws from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from .pipeline import Pipeline
from .second_order import RealESRGAN, SecondOrder, SecondOrderDraw, degrade_batch
from .tensor_ops import jpeg


class BatchDegradation:
    """``degrade(hr, seeds)``: LR images and their recorded parameters for a batch of HR images."""

    def __init__(self, pipeline: SecondOrder, column=lambda stem: stem) -> None:
        self.pipeline = pipeline
        self.column = column

    @classmethod
    def from_config(cls, raw: Mapping[str, Any], where: str, scale: int | None = None) -> BatchDegradation:
        """From a pipeline table (``pipeline`` and ``deg_configs``, as ``rumpy degrade`` reads) holding one
        ``realesrgan`` operation; anything else is a ConfigError naming the key under ``where``."""
        pipeline = Pipeline.from_config(raw, where, scale)
        if len(pipeline.steps) != 1 or not isinstance(pipeline.steps[0].operation, RealESRGAN):
            raise ConfigError(f"{where}.pipeline: the device pipeline runs one realesrgan operation; got "
                              f"{[step.operation.name for step in pipeline.steps]}")
        operation = pipeline.steps[0].operation
        return cls(operation.pipeline, operation.column)

    def draws(self, seeds: Sequence[int]) -> list[SecondOrderDraw]:
        """Each image's choices, drawn as the per-image operation draws them for ``image_rng``-style
        seeds; the batch-wide ones replaced by the first image's."""
        drawn = [self.pipeline.draw(np.random.default_rng(seed)) for seed in seeds]
        first = drawn[0]
        return [dataclasses.replace(draw, resize=first.resize, resize_2=first.resize_2, jpeg_first=first.jpeg_first,
                                    final_mode=first.final_mode) for draw in drawn]

    def __call__(self, hr: torch.Tensor, seeds: Sequence[int]) -> tuple[torch.Tensor, list[dict[str, float]]]:
        """Degrade ``hr`` (``N x 3 x H x W`` in [0, 1] on any device; H and W multiples of the scale)
        with one seed per image. Returns the LR batch (8-bit levels, as floats in [0, 1]) and each
        image's recorded parameters by column."""
        if len(seeds) != hr.shape[0]:
            raise ValueError(f"{len(seeds)} seeds for a batch of {hr.shape[0]} images")
        draws = self.draws(seeds)
        generator = torch.Generator(device=hr.device).manual_seed(draws[0].noise_seed)
        lr = degrade_batch(hr, draws, self.pipeline, jpeg, generator)
        return lr, [self.pipeline.metadata(draw, self.column) for draw in draws]
