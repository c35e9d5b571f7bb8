"""PSNR and SSIM computed the way SR papers report them.

The convention behind the published tables (and MATLAB's evaluation scripts):

- images are 8-bit: predictions are clipped to [0, 1], scaled to 255 and rounded;
- the ``y`` channel is ITU-R BT.601 luma as MATLAB's ``rgb2ycbcr`` computes it on uint8
  images (``16 + (65.481 R + 128.553 G + 24.966 B) / 255``, rounded to an integer);
- an image stored as grayscale is compared on its own gray values: the target's gray
  level, and the prediction reduced with MATLAB's ``rgb2gray`` weights;
- ``crop_border`` pixels (default: the scale) are removed from every side first;
- SSIM uses an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255, over
  the valid region, averaged over the map (and over channels in ``rgb`` mode).

Everything runs batched on the tensors' device in float64.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..specs import MetricContext
from .base import Metric

_Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
_GRAY_WEIGHTS = (0.298936021293776, 0.587043074451121, 0.114020904255103)


def quantise(image: torch.Tensor) -> torch.Tensor:
    """[0, 1] float image to 8-bit levels (0..255, rounded) in float64."""
    return torch.round(image.double().clamp(0.0, 1.0) * 255.0)


def _weighted(image: torch.Tensor, weights: tuple[float, float, float], offset: float) -> torch.Tensor:
    r, g, b = image[:, 0:1], image[:, 1:2], image[:, 2:3]
    return torch.round(weights[0] * r + weights[1] * g + weights[2] * b + offset)


def comparison_planes(image8: torch.Tensor, gray: torch.Tensor, channel: str, is_target: bool) -> torch.Tensor:
    """The planes a metric compares: MATLAB Y (or RGB), and gray levels for gray images."""
    if channel == "rgb":
        return image8
    luma = _weighted(image8, _Y_WEIGHTS, 16.0)
    if not bool(gray.any()):
        return luma
    gray_level = image8[:, 0:1] if is_target else _weighted(image8, _GRAY_WEIGHTS, 0.0)
    return torch.where(gray.view(-1, 1, 1, 1), gray_level, luma)


def shave(image: torch.Tensor, border: int) -> torch.Tensor:
    """Remove ``border`` pixels from every side."""
    if border <= 0:
        return image
    return image[..., border:-border, border:-border]


def _gray_flags(batch: Mapping[str, Any], n: int, device: torch.device) -> torch.Tensor:
    gray = batch.get("gray")
    if gray is None:
        return torch.zeros(n, dtype=torch.bool, device=device)
    return torch.as_tensor(gray, device=device).bool().view(n)


class _Fidelity(Metric):
    def __init__(self, ctx: MetricContext) -> None:
        self.channel = ctx.channel
        self.border = ctx.scale if ctx.crop_border is None else ctx.crop_border

    def planes(self, prediction: torch.Tensor, target: torch.Tensor, batch: Mapping[str, Any]):
        gray = _gray_flags(batch, prediction.shape[0], prediction.device)
        pred = comparison_planes(quantise(prediction), gray, self.channel, is_target=False)
        tgt = comparison_planes(quantise(target), gray, self.channel, is_target=True)
        return shave(pred, self.border), shave(tgt, self.border)


class PSNR(_Fidelity):
    """Peak signal-to-noise ratio in dB on 8-bit planes (higher is better)."""

    def values(self, prediction, target, batch):
        pred, tgt = self.planes(prediction, target, batch)
        mse = (pred - tgt).pow(2).flatten(1).mean(dim=1)
        return 10.0 * torch.log10(255.0**2 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype=torch.float64, device=None) -> torch.Tensor:
    """Normalised 2-D Gaussian window, as MATLAB's ``fspecial('gaussian', size, sigma)``."""
    coords = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2.0
    g = torch.exp(-(coords**2) / (2.0 * sigma**2))
    window = torch.outer(g, g)
    return window / window.sum()


class SSIM(_Fidelity):
    """Structural similarity (Wang et al. 2004) on 8-bit planes (higher is better)."""

    def values(self, prediction, target, batch):
        pred, tgt = self.planes(prediction, target, batch)
        channels = pred.shape[1]
        window = gaussian_window(device=pred.device).expand(channels, 1, 11, 11)
        c1, c2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2

        def blur(x: torch.Tensor) -> torch.Tensor:
            return F.conv2d(x, window, groups=channels)

        mu1, mu2 = blur(pred), blur(tgt)
        mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
        sigma1 = blur(pred * pred) - mu1_sq
        sigma2 = blur(tgt * tgt) - mu2_sq
        sigma12 = blur(pred * tgt) - mu12
        ssim_map = ((2 * mu12 + c1) * (2 * sigma12 + c2)) / ((mu1_sq + mu2_sq + c1) * (sigma1 + sigma2 + c2))
        return ssim_map.flatten(2).mean(dim=2).mean(dim=1)


@dataclass
class FidelityParams:
    """PSNR/SSIM take their channel and border from ``[training]``; nothing per metric."""


def build_psnr(params: FidelityParams, ctx: MetricContext) -> PSNR:
    """Factory for the PSNR metric."""
    return PSNR(ctx)


def build_ssim(params: FidelityParams, ctx: MetricContext) -> SSIM:
    """Factory for the SSIM metric."""
    return SSIM(ctx)
