"""Real-ESRGAN's second-order degradation (Wang et al., ICCVW 2021) and its parts: random resizing
(``randomresize``), the sinc filter (``sincfilter``) and the whole pipeline (``realesrgan``).

The pipeline applies two rounds of blur (the second with ``second_blur_probability``), random
resize (up, down or keep, by area, bilinear or bicubic interpolation), noise (Gaussian or
Poisson, colour or gray) and JPEG, then resizes to the HR size divided by ``scale`` and applies a
sinc filter (with ``final_sinc_probability``) and a last JPEG, these two in random order. The
values are kept in floating point between steps (clipped before noise is added and before each
JPEG) and rounded to 8 bits at the end, as Real-ESRGAN does.

Every random choice of one image is drawn first (:meth:`SecondOrder.draw`, from NumPy), then
applied with the tensor operations of :mod:`rumpycore.degrade.tensor_ops` (:func:`degrade_batch`).
``rumpy degrade`` and online sets apply one image at a time on the CPU; the device pipeline
(:mod:`rumpycore.degrade.device`) applies a batch on a GPU, with the resize and final-order
choices of the batch's first image for the whole batch (tensors of one batch share a size), as
Real-ESRGAN does. So both draw from the same distributions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..params import option
from .base import BuildContext, Metadata, Operation
from .kernels import pad_kernel, sinc_kernel
from .mixed_blur import FAMILIES, PAPER_FAMILIES, PAPER_PROBABILITIES, KernelDraw, MixedKernels, draw_omega, \
    mixed_kernels, odd_sizes
from .scaling import ScaledOperation, modcrop
from .tensor_ops import RESIZE_MODES, add_noise, filter2d, one_thread, pillow_jpeg, quantize, resize
from .values import Range

DIRECTIONS = ("up", "down", "keep")


# ---------------------------------------------------------------------------- the parts and their draws


@dataclass(frozen=True)
class ResizeDraw:
    """A random resize: the factor (1 for ``keep``) and the interpolation."""

    factor: float
    mode: str

    def metadata(self, column: Callable[[str], str]) -> Metadata:
        return {column("resize_scale"): self.factor, column("resize_mode"): float(RESIZE_MODES.index(self.mode))}


@dataclass(frozen=True)
class RandomResize:
    """Up with ``probabilities[0]`` (factor uniform in ``[1, range.high]``), down with ``[1]``
    (``[range.low, 1]``), else keep; interpolation area, bilinear or bicubic with equal chances."""

    probabilities: tuple[float, float, float]
    factors: Range

    def draw(self, rng: np.random.Generator) -> ResizeDraw:
        direction = DIRECTIONS[rng.choice(3, p=self.probabilities)]
        factor = 1.0
        if direction == "up":
            factor = float(rng.uniform(1.0, self.factors.high))
        elif direction == "down":
            factor = float(rng.uniform(self.factors.low, 1.0))
        return ResizeDraw(factor, RESIZE_MODES[rng.integers(len(RESIZE_MODES))])


def random_resize(probabilities: list[float], factors: float | list[float], where: str) -> RandomResize:
    """A checked :class:`RandomResize` (mistakes name the keys under ``where``)."""
    if len(probabilities) != 3 or sum(probabilities) <= 0:
        raise ConfigError(f"{where}: expected three non-negative chances [up, down, keep], not all zero, "
                          f"got {probabilities!r}")
    span = Range.of(factors, where.replace("probabilities", "range"))
    if not span.low <= 1.0 <= span.high:
        raise ConfigError(f"{where.replace('probabilities', 'range')}: expected [low, high] around 1 (down to low, "
                          f"up to high), got {factors!r}")
    total = float(sum(probabilities))
    return RandomResize(tuple(p / total for p in probabilities), span)


@dataclass(frozen=True)
class NoiseDraw:
    """Additive noise: Gaussian (``sigma``, 0-255 units) or Poisson (``poisson_scale``), colour or gray."""

    gaussian: bool
    sigma: float
    poisson_scale: float
    gray: bool

    def metadata(self, column: Callable[[str], str]) -> Metadata:
        return {column("noise_sigma"): self.sigma, column("noise_poisson_scale"): self.poisson_scale,
                column("noise_gray"): float(self.gray)}


@dataclass(frozen=True)
class RandomNoise:
    """Real-ESRGAN's noise: Gaussian with ``gaussian_probability``, else Poisson; gray with ``gray_probability``."""

    gaussian_probability: float
    sigma: Range
    poisson_scale: Range
    gray_probability: float

    def draw(self, rng: np.random.Generator) -> NoiseDraw:
        if rng.random() < self.gaussian_probability:
            return NoiseDraw(True, self.sigma.draw(rng), 0.0, bool(rng.random() < self.gray_probability))
        return NoiseDraw(False, 0.0, self.poisson_scale.draw(rng), bool(rng.random() < self.gray_probability))


@dataclass(frozen=True)
class SincDraw:
    """The final sinc filter: its cut-off and size (both 0 when the image was not filtered)."""

    omega: float = 0.0
    size: int = 0

    def metadata(self, column: Callable[[str], str]) -> Metadata:
        return {column("sinc_omega"): self.omega, column("sinc_kernel_size"): float(self.size)}


@dataclass(frozen=True)
class RandomSinc:
    """A sinc kernel with ``probability`` (size uniform among ``sizes``, cut-off as Real-ESRGAN draws it)."""

    probability: float
    sizes: tuple[int, ...]

    def draw(self, rng: np.random.Generator) -> SincDraw:
        size = int(self.sizes[rng.integers(len(self.sizes))])
        if rng.random() < self.probability:
            return SincDraw(draw_omega(rng, size), size)
        return SincDraw()

    def kernel(self, draw: SincDraw) -> np.ndarray:
        """The draw's kernel in a ``max(sizes)`` square (a unit impulse when not filtering)."""
        side = max(self.sizes)
        if not draw.size:
            impulse = np.zeros((side, side))
            impulse[side // 2, side // 2] = 1.0
            return impulse
        return pad_kernel(sinc_kernel(draw.omega, draw.size), side)


@dataclass(frozen=True)
class SecondOrderDraw:
    """Every random choice of one image's second-order degradation."""

    kernel: KernelDraw
    resize: ResizeDraw
    noise: NoiseDraw
    quality: int
    second_blur: bool
    kernel_2: KernelDraw
    resize_2: ResizeDraw
    noise_2: NoiseDraw
    jpeg_first: bool
    final_mode: str
    sinc: SincDraw
    quality_2: int
    noise_seed: int = field(repr=False, default=0)


@dataclass(frozen=True)
class SecondOrder:
    """The distributions of the second-order degradation's choices, and the scale it ends at."""

    scale: int
    kernels: MixedKernels
    kernels_2: MixedKernels
    second_blur_probability: float
    resize: RandomResize
    resize_2: RandomResize
    noise: RandomNoise
    noise_2: RandomNoise
    quality: Range
    quality_2: Range
    sinc: RandomSinc

    def draw(self, rng: np.random.Generator) -> SecondOrderDraw:
        """One image's choices, in the order the pipeline applies them."""
        kernel, resize_1, noise = self.kernels.draw(rng), self.resize.draw(rng), self.noise.draw(rng)
        quality = self.quality.draw_int(rng)
        second_blur = bool(rng.random() < self.second_blur_probability)
        kernel_2 = self.kernels_2.draw(rng)
        resize_2, noise_2 = self.resize_2.draw(rng), self.noise_2.draw(rng)
        jpeg_first = bool(rng.random() < 0.5)
        final_mode = RESIZE_MODES[rng.integers(len(RESIZE_MODES))]
        sinc = self.sinc.draw(rng)
        quality_2 = self.quality_2.draw_int(rng)
        return SecondOrderDraw(kernel, resize_1, noise, quality, second_blur, kernel_2, resize_2, noise_2,
                               jpeg_first, final_mode, sinc, quality_2, int(rng.integers(2**63)))

    def metadata(self, draw: SecondOrderDraw, column: Callable[[str], str]) -> Metadata:
        """The recorded values of one image's draw, by column."""
        def suffixed(stem: str) -> str:
            return column(f"{stem}_2")

        second = draw.kernel_2 if draw.second_blur else KernelDraw("none", 0)
        values: Metadata = {**draw.kernel.metadata(column), **draw.resize.metadata(column),
                            **draw.noise.metadata(column), column("jpeg_quality"): float(draw.quality)}
        values.update({**_kernel_metadata(second, suffixed), **draw.resize_2.metadata(suffixed),
                       **draw.noise_2.metadata(suffixed)})
        values.update({column("final_jpeg_first"): float(draw.jpeg_first),
                       column("resize_mode_3"): float(RESIZE_MODES.index(draw.final_mode)),
                       **draw.sinc.metadata(column), column("jpeg_quality_2"): float(draw.quality_2),
                       column("scale"): float(self.scale)})
        return values


def _kernel_metadata(draw: KernelDraw, column: Callable[[str], str]) -> Metadata:
    """A kernel's columns; the skipped second blur records family -1 and zeros."""
    if draw.family == "none":
        return {**KernelDraw("iso", 0).metadata(column), column("blur_family"): -1.0}
    return draw.metadata(column)


JpegFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def degrade_batch(hr: torch.Tensor, draws: Sequence[SecondOrderDraw], pipeline: SecondOrder, jpeg: JpegFunction,
                  generator: torch.Generator) -> torch.Tensor:
    """Apply the draws to a batch of HR images (``N x 3 x H x W`` in [0, 1], H and W multiples of the
    scale): per-image kernels, noise and qualities; the first draw's resizes and final order for all.
    Returns the LR batch (``H / scale`` x ``W / scale``) rounded to 8-bit levels."""
    first = draws[0]
    device = hr.device

    def column(values: list) -> torch.Tensor:
        return torch.tensor(values, device=device)

    height, width = hr.shape[-2:]
    out_h, out_w = height // pipeline.scale, width // pipeline.scale

    def kernels(chosen: Sequence[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(chosen)).to(device=device, dtype=torch.float32)

    def noise(images: torch.Tensor, noises: Sequence[NoiseDraw]) -> torch.Tensor:
        return add_noise(images, column([n.gaussian for n in noises]), column([n.sigma for n in noises]),
                         column([n.poisson_scale for n in noises]), column([n.gray for n in noises]), generator)

    out = filter2d(hr, kernels([pipeline.kernels.kernel(d.kernel) for d in draws]))
    size = (int(height * first.resize.factor), int(width * first.resize.factor))
    out = noise(resize(out, size, first.resize.mode), [d.noise for d in draws])
    out = jpeg(out, column([d.quality for d in draws]))
    if any(d.second_blur for d in draws):
        blurred = filter2d(out, kernels([pipeline.kernels_2.kernel(d.kernel_2) for d in draws]))
        out = torch.where(column([d.second_blur for d in draws]).view(-1, 1, 1, 1), blurred, out)
    size = (int(out_h * first.resize_2.factor), int(out_w * first.resize_2.factor))
    out = noise(resize(out, size, first.resize_2.mode), [d.noise_2 for d in draws])
    sinc = kernels([pipeline.sinc.kernel(d.sinc) for d in draws])
    if first.jpeg_first:
        out = jpeg(out, column([d.quality_2 for d in draws]))
        out = filter2d(resize(out, (out_h, out_w), first.final_mode), sinc)
    else:
        out = filter2d(resize(out, (out_h, out_w), first.final_mode), sinc).clamp(0, 1)
        out = jpeg(out, column([d.quality_2 for d in draws]))
    return quantize(out)


# ---------------------------------------------------------------------------- the operations


def _cpu_generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(seed)


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(torch.float32) / 255.0


def _image(batch: torch.Tensor) -> np.ndarray:
    return (batch[0] * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()


@dataclass
class RealESRGANParams:
    """Parameters of ``realesrgan`` (defaults: Real-ESRGAN's x4 training settings). Ranges: a number
    fixes a value, ``[low, high]`` draws it uniformly per image."""

    scale: int = option(4, min=1, max=64, help="the HR image is reduced by this factor (default: the top-level "
                                               "scale, else 4)")
    kernel_size: int | list[int] = option([7, 21], min=3, max=255, help="blur kernel side: odd, or [low, high]")
    kernel_families: list[str] = option(list(PAPER_FAMILIES), aliases=("kernel_list",),
                                        help=f"blur shapes: {', '.join(FAMILIES)}")
    kernel_probabilities: list[float] | None = option(list(PAPER_PROBABILITIES), min=0.0,
                                                      aliases=("kernel_prob",), help="chance of each blur shape")
    beta_generalized: float | list[float] = option([0.5, 4.0], min=0.01, aliases=("betag_range",),
                                                   help="generalised Gaussians: exponent")
    beta_plateau: float | list[float] = option([1.0, 2.0], min=0.01, aliases=("betap_range",),
                                               help="plateau kernels: exponent")
    sigma: float | list[float] = option([0.2, 3.0], min=0.01, aliases=("blur_sigma",),
                                        help="first blur: standard deviations along the kernel's axes")
    sigma_2: float | list[float] = option([0.2, 1.5], min=0.01, aliases=("blur_sigma2",),
                                          help="second blur: standard deviations")
    sinc_probability: float = option(0.1, min=0.0, max=1.0, aliases=("sinc_prob",),
                                     help="first blur: chance of a sinc kernel")
    sinc_probability_2: float = option(0.1, min=0.0, max=1.0, aliases=("sinc_prob2",),
                                       help="second blur: chance of a sinc kernel")
    second_blur_probability: float = option(0.8, min=0.0, max=1.0, aliases=("second_blur_prob",),
                                            help="chance of the second blur")
    resize_probabilities: list[float] = option([0.2, 0.7, 0.1], min=0.0, aliases=("resize_prob",),
                                               help="first resize: chances of [up, down, keep]")
    resize_range: list[float] = option([0.15, 1.5], min=0.01, max=16.0,
                                       help="first resize: factors [down to, up to]")
    resize_probabilities_2: list[float] = option([0.3, 0.4, 0.3], min=0.0, aliases=("resize_prob2",),
                                                 help="second resize: chances of [up, down, keep]")
    resize_range_2: list[float] = option([0.3, 1.2], min=0.01, max=16.0, aliases=("resize_range2",),
                                         help="second resize: factors, relative to the LR size")
    gaussian_probability: float = option(0.5, min=0.0, max=1.0, aliases=("gaussian_noise_prob",),
                                         help="first noise: chance of Gaussian noise; otherwise Poisson")
    noise_sigma: float | list[float] = option([1.0, 30.0], min=0.0, aliases=("noise_range",),
                                              help="first noise: Gaussian sigma, 0-255 units")
    poisson_scale: float | list[float] = option([0.05, 3.0], min=0.0, aliases=("poisson_scale_range",),
                                                help="first noise: Poisson scale")
    gray_probability: float = option(0.4, min=0.0, max=1.0, aliases=("gray_noise_prob",),
                                     help="first noise: chance of one pattern for all channels")
    gaussian_probability_2: float = option(0.5, min=0.0, max=1.0, aliases=("gaussian_noise_prob2",),
                                           help="second noise: chance of Gaussian noise")
    noise_sigma_2: float | list[float] = option([1.0, 25.0], min=0.0, aliases=("noise_range2",),
                                                help="second noise: Gaussian sigma, 0-255 units")
    poisson_scale_2: float | list[float] = option([0.05, 2.5], min=0.0, aliases=("poisson_scale_range2",),
                                                  help="second noise: Poisson scale")
    gray_probability_2: float = option(0.4, min=0.0, max=1.0, aliases=("gray_noise_prob2",),
                                       help="second noise: chance of a gray pattern")
    jpeg_quality: int | list[int] = option([30, 95], min=1, max=100, aliases=("jpeg_range",),
                                           help="first JPEG quality (integers, ends included)")
    jpeg_quality_2: int | list[int] = option([30, 95], min=1, max=100, aliases=("jpeg_range2",),
                                             help="final JPEG quality (the second round's)")
    final_sinc_probability: float = option(0.8, min=0.0, max=1.0, aliases=("final_sinc_prob",),
                                           help="chance of the sinc filter after the final resize")


def second_order(params: RealESRGANParams, where: str) -> SecondOrder:
    """The checked distributions of a ``realesrgan`` table (mistakes name the key under ``where``)."""

    def kernels(sigma: Any, sinc_probability: float, key: str) -> MixedKernels:
        spread = Range.of(sigma, f"{where}.{key}")
        return mixed_kernels(where, params.kernel_size, params.kernel_families, params.kernel_probabilities,
                             sinc_probability, spread, spread, Range(0.0, 180.0),
                             Range.of(params.beta_generalized, f"{where}.beta_generalized"),
                             Range.of(params.beta_plateau, f"{where}.beta_plateau"))

    def noise(gaussian: float, sigma: Any, poisson: Any, gray: float, suffix: str) -> RandomNoise:
        return RandomNoise(gaussian, Range.of(sigma, f"{where}.noise_sigma{suffix}"),
                           Range.of(poisson, f"{where}.poisson_scale{suffix}"), gray)

    return SecondOrder(
        params.scale, kernels(params.sigma, params.sinc_probability, "sigma"),
        kernels(params.sigma_2, params.sinc_probability_2, "sigma_2"), params.second_blur_probability,
        random_resize(params.resize_probabilities, params.resize_range, f"{where}.resize_probabilities"),
        random_resize(params.resize_probabilities_2, params.resize_range_2, f"{where}.resize_probabilities_2"),
        noise(params.gaussian_probability, params.noise_sigma, params.poisson_scale, params.gray_probability, ""),
        noise(params.gaussian_probability_2, params.noise_sigma_2, params.poisson_scale_2, params.gray_probability_2,
              "_2"),
        Range.of(params.jpeg_quality, f"{where}.jpeg_quality"), Range.of(params.jpeg_quality_2,
                                                                         f"{where}.jpeg_quality_2"),
        RandomSinc(params.final_sinc_probability, odd_sizes(params.kernel_size, f"{where}.kernel_size")))


class RealESRGAN(ScaledOperation):
    """Real-ESRGAN's whole second-order degradation, ending ``scale`` times smaller than the HR image
    (cropped to a multiple of the scale first). Records each step's parameters (see the README)."""

    name = "realesrgan"
    Params = RealESRGANParams

    def __init__(self, params: RealESRGANParams, context: BuildContext) -> None:
        super().__init__(params, context)
        self.pipeline = second_order(params, context.where)

    def metadata_dims(self) -> dict[str, int]:
        draw = self.pipeline.draw(np.random.default_rng(0))
        return {column: 1 for column in self.pipeline.metadata(draw, self.column)}

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Metadata]:
        draw = self.pipeline.draw(rng)
        hr = _tensor(modcrop(image, self.pipeline.scale))
        with one_thread():
            lr = degrade_batch(hr, [draw], self.pipeline, pillow_jpeg, _cpu_generator(draw.noise_seed))
        return _image(lr), self.pipeline.metadata(draw, self.column)


@dataclass
class RandomResizeParams:
    """Parameters of ``randomresize`` (defaults: Real-ESRGAN's first resize)."""

    probabilities: list[float] = option([0.2, 0.7, 0.1], min=0.0, aliases=("resize_prob",),
                                        help="chances of [up, down, keep]")
    range: list[float] = option([0.15, 1.5], min=0.01, max=16.0, aliases=("resize_range",),
                                help="factors [down to, up to]")


class RandomResizeOperation(Operation):
    """Resize by a random factor (Real-ESRGAN's first resize); the size changes, so follow it with
    operations that bring the image to the LR size. Values are rounded to 8 bits afterwards."""

    name = "randomresize"
    Params = RandomResizeParams

    def __init__(self, params: RandomResizeParams, context: BuildContext) -> None:
        super().__init__(params, context)
        self.resize = random_resize(params.probabilities, params.range, f"{context.where}.probabilities")

    def metadata_dims(self) -> dict[str, int]:
        return {self.column("resize_scale"): 1, self.column("resize_mode"): 1}

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Metadata]:
        draw = self.resize.draw(rng)
        height, width = image.shape[:2]
        if int(height * draw.factor) < 1 or int(width * draw.factor) < 1:
            raise ConfigError(f"randomresize: a {width}x{height} image shrunk by {draw.factor:.3f} has no pixels left")
        with one_thread():
            out = resize(_tensor(image), (int(height * draw.factor), int(width * draw.factor)), draw.mode)
        return _image(quantize(out)), draw.metadata(self.column)


@dataclass
class SincFilterParams:
    """Parameters of ``sincfilter`` (defaults: Real-ESRGAN's final sinc filter)."""

    probability: float = option(0.8, min=0.0, max=1.0, aliases=("final_sinc_prob",),
                                help="chance of filtering an image")
    kernel_size: int | list[int] = option([7, 21], min=3, max=255, help="kernel side: odd, or [low, high]")


class SincFilter(Operation):
    """Filter with a sinc kernel (ringing and overshoot artefacts), reflect-padded borders; the
    cut-off is uniform in (pi/3, pi) for kernels under 13 pixels, else (pi/5, pi)."""

    name = "sincfilter"
    Params = SincFilterParams

    def __init__(self, params: SincFilterParams, context: BuildContext) -> None:
        super().__init__(params, context)
        self.sinc = RandomSinc(params.probability, odd_sizes(params.kernel_size, f"{context.where}.kernel_size"))

    def metadata_dims(self) -> dict[str, int]:
        return {self.column("sinc_omega"): 1, self.column("sinc_kernel_size"): 1}

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Metadata]:
        draw = self.sinc.draw(rng)
        kernel = torch.from_numpy(self.sinc.kernel(draw)).to(torch.float32)[None]
        with one_thread():
            filtered = quantize(filter2d(_tensor(image), kernel))
        return _image(filtered), draw.metadata(self.column)

