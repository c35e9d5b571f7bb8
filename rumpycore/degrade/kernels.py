"""Gaussian blur kernels, their convolution with images, and PCA codes of kernels.

Coordinates: ``x`` runs along image columns (right) and ``y`` along rows (down). An
anisotropic kernel has standard deviation ``sigma_x`` along its first axis and ``sigma_y``
along the second; ``angle`` (degrees) turns the first axis from the image x axis towards
the y axis. An isotropic kernel is the case ``sigma_x == sigma_y`` (angle irrelevant).
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError


def _covariance_terms(sigma_x: np.ndarray | float, sigma_y: np.ndarray | float, angle: np.ndarray | float,
                      size: int) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``[a, b, c]`` per kernel (``N x 3``) of the inverse covariance
    ``[[a, b], [b, c]] = R diag(1/sx^2, 1/sy^2) R^T``, and the grid's ``[x^2, 2xy, y^2]`` (``3 x size^2``)."""
    sigma_x, sigma_y, angle = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=np.float64))
                                                    for v in (sigma_x, sigma_y, angle)))
    theta = np.deg2rad(angle)
    cos, sin = np.cos(theta), np.sin(theta)
    inv_x, inv_y = 1.0 / sigma_x**2, 1.0 / sigma_y**2
    a = cos * cos * inv_x + sin * sin * inv_y
    b = cos * sin * (inv_x - inv_y)
    c = sin * sin * inv_x + cos * cos * inv_y
    r = size // 2
    y, x = np.mgrid[-r : r + 1, -r : r + 1].reshape(2, -1).astype(np.float64)
    return np.stack([a, b, c], axis=1), np.stack([x * x, 2.0 * x * y, y * y])


def gaussian_kernels(sigma_x: np.ndarray | float, sigma_y: np.ndarray | float, angle: np.ndarray | float,
                     size: int) -> np.ndarray:
    """Normalised Gaussian kernels, shape ``(N, size, size)``, one per entry of the parameter arrays."""
    terms, grid = _covariance_terms(sigma_x, sigma_y, angle, size)
    # One matrix product gives every kernel's exponent -(a x^2 + 2 b x y + c y^2) / 2 at once.
    kernels = np.exp(terms @ (-0.5 * grid))
    kernels /= kernels.sum(axis=1, keepdims=True)
    return kernels.reshape(-1, size, size)


def shaped_kernels(shape: str, sigma_x: np.ndarray | float, sigma_y: np.ndarray | float,
                   angle: np.ndarray | float, beta: np.ndarray | float, size: int) -> np.ndarray:
    """Real-ESRGAN's generalised Gaussian (``shape = "generalized"``: ``exp(-q^beta / 2)``) or plateau
    (``"plateau"``: ``1 / (1 + q^beta)``) kernels, normalised, shape ``(N, size, size)``; ``q`` is the
    quadratic form of the Gaussian with the same sigmas and angle (``beta = 1``: a Gaussian, or a
    Cauchy-like plateau)."""
    terms, grid = _covariance_terms(sigma_x, sigma_y, angle, size)
    power = np.power(terms @ grid, np.atleast_1d(np.asarray(beta, dtype=np.float64))[:, None])
    kernels = np.exp(-0.5 * power) if shape == "generalized" else 1.0 / (1.0 + power)
    kernels /= kernels.sum(axis=1, keepdims=True)
    return kernels.reshape(-1, size, size)


def sinc_kernel(omega: float, size: int) -> np.ndarray:
    """A circular low-pass (2-D sinc) kernel with cut-off frequency ``omega`` (radians per pixel), as
    Real-ESRGAN models ringing and overshoot: ``omega J1(omega r) / (2 pi r)``, normalised."""
    import torch  # for the Bessel function J1, which NumPy lacks

    r = size // 2
    y, x = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    radius = np.sqrt(x * x + y * y)
    safe = np.where(radius == 0, 1.0, radius)
    j1 = torch.special.bessel_j1(torch.from_numpy(omega * safe)).numpy()
    kernel = np.where(radius == 0, omega**2 / (4 * np.pi), omega * j1 / (2 * np.pi * safe))
    return kernel / kernel.sum()


def pad_kernel(kernel: np.ndarray, size: int) -> np.ndarray:
    """A square odd-sized kernel centred in a ``size`` x ``size`` one (zeros around it)."""
    margin = (size - kernel.shape[0]) // 2
    return np.pad(kernel, margin) if margin else kernel


def gaussian_kernel(sigma_x: float, sigma_y: float, angle: float, size: int) -> np.ndarray:
    """One normalised Gaussian kernel, shape ``(size, size)`` (see :func:`gaussian_kernels`)."""
    return gaussian_kernels(sigma_x, sigma_y, angle, size)[0]


def convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Filter an ``H x W x C`` image with a square odd-sized kernel, reflect-padded borders.

    Returns float64 values. Computed with NumPy's FFT, which gives the same result in any
    process (a DataLoader worker or ``rumpy degrade``) whatever the thread settings.
    """
    r = kernel.shape[0] // 2
    padded = np.pad(image.astype(np.float64), ((r, r), (r, r), (0, 0)), mode="reflect")
    shape = padded.shape[:2]
    spectrum = np.fft.rfft2(padded, axes=(0, 1)) * np.fft.rfft2(kernel, s=shape)[:, :, None]
    # Circular convolution equals the linear one from index 2r on: that is the valid part.
    return np.fft.irfft2(spectrum, s=shape, axes=(0, 1))[2 * r :, 2 * r :]


@dataclass(frozen=True)
class KernelPca:
    """A PCA basis of flattened kernels: ``code = (kernel.ravel() - mean) @ components``.

    ``components`` has shape ``(size*size, k)`` (principal axes as columns, strongest first)
    and ``mean`` shape ``(size*size,)``. Matrices of the original rumpy carry no mean (their
    codes were not centred); they load with a zero mean, which reproduces their codes.
    """

    components: np.ndarray
    mean: np.ndarray

    @classmethod
    def fit(cls, batches: Iterable[np.ndarray], length: int) -> KernelPca:
        """Principal axes of square odd-sized kernels given in batches of shape ``(n, size, size)``.

        The kernels must be symmetric under a half turn (``k[-y, -x] == k[y, x]``), as Gaussian
        kernels are. Their flattened vectors then equal their own reverse, so the fit runs in
        that subspace of about half the dimension: the same basis, several times cheaper.
        """
        count, total, second = 0, None, None
        for batch in batches:
            if not np.array_equal(batch, batch[:, ::-1, ::-1]):
                raise ValueError("KernelPca.fit needs kernels that are symmetric under a half turn")
            flat = batch.reshape(len(batch), -1)
            folded = _fold(flat)
            count += len(flat)
            total = flat.sum(axis=0) if total is None else total + flat.sum(axis=0)
            second = folded.T @ folded if second is None else second + folded.T @ folded
        mean = total / count
        folded_mean = _fold(mean[None])[0]
        _, vectors = np.linalg.eigh(second / count - np.outer(folded_mean, folded_mean))
        components = _unfold(vectors[:, ::-1][:, :length])
        # Eigenvectors have no sign of their own: make the largest entry of each positive.
        signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(components.shape[1])])
        return cls(_frozen(components * signs), _frozen(mean))

    @property
    def length(self) -> int:
        """Number of coefficients in a code."""
        return self.components.shape[1]

    def encode(self, kernel: np.ndarray) -> list[float]:
        """The PCA code of one kernel."""
        return [float(v) for v in (kernel.ravel() - self.mean) @ self.components]

    def to_bytes(self) -> bytes:
        """The basis as an ``.npz`` file (loads with ``numpy.load``, no pickle)."""
        buffer = io.BytesIO()
        np.savez(buffer, components=self.components, mean=self.mean)
        return buffer.getvalue()

    @classmethod
    def load(cls, path: Path, size: int, length: int, where: str) -> KernelPca:
        """Read a basis saved by ``rumpy degrade`` (``.npz``) or by the original rumpy (``.pth``/``.pt``).

        The first ``length`` components are kept; a basis for another kernel size or with
        fewer components is a ConfigError naming ``where``.
        """
        if not path.is_file():
            raise ConfigError(f"{where}: {path} does not exist; give the PCA file written by an earlier run")
        try:
            if path.suffix.lower() == ".npz":
                with np.load(path, allow_pickle=False) as stored:
                    components, mean = stored["components"], stored["mean"]
            elif path.suffix.lower() in (".pth", ".pt"):
                import torch

                components = torch.load(path, map_location="cpu", weights_only=True).double().numpy()
                mean = np.zeros(components.shape[0])
            else:
                raise ConfigError(f"{where}: {path} is not a .npz (rumpy) or .pth (original rumpy) PCA file")
        except (OSError, ValueError, KeyError, RuntimeError, AttributeError, pickle.UnpicklingError) as exc:
            raise ConfigError(f"{where}: {path} is not a readable PCA file ({type(exc).__name__})") from None
        if components.ndim != 2 or components.shape[0] != size * size or mean.shape != (size * size,):
            raise ConfigError(f"{where}: {path} holds a basis of shape {components.shape}, "
                              f"expected ({size * size}, k) for kernel_size {size}")
        if components.shape[1] < length:
            raise ConfigError(f"{where}: {path} has {components.shape[1]} components, fewer than pca_length "
                              f"{length}; lower pca_length")
        return cls(_frozen(components[:, :length]), _frozen(mean))


def _fold(flat: np.ndarray) -> np.ndarray:
    """Coordinates of vectors equal to their reverse, in an orthonormal basis of that subspace."""
    half = flat.shape[1] // 2
    return np.concatenate([(flat[:, :half] + flat[:, :half:-1]) / np.sqrt(2.0), flat[:, half : half + 1]], axis=1)


def _unfold(folded: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_fold` for column vectors."""
    half = folded.shape[0] - 1
    full = np.empty((2 * half + 1, folded.shape[1]))
    full[:half] = folded[:half] / np.sqrt(2.0)
    full[half] = folded[half]
    full[: half : -1] = full[:half]
    return full


def _frozen(array: np.ndarray) -> np.ndarray:
    # Bases are shared between pipelines (see blur.fit_pca), so nobody may change one in place.
    array = np.array(array, dtype=np.float64, order="C")
    array.setflags(write=False)
    return array
