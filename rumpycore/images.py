"""Float images to 8-bit: one rounding for samples, saved images and metrics alike."""

from __future__ import annotations

import numpy as np
import torch

from .metrics.fidelity import quantise


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``C x H x W`` float image in [0, 1] to ``H x W x C`` uint8, clipped and rounded half up as
    MATLAB's ``im2uint8`` (the rounding the metrics use)."""
    return quantise(image.detach()).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
