"""``noise``: additive Gaussian or Poisson (shot) noise, in colour or gray."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..params import coerce, option
from .base import BuildContext, Metadata, Operation
from .values import Range, quantize

_BT601 = np.array([0.299, 0.587, 0.114])


@dataclass
class NoiseParams:
    """Parameters of ``noise``. Sigma and scale: a number, or ``[low, high]`` drawn uniformly per image."""

    gaussian_probability: float = option(0.5, min=0.0, max=1.0, aliases=("gaussian_poisson_ratio",),
                                         help="chance of Gaussian noise; otherwise Poisson noise")
    sigma: float | list[float] = option([1.0, 30.0], min=0.0, aliases=("gaussian_noise_sigma_range",),
                                        help="Gaussian noise standard deviation in 0-255 pixel units")
    poisson_scale: float | list[float] = option([0.05, 3.0], min=0.0, aliases=("poisson_noise_scale_range",),
                                                help="Poisson noise: multiplies the shot noise of 255 counts at white")
    gray_probability: float = option(0.4, min=0.0, max=1.0, aliases=("gray_noise_probability",),
                                     help="chance that one noise pattern is shared by all channels")


class Noise(Operation):
    """Add Gaussian noise (``sigma``) or Poisson noise (``poisson_scale``), then round to 8 bits.

    Poisson noise treats a pixel value ``v`` (0-255) as a photon count: the noise is
    ``Poisson(v) - v``, times ``poisson_scale``. Gray noise draws one pattern (Poisson: from
    the BT.601 luma) and adds it to every channel.
    """

    name = "noise"
    Params = NoiseParams

    def __init__(self, params: NoiseParams, context: BuildContext) -> None:
        super().__init__(params, context)
        self.sigma = Range.of(params.sigma, f"{context.where}.sigma")
        self.poisson_scale = Range.of(params.poisson_scale, f"{context.where}.poisson_scale")

    def metadata_dims(self) -> dict[str, int]:
        return {self.column(stem): 1 for stem in ("noise_sigma", "noise_poisson_scale", "noise_gray")}

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Metadata]:
        values = image.astype(np.float64)
        gray = bool(rng.random() < self.params.gray_probability)
        sigma = poisson_scale = 0.0
        if rng.random() < self.params.gaussian_probability:
            sigma = self.sigma.draw(rng)
            shape = image.shape[:2] + ((1,) if gray else image.shape[2:])
            noise = rng.standard_normal(shape) * sigma
        else:
            poisson_scale = self.poisson_scale.draw(rng)
            counts = (values @ _BT601)[..., None] if gray else values
            noise = (rng.poisson(counts) - counts) * poisson_scale
        metadata = {self.column("noise_sigma"): sigma, self.column("noise_poisson_scale"): poisson_scale,
                    self.column("noise_gray"): float(gray)}
        return quantize(values + noise), metadata


class RealESRGANNoise(Noise):
    """The original rumpy's ``realesrgannoise``: the same noise with the original's keys and defaults.

    Sigma (``gaussian_noise_sigma_range``, 0-255 units) and ``poisson_noise_scale_range`` default to
    [0, 1]. With ``random_noise_generation = false`` the fixed ``gaussian_noise_scale`` (or, when it
    is 0, ``poisson_noise_scale``) and ``gray_noise`` are applied to every image (the original
    inverted ``gray_noise`` there; here true means gray).
    """

    @classmethod
    def build(cls, raw: dict[str, Any], context: BuildContext) -> Operation:
        own = {str(key).lower(): value for key, value in raw.items()}
        where = context.where
        own.setdefault("gaussian_noise_sigma_range", [0.0, 1.0])
        own.setdefault("poisson_noise_scale_range", [0.0, 1.0])
        fixed = {key: own.pop(key) for key in ("gaussian_noise_scale", "poisson_noise_scale", "gray_noise")
                 if key in own}
        if coerce(own.pop("random_noise_generation", True), bool, f"{where}.random_noise_generation"):
            if fixed:
                raise ConfigError(f"{where}.{next(iter(fixed))}: a fixed value needs random_noise_generation = "
                                  f"false; remove it or set that")
        else:
            sigma = coerce(fixed.get("gaussian_noise_scale", 0.0), float, f"{where}.gaussian_noise_scale")
            scale = coerce(fixed.get("poisson_noise_scale", 0.0), float, f"{where}.poisson_noise_scale")
            gray = coerce(fixed.get("gray_noise", False), bool, f"{where}.gray_noise")
            own.update(gaussian_noise_sigma_range=sigma, poisson_noise_scale_range=scale,
                       gaussian_poisson_ratio=1.0 if sigma > 0 or scale == 0 else 0.0,
                       gray_noise_probability=1.0 if gray else 0.0)
        return super().build(own, context)
