"""Operation parameters that are fixed or drawn per image, and 8-bit quantisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class Range:
    """A parameter given as a number (``low == high``: fixed) or as ``[low, high]`` (drawn per image)."""

    low: float
    high: float

    @classmethod
    def of(cls, value: float | list[float], where: str) -> Range:
        """Read a config value: a number, or a ``[low, high]`` pair with ``low <= high``."""
        if isinstance(value, list):
            if len(value) != 2 or value[0] > value[1]:
                raise ConfigError(f"{where}: expected a number or [low, high] with low <= high, got {value!r}")
            return cls(value[0], value[1])
        return cls(value, value)

    def draw(self, rng: np.random.Generator, count: int | None = None) -> float | np.ndarray:
        """Uniform draw(s) in ``[low, high]``; a fixed value comes back exactly."""
        values = rng.uniform(self.low, self.high, size=count)
        return values if count is not None else float(values)

    def draw_int(self, rng: np.random.Generator) -> int:
        """A uniform integer in ``[low, high]``, both ends included."""
        return int(rng.integers(int(self.low), int(self.high) + 1))


def quantize(image: np.ndarray) -> np.ndarray:
    """Round (half up, as MATLAB) and clip float pixel values to uint8."""
    return np.clip(np.floor(image + 0.5), 0, 255).astype(np.uint8)
