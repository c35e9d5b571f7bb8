"""MATLAB-exact bicubic resizing, checked against the LR images that ship with the benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rumpycore.degrade.resize import contributions, imresize
from rumpycore.degrade.scaling import modcrop
from rumpycore.testing import needs_benchmark


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def matlab_pairs(shared: Path, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(HR cropped to a multiple of 4, MATLAB's x4 LR) for every image of a benchmark set."""
    pairs = []
    for hr_path in sorted((shared / name / "HR").glob("*.png")):
        lr = rgb(shared / name / "LR_bicubic" / "X4" / f"{hr_path.stem}x4.png")
        pairs.append((modcrop(rgb(hr_path), 4), lr))
    return pairs


@needs_benchmark
@pytest.mark.parametrize("name", ["Set5", "Set14"])
def test_x4_reproduces_matlab_pixel_for_pixel(shared_data, name):
    pairs = matlab_pairs(shared_data, name)
    assert len(pairs) == {"Set5": 5, "Set14": 14}[name]
    for hr, lr in pairs:
        np.testing.assert_array_equal(imresize(hr, 1 / 4), lr)


@needs_benchmark
def test_b100_x4_matches_at_least_98_percent_of_pixels(shared_data):
    # All 100 images. Their LR files were not all made from these exact crops, so not 100%.
    equal = total = 0
    for hr, lr in matlab_pairs(shared_data, "B100"):
        out = imresize(hr, 1 / 4)
        assert out.shape == lr.shape
        equal += int((out == lr).sum())
        total += lr.size
    assert equal / total >= 0.98


def test_sizes_and_value_types():
    image = np.random.default_rng(0).integers(0, 256, (13, 10, 3), dtype=np.uint8)
    assert imresize(image, 0.5).shape == (7, 5, 3)  # ceil, as MATLAB
    assert imresize(image, output_shape=(4, 6)).shape == (4, 6, 3)
    up = imresize(image, 2.0)
    assert up.shape == (26, 20, 3) and up.dtype == np.uint8
    floats = imresize(image.astype(np.float64) / 255, 0.5)
    assert floats.dtype == np.float64
    # uint8 rounds the intermediate pass; float does not, so the two differ by at most a level.
    assert np.abs(floats * 255 - imresize(image, 0.5)).max() <= 1.0
    with pytest.raises(ValueError):
        imresize(image)


def test_constant_images_stay_constant_and_weights_sum_to_one():
    flat = np.full((20, 16), 77, dtype=np.uint8)
    assert (imresize(flat, 0.25) == 77).all() and (imresize(flat, 3.0) == 77).all()
    weights, indices = contributions(20, 5, 0.25)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert indices.min() >= 0 and indices.max() < 20
