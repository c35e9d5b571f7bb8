"""Blur with kernels of several shapes: Real-ESRGAN's mixture (``realesrganblur``) and BSRGAN's
Gaussians of random size (``bsrganblur``).

Real-ESRGAN (Wang et al., ICCVW 2021) draws each kernel's size (odd, 7-21 pixels), then with
``sinc_probability`` a sinc (ringing) kernel, otherwise a shape from ``kernel_families`` with
``kernel_probabilities``: a Gaussian, a generalised Gaussian (``exp(-q^beta / 2)``, heavier or
lighter tails) or a plateau kernel (``1 / (1 + q^beta)``, a flat top), each isotropic or
anisotropic. Every kernel is centred in a ``max(kernel_size)`` square, so the PCA code
``blur_kernel`` has one length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..params import coerce, option
from .base import BuildContext, Metadata, Operation
from .blur import kernel_pca
from .kernels import convolve, gaussian_kernels, pad_kernel, shaped_kernels, sinc_kernel
from .values import Range, quantize

FAMILIES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso", "sinc")
"""Kernel shapes; a kernel's ``blur_family`` column is its position here (the original rumpy's codes)."""

PAPER_FAMILIES = FAMILIES[:6]
PAPER_PROBABILITIES = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)


@dataclass(frozen=True)
class KernelDraw:
    """One drawn kernel's parameters; those its shape does not use are 0."""

    family: str
    size: int
    sigma_x: float = 0.0
    sigma_y: float = 0.0
    angle: float = 0.0
    beta: float = 0.0
    omega: float = 0.0

    def metadata(self, column) -> Metadata:
        """The recorded values, by column (``column(stem)`` adds the operation's suffix)."""
        return {column("blur_family"): float(FAMILIES.index(self.family)),
                column("blur_kernel_size"): float(self.size), column("blur_sigma_x"): self.sigma_x,
                column("blur_sigma_y"): self.sigma_y, column("blur_angle"): self.angle,
                column("blur_beta"): self.beta, column("blur_omega"): self.omega}


def draw_omega(rng: np.random.Generator, size: int) -> float:
    """A sinc cut-off as Real-ESRGAN draws it: uniform in (pi/3, pi) for kernels under 13 pixels, else
    (pi/5, pi), so small kernels do not ring too strongly."""
    return float(rng.uniform(math.pi / 3 if size < 13 else math.pi / 5, math.pi))


def draw_beta(rng: np.random.Generator, beta: Range) -> float:
    """A shape exponent: with a range around 1, half the draws below 1 and half above (as Real-ESRGAN)."""
    if beta.low < 1.0 < beta.high:
        return float(rng.uniform(beta.low, 1.0) if rng.random() < 0.5 else rng.uniform(1.0, beta.high))
    return beta.draw(rng)


@dataclass(frozen=True)
class MixedKernels:
    """Real-ESRGAN's kernel distribution (hashable, so PCA fits are cached per distribution)."""

    sizes: tuple[int, ...]
    families: tuple[str, ...]
    probabilities: tuple[float, ...]
    sinc_probability: float
    sigma_x: Range
    sigma_y: Range
    angle: Range
    beta_generalized: Range
    beta_plateau: Range

    @property
    def side(self) -> int:
        """Side of the square every kernel is centred in."""
        return max(self.sizes)

    def draw(self, rng: np.random.Generator) -> KernelDraw:
        """One kernel's shape, size and parameters."""
        size = int(self.sizes[rng.integers(len(self.sizes))])
        if rng.random() < self.sinc_probability:
            return KernelDraw("sinc", size, omega=draw_omega(rng, size))
        family = self.families[rng.choice(len(self.families), p=self.probabilities)]
        if family == "sinc":
            return KernelDraw("sinc", size, omega=draw_omega(rng, size))
        sigma_x = self.sigma_x.draw(rng)
        sigma_y, angle = (sigma_x, 0.0) if family.endswith("iso") and not family.endswith("aniso") else \
            (self.sigma_y.draw(rng), self.angle.draw(rng))
        beta = 0.0
        if family.startswith("generalized"):
            beta = draw_beta(rng, self.beta_generalized)
        elif family.startswith("plateau"):
            beta = draw_beta(rng, self.beta_plateau)
        return KernelDraw(family, size, sigma_x, sigma_y, angle, beta)

    def kernel(self, draw: KernelDraw) -> np.ndarray:
        """The normalised kernel of a draw, centred in a ``side`` x ``side`` square."""
        return pad_kernel(make_kernel(draw), self.side)

    def sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` kernels, shape ``(count, side, side)``."""
        return np.stack([self.kernel(self.draw(rng)) for _ in range(count)])


def make_kernel(draw: KernelDraw) -> np.ndarray:
    """The normalised ``size`` x ``size`` kernel of a draw, exactly symmetric under a half turn."""
    if draw.family == "sinc":
        kernel = sinc_kernel(draw.omega, draw.size)
    elif draw.family in ("iso", "aniso"):
        kernel = gaussian_kernels(draw.sigma_x, draw.sigma_y, draw.angle, draw.size)[0]
    else:
        shape = "generalized" if draw.family.startswith("generalized") else "plateau"
        kernel = shaped_kernels(shape, draw.sigma_x, draw.sigma_y, draw.angle, draw.beta, draw.size)[0]
    # vectorised maths can round mirrored entries differently; the PCA fit relies on the symmetry
    return (kernel + kernel[::-1, ::-1]) / 2


def odd_sizes(value: int | list[int], where: str) -> tuple[int, ...]:
    """Kernel sizes to draw from: a number (odd), or ``[low, high]``: every odd size in between."""
    low, high = (value, value) if isinstance(value, int) else (value[0], value[-1])
    if isinstance(value, list) and (len(value) != 2 or low > high):
        raise ConfigError(f"{where}: expected an odd size or [low, high] with low <= high, got {value!r}")
    sizes = tuple(size for size in range(low, high + 1) if size % 2)
    if not sizes or (isinstance(value, int) and value % 2 == 0):
        raise ConfigError(f"{where}: {value!r} holds no odd size; kernels need an odd side such as 21")
    return sizes


@dataclass
class RealESRGANBlurParams:
    """Parameters of ``realesrganblur`` (defaults: Real-ESRGAN's first blur)."""

    kernel_size: int | list[int] = option([7, 21], min=3, max=255,
                                          help="side of the kernel: an odd number, or [low, high]: any odd side "
                                               "in between, uniformly")
    kernel_families: list[str] = option(list(PAPER_FAMILIES), aliases=("kernel_list",),
                                        help=f"shapes to draw from: {', '.join(FAMILIES)}")
    kernel_probabilities: list[float] | None = option(
        list(PAPER_PROBABILITIES), min=0.0, help="chance of each shape (normalised; none: equal chances)")
    sinc_probability: float = option(0.1, min=0.0, max=1.0, help="chance of a sinc kernel before a shape is drawn")
    sigma_x: float | list[float] = option([0.2, 3.0], min=0.01, aliases=("sigma_x_range",),
                                          help="standard deviation along the kernel's first axis (isotropic: both)")
    sigma_y: float | list[float] = option([0.2, 3.0], min=0.01, aliases=("sigma_y_range",),
                                          help="anisotropic kernels: standard deviation along the second axis")
    angle: float | list[float] = option([0.0, 180.0], help="anisotropic kernels: degrees from the image x axis "
                                                            "towards y (down) to the first axis")
    beta_generalized: float | list[float] = option([0.5, 4.0], min=0.01, aliases=("betag_range",),
                                                   help="generalised Gaussians: exponent (half the draws below 1)")
    beta_plateau: float | list[float] = option([1.0, 2.0], min=0.01, aliases=("betap_range",),
                                               help="plateau kernels: exponent")
    pca_length: int = option(10, min=1, max=1024, help="length of the PCA code blur_kernel")
    pca_samples: int = option(30000, min=1, max=1_000_000, aliases=("pca_batch_len",),
                              help="kernels drawn from this operation's distribution to fit the PCA basis")
    pca_matrix: str | None = option(None, aliases=("load_pca_matrix",),
                                    help="PCA file of an earlier run (.npz) to code kernels with")


def mixed_kernels(where: str, kernel_size: int | list[int], kernel_families: list[str],
                  kernel_probabilities: list[float] | None, sinc_probability: float, sigma_x: Range, sigma_y: Range,
                  angle: Range, beta_generalized: Range, beta_plateau: Range) -> MixedKernels:
    """A checked kernel mixture (mistakes name the keys under ``where``)."""
    families = tuple(str(name).lower() for name in kernel_families)
    for index, name in enumerate(families):
        if name not in FAMILIES:
            raise ConfigError(f"{where}.kernel_families[{index}]: unknown shape {name!r}; known: {', '.join(FAMILIES)}")
    if not families:
        raise ConfigError(f"{where}.kernel_families: empty; name at least one shape, e.g. [\"iso\"]")
    weights = kernel_probabilities or [1.0] * len(families)
    if len(weights) != len(families) or sum(weights) <= 0:
        raise ConfigError(f"{where}.kernel_probabilities: needs one non-negative chance per kernel family "
                          f"({len(families)}), not all zero")
    total = float(sum(weights))
    return MixedKernels(odd_sizes(kernel_size, f"{where}.kernel_size"), families, tuple(w / total for w in weights),
                        sinc_probability, sigma_x, sigma_y, angle, beta_generalized, beta_plateau)


@dataclass
class BSRGANBlurParams:
    """Parameters of ``bsrganblur`` (defaults: BSRGAN's x4 blur, as the original rumpy's)."""

    kernel_size: int | list[int] = option([7, 25], min=3, max=255,
                                          help="side of the kernel: odd, or [low, high] drawn among the odd sides")
    iso_probability: float = option(0.5, min=0.0, max=1.0, help="chance of an isotropic kernel")
    sigma: float | list[float] = option([0.1, 2.8], min=0.01, aliases=("sigma_range",),
                                        help="isotropic kernels: standard deviation in pixels")
    l1: float | list[float] = option([0.1, 8.0], min=0.0001, aliases=("l1_range",),
                                     help="anisotropic kernels: variance along the first axis (pixels squared)")
    l2: float | list[float] = option([0.1, 8.0], min=0.0001, aliases=("l2_range",),
                                     help="anisotropic kernels: variance along the second axis")
    angle: float | list[float] = option([0.0, 180.0], help="anisotropic kernels: degrees from the image x axis "
                                                            "towards y (down) to the first axis")
    pca_length: int = option(10, min=1, max=1024, help="length of the PCA code blur_kernel")
    pca_samples: int = option(30000, min=1, max=1_000_000, aliases=("pca_batch_len",),
                              help="kernels drawn from this operation's distribution to fit the PCA basis")
    pca_matrix: str | None = option(None, aliases=("load_pca_matrix",),
                                    help="PCA file of an earlier run (.npz) to code kernels with")


@dataclass(frozen=True)
class BSRGANKernels:
    """BSRGAN's blur (Zhang et al., ICCV 2021): an isotropic Gaussian, or an anisotropic one given by
    the variances along its axes, of a random odd size."""

    sizes: tuple[int, ...]
    iso_probability: float
    sigma: Range
    l1: Range
    l2: Range
    angle: Range

    @property
    def side(self) -> int:
        """Side of the square every kernel is centred in."""
        return max(self.sizes)

    def draw(self, rng: np.random.Generator) -> KernelDraw:
        """One kernel's size and parameters (sigmas in pixels)."""
        size = int(self.sizes[rng.integers(len(self.sizes))])
        if rng.random() < self.iso_probability:
            sigma = self.sigma.draw(rng)
            return KernelDraw("iso", size, sigma, sigma)
        return KernelDraw("aniso", size, math.sqrt(self.l1.draw(rng)), math.sqrt(self.l2.draw(rng)),
                          self.angle.draw(rng))

    def kernel(self, draw: KernelDraw) -> np.ndarray:
        """The normalised kernel of a draw, centred in a ``side`` x ``side`` square."""
        return pad_kernel(make_kernel(draw), self.side)

    def sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` kernels, shape ``(count, side, side)``."""
        return np.stack([self.kernel(self.draw(rng)) for _ in range(count)])


class DrawnKernelBlur(Operation):
    """Convolve with a kernel drawn per image from ``self.kernels`` (reflect-padded borders); record its
    parameters and its PCA code ``blur_kernel``. Subclasses set ``kernels`` and ``pca``."""

    family = "blur"
    kernels: MixedKernels | BSRGANKernels
    pca: Any

    def metadata_dims(self) -> dict[str, int]:
        stems = ("blur_family", "blur_kernel_size", "blur_sigma_x", "blur_sigma_y", "blur_angle", "blur_beta",
                 "blur_omega")
        return {**{self.column(stem): 1 for stem in stems}, self.column("blur_kernel"): self.pca.length}

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Metadata]:
        draw = self.kernels.draw(rng)
        kernel = self.kernels.kernel(draw)
        metadata = draw.metadata(self.column)
        metadata[self.column("blur_kernel")] = self.pca.encode(kernel)
        return quantize(convolve(image, kernel)), metadata

    def files(self) -> dict[str, bytes]:
        return {f"{self.column('blur_kernel')}_pca.npz": self.pca.to_bytes()}


class RealESRGANBlur(DrawnKernelBlur):
    """Convolve with a kernel drawn from Real-ESRGAN's mixture (reflect-padded borders).

    Also reads the original rumpy's keys: ``kernel_range`` (shapes, or ``"all"``),
    ``rotation_range`` (radians).
    """

    name = "realesrganblur"
    Params = RealESRGANBlurParams

    @classmethod
    def build(cls, raw: dict[str, Any], context: BuildContext) -> Operation:
        own = {str(key).lower(): value for key, value in raw.items()}
        if "kernel_range" in own:
            shapes = own.pop("kernel_range")
            own["kernel_families"] = list(FAMILIES) if shapes == "all" else coerce(
                shapes, list[str], f"{context.where}.kernel_range")
            own.setdefault("kernel_probabilities", None)
        if "rotation_range" in own:
            radians = coerce(own.pop("rotation_range"), list[float], f"{context.where}.rotation_range")
            own["angle"] = [math.degrees(value) for value in radians]
        return super().build(own, context)

    def __init__(self, params: RealESRGANBlurParams, context: BuildContext) -> None:
        super().__init__(params, context)
        where = context.where
        self.kernels = mixed_kernels(
            where, params.kernel_size, params.kernel_families, params.kernel_probabilities, params.sinc_probability,
            Range.of(params.sigma_x, f"{where}.sigma_x"), Range.of(params.sigma_y, f"{where}.sigma_y"),
            Range.of(params.angle, f"{where}.angle"), Range.of(params.beta_generalized, f"{where}.beta_generalized"),
            Range.of(params.beta_plateau, f"{where}.beta_plateau"))
        self.pca = kernel_pca(params, self.kernels, self.kernels.side, context)


class BSRGANBlur(DrawnKernelBlur):
    """Convolve with BSRGAN's Gaussian kernel of random size (reflect-padded borders); records the
    same columns as ``realesrganblur`` (family 0 or 1, beta and omega 0)."""

    name = "bsrganblur"
    Params = BSRGANBlurParams

    @classmethod
    def build(cls, raw: dict[str, Any], context: BuildContext) -> Operation:
        own = {str(key).lower(): value for key, value in raw.items()}
        if "theta_range" in own:  # the original rumpy's angle, in radians
            radians = coerce(own.pop("theta_range"), list[float], f"{context.where}.theta_range")
            own["angle"] = [math.degrees(value) for value in radians]
        return super().build(own, context)

    def __init__(self, params: BSRGANBlurParams, context: BuildContext) -> None:
        super().__init__(params, context)
        where = context.where
        self.kernels = BSRGANKernels(odd_sizes(params.kernel_size, f"{where}.kernel_size"), params.iso_probability,
                                     Range.of(params.sigma, f"{where}.sigma"), Range.of(params.l1, f"{where}.l1"),
                                     Range.of(params.l2, f"{where}.l2"), Range.of(params.angle, f"{where}.angle"))
        self.pca = kernel_pca(params, self.kernels, self.kernels.side, context)
