"""``blur``: Gaussian blur with isotropic or anisotropic kernels, recorded as parameters and a PCA code."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import ConfigError
from ..params import option
from ..safety import user_path
from .base import BuildContext, Metadata, Operation
from .kernels import KernelPca, convolve, gaussian_kernels
from .values import Range, quantize

PCA_SEED = 0
"""Seed of the kernels drawn to fit the PCA basis, so a given blur configuration always gets the same basis."""

_PCA_BATCH = 4096


@dataclass
class BlurParams:
    """Parameters of ``blur``. Sigmas and angle: a number, or ``[low, high]`` drawn uniformly per image."""

    kernel_size: int = option(21, min=3, max=255, help="side of the square kernel in pixels (odd)")
    iso_probability: float = option(1.0, min=0.0, max=1.0, aliases=("rate_iso",),
                                    help="chance that a kernel is isotropic; otherwise it is anisotropic")
    sigma: float | list[float] = option([0.2, 4.0], min=0.01, help="isotropic kernels: standard deviation in pixels")
    sigma_x: float | list[float] = option([0.2, 4.0], min=0.01, aliases=("sigma_x_range",),
                                          help="anisotropic kernels: standard deviation along the first axis")
    sigma_y: float | list[float] = option([0.2, 4.0], min=0.01, aliases=("sigma_y_range",),
                                          help="anisotropic kernels: standard deviation along the second axis")
    angle: float | list[float] = option([0.0, 180.0],
                                        help="anisotropic kernels: degrees from the image x axis towards y (down) "
                                             "to the first axis")
    pca_length: int = option(10, min=1, max=1024, help="length of the PCA code blur_kernel")
    pca_samples: int = option(30000, min=1, max=1_000_000, aliases=("pca_batch_len",),
                              help="kernels drawn from this operation's distribution to fit the PCA basis")
    pca_matrix: str | None = option(None, aliases=("load_pca_matrix",),
                                    help="PCA file of an earlier run (.npz) or of the original rumpy (.pth) "
                                         "to encode kernels with, instead of fitting a basis")


@dataclass(frozen=True)
class KernelDraws:
    """Parameters of drawn kernels, one entry per kernel (isotropic: ``sigma_x == sigma_y``, angle 0)."""

    sigma_x: np.ndarray
    sigma_y: np.ndarray
    angle: np.ndarray


@dataclass(frozen=True)
class KernelDistribution:
    """How a ``blur`` operation draws its kernels."""

    size: int
    iso_probability: float
    sigma: Range
    sigma_x: Range
    sigma_y: Range
    angle: Range

    def draw(self, rng: np.random.Generator, count: int) -> KernelDraws:
        """Draw the parameters of ``count`` kernels."""
        isotropic = rng.random(count) < self.iso_probability
        sigma = self.sigma.draw(rng, count)
        sigma_x = np.where(isotropic, sigma, self.sigma_x.draw(rng, count))
        sigma_y = np.where(isotropic, sigma, self.sigma_y.draw(rng, count))
        angle = np.where(isotropic, 0.0, self.angle.draw(rng, count))
        return KernelDraws(sigma_x, sigma_y, angle)

    def sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` kernels drawn from the distribution, shape ``(count, size, size)``."""
        draws = self.draw(rng, count)
        return gaussian_kernels(draws.sigma_x, draws.sigma_y, draws.angle, self.size)


class KernelSampler(Protocol):
    """A distribution of blur kernels that a PCA basis can be fitted to (hashable, for the cache)."""

    def sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` kernels, shape ``(count, size, size)``, each symmetric under a half turn."""


@functools.lru_cache(maxsize=8)
def fit_pca(distribution: KernelSampler, samples: int, length: int) -> KernelPca:
    """The PCA basis of ``samples`` kernels drawn from ``distribution`` with :data:`PCA_SEED`.

    Cached: every pipeline with the same blur settings in a process shares one fit.
    """
    def batches() -> Iterator[np.ndarray]:
        rng = np.random.default_rng(PCA_SEED)
        for start in range(0, samples, _PCA_BATCH):
            yield distribution.sample(rng, min(_PCA_BATCH, samples - start))

    return KernelPca.fit(batches(), length)


def kernel_pca(params: Any, distribution: KernelSampler, size: int, context: BuildContext) -> KernelPca:
    """The PCA basis a blur operation codes its ``size`` x ``size`` kernels with: loaded from
    ``params.pca_matrix`` when given (the path is made absolute in ``params``), else fitted to
    ``params.pca_samples`` kernels of ``distribution``; ``params.pca_length`` is checked to fit."""
    where = context.where
    if params.pca_length > size**2:
        raise ConfigError(f"{where}.pca_length: {params.pca_length} exceeds the {size**2} values of a kernel")
    if params.pca_matrix is not None:
        path = user_path(params.pca_matrix, context.base_dir, f"{where}.pca_matrix")
        params.pca_matrix = str(path.resolve())
        return KernelPca.load(path, size, params.pca_length, f"{where}.pca_matrix")
    if params.pca_samples <= params.pca_length:
        raise ConfigError(f"{where}.pca_samples: {params.pca_samples} kernels cannot fit {params.pca_length} "
                          f"components; draw more")
    return fit_pca(distribution, params.pca_samples, params.pca_length)


class Blur(Operation):
    """Convolve with a Gaussian kernel (reflect-padded borders)."""

    name = "blur"
    family = "blur"
    Params = BlurParams

    def __init__(self, params: BlurParams, context: BuildContext) -> None:
        super().__init__(params, context)
        where = context.where
        if params.kernel_size % 2 == 0:
            raise ConfigError(f"{where}.kernel_size: {params.kernel_size} is even; use an odd size such as 21")
        self.distribution = KernelDistribution(
            params.kernel_size, params.iso_probability, Range.of(params.sigma, f"{where}.sigma"),
            Range.of(params.sigma_x, f"{where}.sigma_x"), Range.of(params.sigma_y, f"{where}.sigma_y"),
            Range.of(params.angle, f"{where}.angle"))
        self.pca = kernel_pca(params, self.distribution, params.kernel_size, context)

    @property
    def isotropic_only(self) -> bool:
        """Whether every kernel is isotropic (then one sigma describes it)."""
        return self.params.iso_probability == 1.0

    def metadata_dims(self) -> dict[str, int]:
        stems = ["blur_sigma"] if self.isotropic_only else ["blur_sigma_x", "blur_sigma_y", "blur_angle"]
        return {**{self.column(stem): 1 for stem in stems}, self.column("blur_kernel"): self.pca.length}

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Metadata]:
        draws = self.distribution.draw(rng, 1)
        sigma_x, sigma_y, angle = float(draws.sigma_x[0]), float(draws.sigma_y[0]), float(draws.angle[0])
        kernel = gaussian_kernels(sigma_x, sigma_y, angle, self.params.kernel_size)[0]
        if self.isotropic_only:
            metadata: Metadata = {self.column("blur_sigma"): sigma_x}
        else:
            metadata = {self.column("blur_sigma_x"): sigma_x, self.column("blur_sigma_y"): sigma_y,
                        self.column("blur_angle"): angle}
        metadata[self.column("blur_kernel")] = self.pca.encode(kernel)
        return quantize(convolve(image, kernel)), metadata

    def files(self) -> dict[str, bytes]:
        return {self.pca_file_name: self.pca.to_bytes()}

    @property
    def pca_file_name(self) -> str:
        """Name of the PCA basis file written beside the images (reusable as ``pca_matrix``)."""
        return f"{self.column('blur_kernel')}_pca.npz"
