"""Real-ESRGAN's degradations: kernel shapes, the operations and what they record, the original
rumpy's names, the tensor JPEG, and the device pipeline drawing from the per-image distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from rumpycore.data.online import build_pipeline
from rumpycore.degrade.device import BatchDegradation
from rumpycore.degrade.kernels import gaussian_kernels, shaped_kernels, sinc_kernel
from rumpycore.degrade.mixed_blur import FAMILIES, PAPER_PROBABILITIES
from rumpycore.degrade.pipeline import Pipeline, image_rng
from rumpycore.degrade.tensor_ops import jpeg, one_thread, pillow_jpeg
from rumpycore.errors import ConfigError
from rumpycore.testing import real_photos

FAST = {"pca_samples": 500}


def photo(shared_data, size: int = 64, top: int = 100, left: int = 120) -> np.ndarray:
    image = np.asarray(Image.open(real_photos(shared_data).colour).convert("RGB"))  # Set14's lenna, or a stand-in
    return np.ascontiguousarray(image[top : top + size, left : left + size])


def only(name: str, **params) -> Pipeline:
    return Pipeline.from_config({"pipeline": [name], "deg_configs": {name: params}}, "")


def test_the_kernel_shapes():
    gaussian = gaussian_kernels(1.5, 0.8, 30.0, 21)[0]
    assert np.allclose(shaped_kernels("generalized", 1.5, 0.8, 30.0, 1.0, 21)[0], gaussian)
    heavy, light = (shaped_kernels("generalized", 1.5, 1.5, 0.0, beta, 21)[0] for beta in (0.5, 4.0))
    assert heavy[10, 0] > gaussian_kernels(1.5, 1.5, 0.0, 21)[0][10, 0] > light[10, 0]  # tails
    plateau = shaped_kernels("plateau", 2.0, 2.0, 0.0, 2.0, 21)[0]
    assert plateau[10, 11] / plateau[10, 10] > gaussian_kernels(2.0, 2.0, 0.0, 21)[0][10, 11] / \
        gaussian_kernels(2.0, 2.0, 0.0, 21)[0][10, 10]  # flatter top
    sinc = sinc_kernel(math.pi / 4, 21)
    assert sinc.sum() == pytest.approx(1.0) and sinc.min() < 0  # ringing: negative lobes
    assert np.allclose(sinc, sinc.T) and sinc.argmax() == 10 * 21 + 10


def test_realesrganblur_draws_the_papers_shapes_and_records_what_it_applied(shared_data):
    pipeline = only("realesrganblur", **FAST)
    operation = pipeline.steps[0].operation
    rng = np.random.default_rng(1)
    families = [operation.kernels.draw(rng).family for _ in range(4000)]
    sinc = families.count("sinc") / len(families)
    assert sinc == pytest.approx(0.1, abs=0.02)
    for family, probability in zip(FAMILIES, PAPER_PROBABILITIES):
        share = families.count(family) / (len(families) - families.count("sinc"))
        assert share == pytest.approx(probability, abs=0.03), family
    image = photo(shared_data)
    out, recorded = pipeline(image, image_rng(8, 0, 0))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert list(recorded) == list(pipeline.metadata_dims())
    assert FAMILIES[int(recorded["blur_family"])] in FAMILIES and len(recorded["blur_kernel"]) == 10
    assert recorded["blur_kernel_size"] in range(7, 22, 2)


def test_realesrganblur_reads_the_original_keys():
    operation = only("realesrganblur", kernel_range="all", rotation_range=[-math.pi, math.pi], sigma_x_range=[0.6, 5],
                     betag_range=[0.5, 8], kernel_size=21, **FAST).steps[0].operation
    assert operation.kernels.families == FAMILIES and operation.kernels.probabilities == (1 / 7,) * 7
    assert (operation.kernels.angle.low, operation.kernels.angle.high) == pytest.approx((-180.0, 180.0))
    assert operation.kernels.sizes == (21,) and operation.kernels.sigma_x.high == 5
    bsrgan = only("bsrganblur", theta_range=[0, math.pi / 2], l1_range=[0.5, 4], **FAST).steps[0].operation
    assert bsrgan.kernels.angle.high == pytest.approx(90.0) and bsrgan.kernels.l1.low == 0.5


def test_the_original_realesrgannoise_with_fixed_values(shared_data):
    pipeline = only("realesrgannoise", random_noise_generation=False, gaussian_noise_scale=20.0, gray_noise=True)
    noisy, recorded = pipeline(photo(shared_data), image_rng(8, 0, 0))
    assert recorded == {"noise_sigma": 20.0, "noise_poisson_scale": 0.0, "noise_gray": 1.0}
    difference = noisy.astype(float) - photo(shared_data)
    assert 10 < difference.std() < 30
    with pytest.raises(ConfigError, match="gaussian_noise_scale: a fixed value needs random_noise_generation"):
        only("realesrgannoise", gaussian_noise_scale=5.0)


@pytest.mark.parametrize("size", [(64, 64), (52, 76)])
def test_the_second_order_pipeline_ends_exactly_scale_times_smaller_and_repeats(shared_data, size):
    image = photo(shared_data, 96)[: size[0], : size[1]]
    pipeline = only("realesrgan", scale=4)
    first, recorded = pipeline(image, image_rng(3, 1, 0))
    again, recorded_again = pipeline(image, image_rng(3, 1, 0))
    assert first.shape == (size[0] // 4, size[1] // 4, 3) and np.array_equal(first, again)
    assert recorded == recorded_again and list(recorded) == list(pipeline.metadata_dims())
    assert recorded["scale"] == 4 and 30 <= recorded["jpeg_quality"] <= 95
    # the online pipeline's check: a 64-pixel HR patch becomes a 16-pixel LR patch
    online = build_pipeline({"pipeline": "realesrgan"}, 2, shared_data, "data.training_sets.x")
    assert online.steps[0].operation.pipeline.scale == 2


def test_randomresize_and_sincfilter_on_their_own(shared_data):
    image = photo(shared_data)
    resized, recorded = only("randomresize", probabilities=[0, 1, 0], range=[0.5, 1.0])(image, image_rng(1, 0, 0))
    assert resized.shape[0] == int(64 * recorded["resize_scale"]) and recorded["resize_mode"] in (0, 1, 2)
    kept, recorded = only("randomresize", probabilities=[0, 0, 1])(image, image_rng(1, 0, 0))
    assert recorded["resize_scale"] == 1 and kept.shape == image.shape
    unfiltered, recorded = only("sincfilter", probability=0.0)(image, image_rng(1, 0, 0))
    assert np.array_equal(unfiltered, image) and recorded == {"sinc_omega": 0.0, "sinc_kernel_size": 0.0}
    filtered, recorded = only("sincfilter", probability=1.0, kernel_size=21)(image, image_rng(1, 0, 0))
    assert math.pi / 5 <= recorded["sinc_omega"] <= math.pi and not np.array_equal(filtered, image)


def test_operations_recording_the_same_column_cannot_share_a_pipeline():
    with pytest.raises(ConfigError, match="deg_configs.noise: records the column 'noise_sigma', which 'realesrgan'"):
        Pipeline.from_config({"pipeline": "realesrgan-noise"}, "")
    pipeline = Pipeline.from_config({"pipeline": "blur-realesrganblur", "deg_configs": {
        "blur": FAST, "realesrganblur": FAST}}, "")
    assert "blur_sigma" in pipeline.metadata_dims() and "blur_family_2" in pipeline.metadata_dims()


def test_the_tensor_jpeg_is_close_to_pillows(shared_data):
    image = torch.from_numpy(photo(shared_data, 128)).permute(2, 0, 1)[None].float() / 255
    previous = 0.0
    for quality in (30, 60, 95):
        ours, pillows = jpeg(image, torch.tensor([quality])), pillow_jpeg(image, torch.tensor([quality]))
        between = 10 * math.log10(1 / float((ours - pillows).square().mean()))
        to_original = 10 * math.log10(1 / float((ours - image).square().mean()))
        assert between > 38, quality  # the codecs differ in chroma upsampling and rounding only
        assert to_original > previous  # a higher quality keeps more
        previous = to_original


def two_sample_ks(a: np.ndarray, b: np.ndarray) -> float:
    """The Kolmogorov-Smirnov statistic of two samples."""
    values = np.sort(np.concatenate([a, b]))
    cdf = lambda sample: np.searchsorted(np.sort(sample), values, side="right") / len(sample)  # noqa: E731
    return float(np.abs(cdf(a) - cdf(b)).max())


def test_the_device_pipeline_draws_from_the_per_image_distributions(shared_data):
    """A batch pipeline and the per-image operation, on different seeds: every recorded parameter
    has the same distribution (two-sample Kolmogorov-Smirnov at the 0.1% level); the batch-wide
    choices count once per batch."""
    pipeline = only("realesrgan", scale=4)
    device = BatchDegradation.from_config({"pipeline": "realesrgan"}, "data.online_pipeline", 4)
    hr = photo(shared_data, 32)
    cpu_rows = [pipeline(hr, image_rng(1, i, 0))[1] for i in range(400)]
    batch = torch.from_numpy(hr).permute(2, 0, 1)[None].float().div(255).expand(8, -1, -1, -1).contiguous()
    device_rows, first_rows = [], []
    for b in range(50):
        with one_thread():  # as a device would: one batch at a time (threads only slow tiny CPU images)
            lr, rows = device(batch, [int(s) for s in np.random.SeedSequence([2, b]).generate_state(8, np.uint64)])
        assert lr.shape == (8, 3, 8, 8)
        device_rows += rows
        first_rows.append(rows[0])
    batch_wide = {"resize_scale", "resize_mode", "resize_scale_2", "resize_mode_2", "final_jpeg_first",
                  "resize_mode_3"}
    for column in cpu_rows[0]:
        ours = np.array([row[column] for row in (first_rows if column in batch_wide else device_rows)])
        theirs = np.array([row[column] for row in cpu_rows])
        critical = 1.95 * math.sqrt((len(ours) + len(theirs)) / (len(ours) * len(theirs)))
        assert two_sample_ks(ours, theirs) < critical, column
    # within a batch the batch-wide choices are shared and the others are each image's own
    assert len({row["resize_scale"] for row in device_rows[:8]}) == 1
    assert len({row["blur_sigma_x"] for row in device_rows[:8]}) > 1


def test_the_device_pipeline_applies_what_the_operation_applies(shared_data):
    """One image, one seed: the same choices, so the results differ only by the JPEG codec."""
    hr = photo(shared_data, 128)
    pipeline = only("realesrgan", scale=4, jpeg_quality=95, jpeg_quality_2=95)
    device = BatchDegradation.from_config({"pipeline": "realesrgan", "deg_configs": {"realesrgan": {
        "jpeg_quality": 95, "jpeg_quality_2": 95}}}, "x", 4)
    seed = int(image_rng(5, 0, 0).integers(2**63))
    per_image, recorded = pipeline.steps[0].operation.apply(hr, np.random.default_rng(seed))
    lr, [row] = device(torch.from_numpy(hr).permute(2, 0, 1)[None].float() / 255, [seed])
    assert row == recorded
    ours = lr[0].permute(1, 2, 0).numpy() * 255
    assert 10 * math.log10(255**2 / np.square(ours - per_image).mean()) > 30
    with pytest.raises(ConfigError, match="x.pipeline: the device pipeline runs one realesrgan operation"):
        BatchDegradation.from_config({"pipeline": "blur-downsample"}, "x", 4)
