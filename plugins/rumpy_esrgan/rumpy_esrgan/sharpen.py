"""Unsharp masking of HR targets, as Real-ESRGAN sharpens the images its pixel and perceptual
losses compare with (the discriminator still sees the plain HR images)."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def gaussian_kernel_1d(size: int) -> torch.Tensor:
    """OpenCV's Gaussian of ``size`` taps for sigma 0: sigma = 0.3 * ((size - 1) / 2 - 1) + 0.8."""
    sigma = 0.3 * ((size - 1) * 0.5 - 1.0) + 0.8
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-x.square() / (2 * sigma * sigma))
    return (kernel / kernel.sum()).float()


class UnsharpMask(torch.nn.Module):
    """``sharp = image + amount * (image - blur(image))``, clipped to [0, 1], applied where the
    detail ``|image - blur|`` exceeds ``threshold`` (0-255 units), with the mask itself blurred
    so the sharpened regions blend in (Real-ESRGAN's USM: size 51, amount 0.5, threshold 10)."""

    def __init__(self, size: int = 51, amount: float = 0.5, threshold: float = 10.0) -> None:
        super().__init__()
        size += 1 - size % 2  # an odd number of taps, centred
        line = gaussian_kernel_1d(size)
        self.register_buffer("kernel", torch.outer(line, line)[None, None], persistent=False)
        self.amount = amount
        self.threshold = threshold

    def _blur(self, image: torch.Tensor) -> torch.Tensor:
        n, c, h, w = image.shape
        pad = self.kernel.shape[-1] // 2
        flat = F.pad(image.reshape(n * c, 1, h, w), (pad, pad, pad, pad), mode="reflect")
        return F.conv2d(flat, self.kernel.to(image.dtype)).reshape(n, c, h, w)

    @torch.no_grad()
    def forward(self, image: torch.Tensor) -> torch.Tensor:
        detail = image - self._blur(image)
        mask = (detail.abs() * 255 > self.threshold).to(image.dtype)
        soft = self._blur(mask)
        sharp = (image + self.amount * detail).clamp(0, 1)
        return soft * sharp + (1 - soft) * image
