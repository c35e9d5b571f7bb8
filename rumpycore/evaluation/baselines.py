"""Classical upscalers every report can show beside the trained models.

- ``bicubic``: MATLAB's ``imresize(im2double(lr), scale, 'bicubic')``, the baseline of the
  published tables, as two matrix products per image on the evaluation device. The
  weights come from :func:`rumpycore.degrade.resize.contributions`, the MATLAB-exact
  kernel the benchmark LR sets are made with.
- ``lanczos``: PIL's Lanczos filter on the 8-bit LR image (what the original toolbox offered).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..degrade.resize import contributions

BASELINES = ("bicubic", "lanczos")


@lru_cache(maxsize=32)
def resize_matrix(in_length: int, scale: int) -> torch.Tensor:
    """``(in_length * scale) x in_length`` float64 matrix applying MATLAB's bicubic along one axis."""
    weights, indices = contributions(in_length, in_length * scale, float(scale))
    matrix = np.zeros((in_length * scale, in_length), dtype=np.float64)
    rows = np.repeat(np.arange(in_length * scale), weights.shape[1])
    np.add.at(matrix, (rows, indices.ravel()), weights.ravel())  # mirrored taps may repeat an index
    return torch.from_numpy(matrix)


class Bicubic:
    """MATLAB bicubic upscaling of ``batch["lr"]`` (float, unclipped, float64)."""

    def __init__(self, scale: int) -> None:
        self.scale = scale

    def __call__(self, batch: Mapping[str, Any]) -> torch.Tensor:
        # The 8-bit levels again, exactly: im2double(lr) as MATLAB sees it, not float32's k/255.
        lr = batch["lr"].double().mul(255.0).round().div(255.0)
        rows = resize_matrix(lr.shape[-2], self.scale).to(lr.device)
        cols = resize_matrix(lr.shape[-1], self.scale).to(lr.device)
        return rows @ lr @ cols.T


class Lanczos:
    """PIL Lanczos upscaling of the 8-bit LR images, one image at a time on the CPU."""

    def __init__(self, scale: int) -> None:
        self.scale = scale

    def __call__(self, batch: Mapping[str, Any]) -> torch.Tensor:
        lr = batch["lr"]
        images = lr.clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        height, width = images.shape[1] * self.scale, images.shape[2] * self.scale
        outputs = [np.asarray(Image.fromarray(im).resize((width, height), Image.LANCZOS)) for im in images]
        return torch.from_numpy(np.stack(outputs)).permute(0, 3, 1, 2).to(lr.device).float().div(255.0)
