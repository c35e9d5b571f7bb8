"""PSNR and SSIM by the convention of SR papers, checked against independent implementations
and against the published bicubic table through the real ``rumpy eval``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from rumpycore.data.images import load_rgb
from rumpycore.errors import DataError
from rumpycore.metrics.fidelity import (
    PSNR, SSIM, FidelityParams, build_psnr, build_ssim, comparison_planes, quantise,
)
from rumpycore.specs import MetricContext
from rumpycore.testing import CUDA, needs_benchmark, photo_crop

from .helpers import invoke

# Bicubic x4 baseline (MATLAB LR files, MATLAB bicubic upscaling, Y channel, border 4):
# set, published PSNR, published SSIM, what rumpy computes (to 4 decimals).
BICUBIC_X4 = [
    ("Set5", 28.42, 0.8104, 28.4176, 0.8102),
    ("Set14", 26.00, 0.7027, 25.9915, 0.7024),
    ("B100", 25.96, 0.6675, 25.9575, 0.6673),
]


def as_batch(*images: np.ndarray) -> torch.Tensor:
    """uint8 H x W x 3 arrays to an N x 3 x H x W float batch in [0, 1]."""
    return torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy()).float() / 255.0


def matlab_y(image: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr luma of a uint8 image, rounded half up (reference written independently)."""
    rgb = image.astype(np.float64)
    y = 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0
    return np.floor(y + 0.5)


@pytest.fixture(scope="module")
def pair(photos):
    """A real HR crop and a degraded version of it (blur and noise), uint8."""
    hr = photo_crop(photos.train[0], 80, top=100, left=200)[:64]
    rng = np.random.default_rng(3)
    degraded = np.clip(hr.astype(np.float64) + rng.normal(0, 6, hr.shape), 0, 255).round().astype(np.uint8)
    return hr, degraded


def test_y_channel_is_matlab_rgb2ycbcr():
    image = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [10, 200, 30]]], dtype=np.uint8)
    planes = comparison_planes(quantise(as_batch(image)), torch.zeros(1, dtype=torch.bool), "y", False)
    assert planes[0, 0].tolist() == [[16.0, 235.0, 81.0, 122.0]]
    assert planes[0, 0].numpy().tolist() == matlab_y(image).tolist()


def test_quantisation_rounds_half_up_like_matlab():
    levels = torch.tensor([0.5, 1.5 / 255, 2.5 / 255, 1.2, -0.1], dtype=torch.float64)
    assert quantise(levels).tolist() == [128.0, 2.0, 3.0, 255.0, 0.0]


def test_psnr_and_ssim_match_skimage_on_the_y_channel(pair):
    hr, degraded = pair
    ctx = MetricContext(scale=4, device="cpu")
    target, prediction = as_batch(hr), as_batch(degraded)
    y_hr, y_sr = matlab_y(hr)[4:-4, 4:-4], matlab_y(degraded)[4:-4, 4:-4]
    psnr = float(PSNR(ctx).values(prediction, target, {})[0])
    ssim = float(SSIM(ctx).values(prediction, target, {})[0])
    assert psnr == pytest.approx(peak_signal_noise_ratio(y_hr, y_sr, data_range=255), abs=1e-10)
    # skimage with these settings filters the whole image and drops a 5-pixel margin: ssim_index.m's 'valid'.
    reference = structural_similarity(y_hr, y_sr, data_range=255, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False)
    assert ssim == pytest.approx(reference, abs=1e-10)


def test_rgb_mode_averages_channels_and_crop_border_is_honoured(pair):
    hr, degraded = pair
    ctx = MetricContext(scale=4, device="cpu", channel="rgb", crop_border=2)
    target, prediction = as_batch(hr), as_batch(degraded)
    a, b = hr[2:-2, 2:-2], degraded[2:-2, 2:-2]
    assert float(PSNR(ctx).values(prediction, target, {})[0]) == pytest.approx(
        peak_signal_noise_ratio(a, b, data_range=255), abs=1e-10)
    reference = structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, channel_axis=2)
    assert float(SSIM(ctx).values(prediction, target, {})[0]) == pytest.approx(reference, abs=1e-10)


def test_gray_images_are_compared_on_their_gray_values(photos):
    hr, gray = load_rgb(photos.gray)
    assert gray
    hr = hr[:64, :64]
    degraded = np.clip(hr.astype(int) + 9, 0, 255).astype(np.uint8)
    ctx = MetricContext(scale=4, device="cpu")
    value = float(PSNR(ctx).values(as_batch(degraded), as_batch(hr), {"gray": [True]})[0])
    assert value == pytest.approx(peak_signal_noise_ratio(hr[4:-4, 4:-4, 0], degraded[4:-4, 4:-4, 0]), abs=1e-10)
    as_colour = float(PSNR(ctx).values(as_batch(degraded), as_batch(hr), {"gray": [False]})[0])
    assert abs(as_colour - value) > 0.1  # the Y conversion (16..235) would change the number


def test_batched_values_equal_single_images(pair):
    hr, degraded = pair
    ctx = MetricContext(scale=4, device="cpu")
    batch = {"gray": [False, True]}
    for metric in (PSNR(ctx), SSIM(ctx)):
        together = metric.values(as_batch(degraded, hr[::-1].copy()), as_batch(hr, hr), batch)
        first = metric.values(as_batch(degraded), as_batch(hr), {"gray": [False]})
        second = metric.values(as_batch(hr[::-1].copy()), as_batch(hr), {"gray": [True]})
        assert together.tolist() == [first.item(), second.item()]


def test_images_too_small_for_the_ssim_window_are_a_clear_error():
    image = np.zeros((16, 16, 3), dtype=np.uint8)
    with pytest.raises(DataError, match=r"tiny: 16x16 pixels leave less than 11 after removing a border of 4"):
        SSIM(MetricContext(scale=4, device="cpu")).values(as_batch(image), as_batch(image), {"name": ["tiny"]})
    assert float(PSNR(MetricContext(scale=4, device="cpu")).values(as_batch(image), as_batch(image), {})[0]) == np.inf


@pytest.mark.slow
@needs_benchmark
def test_bicubic_baseline_reproduces_the_published_table(shared_data, tmp_path, capsys):
    for name, psnr, ssim, our_psnr, our_ssim in BICUBIC_X4:
        code, out, err = invoke(capsys, "eval", "--lr_dir", shared_data / name / "LR_bicubic" / "X4",
                                "--hr_dir", shared_data / name / "HR", "-me", "bicubic", "-", "--batch_size", "4",
                                "--no_image_comparison", "--out_loc", tmp_path, "--results_name", name, "--json")
        assert code == 0, err
        row = json.loads(out)["summary"][0]
        assert row["model"] == "bicubic"
        assert (round(row["PSNR"], 4), round(row["SSIM"], 4)) == (our_psnr, our_ssim), name
        assert abs(row["PSNR"] - psnr) <= 0.01 and abs(row["SSIM"] - ssim) <= 0.0005, name


@CUDA
def test_psnr_and_ssim_agree_on_the_cpu_and_the_gpu(photos):
    hr = torch.from_numpy(photo_crop(photos.train[0], 288, top=0, left=0))
    target = hr.permute(2, 0, 1)[None].double() / 255.0
    prediction = (target + 0.03 * torch.randn(target.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    batch = {"name": ["bird"]}
    for build in (build_psnr, build_ssim):
        values = [build(FidelityParams(), MetricContext(scale=4, device=device)).values(
            prediction.to(device).float(), target.to(device).float(), batch).cpu() for device in ("cpu", "cuda")]
        assert abs(float(values[0][0]) - float(values[1][0])) <= 1e-4, build.__name__
