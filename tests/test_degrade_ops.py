"""Each degradation operation: what it records is what it applied, re-derived independently."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from rumpycore.degrade.compress import jpeg_round_trip
from rumpycore.degrade.kernels import KernelPca, convolve, gaussian_kernel
from rumpycore.degrade.pipeline import Pipeline, image_rng
from rumpycore.degrade.resize import imresize
from rumpycore.degrade.values import quantize
from rumpycore.errors import ConfigError, DataError

FAST_PCA = {"pca_samples": 2000}


@pytest.fixture(scope="module")
def hr(photos) -> np.ndarray:
    """A real 50 x 42 RGB crop (sizes not multiples of 4, to exercise the crop)."""
    image = np.asarray(Image.open(photos.train[0]).convert("RGB"))
    return np.ascontiguousarray(image[200:250, 230:272])


def build(pipeline, **tables) -> Pipeline:
    return Pipeline.from_config({"pipeline": pipeline, "deg_configs": tables}, "")


def test_fixed_isotropic_blur_is_the_recorded_gaussian(hr):
    pipeline = build("blur", blur={"sigma": 1.7, "kernel_size": 15, **FAST_PCA})
    lr, metadata = pipeline(hr, image_rng(1, 0, 0))
    assert list(metadata) == ["blur_sigma", "blur_kernel"] and metadata["blur_sigma"] == 1.7
    kernel = gaussian_kernel(1.7, 1.7, 0.0, 15)
    np.testing.assert_array_equal(lr, quantize(convolve(hr, kernel)))
    assert metadata["blur_kernel"] == pipeline.steps[0].operation.pca.encode(kernel)
    assert pipeline.metadata_dims() == {"blur_sigma": 1, "blur_kernel": 10}


def test_random_anisotropic_blur_rederived_from_its_metadata(hr):
    pipeline = build("blur", blur={"iso_probability": 0.0, "sigma_x": [0.5, 4.0], "sigma_y": [0.5, 4.0],
                                   "pca_length": 6, **FAST_PCA})
    assert pipeline.metadata_dims() == {"blur_sigma_x": 1, "blur_sigma_y": 1, "blur_angle": 1, "blur_kernel": 6}
    seen = set()
    for index in range(3):
        lr, metadata = pipeline(hr, image_rng(4, index, 0))
        kernel = gaussian_kernel(metadata["blur_sigma_x"], metadata["blur_sigma_y"], metadata["blur_angle"], 21)
        np.testing.assert_array_equal(lr, quantize(convolve(hr, kernel)))
        assert len(metadata["blur_kernel"]) == 6
        assert 0.5 <= metadata["blur_sigma_x"] <= 4.0 and 0.0 <= metadata["blur_angle"] <= 180.0
        seen.add(metadata["blur_sigma_x"])
    assert len(seen) == 3


def test_kernel_axes_follow_the_documented_angle():
    def spread(kernel):  # variance of the kernel along image x (columns) and y (rows)
        r = kernel.shape[0] // 2
        offsets = np.arange(-r, r + 1)
        return (kernel.sum(axis=0) * offsets**2).sum(), (kernel.sum(axis=1) * offsets**2).sum()

    wide_x, tall_y = spread(gaussian_kernel(3.0, 1.0, 0.0, 21))
    assert wide_x == pytest.approx(9.0, rel=0.01) and tall_y == pytest.approx(1.0, rel=0.01)
    turned_x, turned_y = spread(gaussian_kernel(3.0, 1.0, 90.0, 21))
    assert turned_x == pytest.approx(1.0, rel=0.01) and turned_y == pytest.approx(9.0, rel=0.01)
    diagonal = gaussian_kernel(3.0, 1.0, 45.0, 21)
    assert diagonal[13, 13] > diagonal[13, 7]  # the first axis runs from top-left to bottom-right
    assert gaussian_kernel(2.0, 2.0, 0.0, 21).sum() == pytest.approx(1.0)


def test_pca_codes_are_centred_and_reconstruct_the_kernels():
    pipeline = build("blur", blur={"iso_probability": 0.5})  # the default 30000 kernels
    pca = pipeline.steps[0].operation.pca
    assert pca.components.shape == (441, 10)
    np.testing.assert_allclose(pca.components.T @ pca.components, np.eye(10), atol=1e-12)
    np.testing.assert_allclose(pca.encode(pca.mean.reshape(21, 21)), 0.0, atol=1e-15)
    def error(kernel):  # relative error of the kernel rebuilt from its code, and of the mean alone
        rebuilt = pca.mean + pca.components @ np.array(pca.encode(kernel))
        return [np.linalg.norm(guess - kernel.ravel()) / np.linalg.norm(kernel) for guess in (rebuilt, pca.mean)]

    from_code, from_mean = error(gaussian_kernel(2.5, 1.2, 30.0, 21))
    assert from_code < 0.15 and from_mean > 0.5
    iso = build("blur", blur={"pca_samples": 5000}).steps[0].operation.pca  # one parameter: nearly exact
    kernel = gaussian_kernel(1.3, 1.3, 0.0, 21)
    rebuilt = iso.mean + iso.components @ np.array(iso.encode(kernel))
    assert np.linalg.norm(rebuilt - kernel.ravel()) / np.linalg.norm(kernel) < 1e-3
    again = build("blur", blur={"iso_probability": 0.5}).steps[0].operation.pca
    np.testing.assert_array_equal(again.components, pca.components)  # a fixed seed: the same basis


def test_pca_file_round_trip_and_original_matrices(tmp_path):
    pca = build("blur", blur=FAST_PCA).steps[0].operation.pca
    saved = tmp_path / "blur_kernel_pca.npz"
    saved.write_bytes(pca.to_bytes())
    with np.load(saved, allow_pickle=False) as stored:
        np.testing.assert_array_equal(stored["components"], pca.components)
    reused = build("blur", blur={"sigma": [3.0, 5.0], "pca_matrix": str(saved), "pca_length": 4})
    loaded = reused.steps[0].operation.pca
    np.testing.assert_array_equal(loaded.components, pca.components[:, :4])
    kernel = gaussian_kernel(4.0, 4.0, 0.0, 21)
    assert loaded.encode(kernel) == pca.encode(kernel)[:4]

    original = torch.rand(441, 10, dtype=torch.float64)
    torch.save(original, tmp_path / "pca_matrix.pth")
    legacy = build("blur", blur={"load_pca_matrix": str(tmp_path / "pca_matrix.pth")}).steps[0].operation.pca
    np.testing.assert_allclose(legacy.encode(kernel), kernel.ravel() @ original.numpy())  # uncentred, as before

    with pytest.raises(ConfigError, match=r"deg_configs\.blur\.pca_matrix: .* fewer than pca_length 20"):
        build("blur", blur={"pca_matrix": str(saved), "pca_length": 20})
    with pytest.raises(ConfigError, match=r"deg_configs\.blur\.pca_matrix: .*expected \(225, k\)"):
        build("blur", blur={"pca_matrix": str(saved), "kernel_size": 15})
    with pytest.raises(ValueError, match="symmetric under a half turn"):
        KernelPca.fit([np.arange(18.0).reshape(2, 3, 3)], 2)
    (tmp_path / "bad.npz").write_bytes(b"not a file")
    with pytest.raises(ConfigError, match="not a readable PCA file"):
        KernelPca.load(tmp_path / "bad.npz", 21, 10, "here")


def test_gaussian_noise_records_sigma_and_gray_and_rounds():
    flat = np.full((64, 64, 3), 120, dtype=np.uint8)
    gray = build("noise", noise={"gaussian_probability": 1.0, "sigma": 8.0, "gray_probability": 1.0})
    out, metadata = gray(flat, image_rng(0, 0, 0))
    assert metadata == {"noise_sigma": 8.0, "noise_poisson_scale": 0.0, "noise_gray": 1.0}
    residual = out.astype(float) - 120
    assert (residual[..., 0] == residual[..., 1]).all() and (residual[..., 0] == residual[..., 2]).all()
    assert residual.std() == pytest.approx(8.0, rel=0.08)
    assert abs(residual.mean()) < 0.4  # rounding; truncation would shift the mean by -0.5

    colour = build("noise", noise={"gaussian_probability": 1.0, "sigma": 8.0, "gray_probability": 0.0})
    out, metadata = colour(flat, image_rng(0, 0, 0))
    assert metadata["noise_gray"] == 0.0
    assert (out[..., 0] != out[..., 1]).mean() > 0.5


def test_poisson_noise_records_its_scale():
    flat = np.full((96, 96, 3), 64, dtype=np.uint8)
    pipeline = build("noise", noise={"gaussian_probability": 0.0, "poisson_scale": [0.5, 2.0],
                                     "gray_probability": 0.0})
    out, metadata = pipeline(flat, image_rng(3, 0, 0))
    scale = metadata["noise_poisson_scale"]
    assert metadata["noise_sigma"] == 0.0 and 0.5 <= scale <= 2.0
    # Poisson(v) - v has variance v: the residual's std is scale * sqrt(64).
    assert (out.astype(float) - 64).std() == pytest.approx(scale * 8.0, rel=0.08)


def test_noise_type_follows_its_probability():
    pipeline = build("noise", noise={"gaussian_probability": 0.5})
    kinds = [pipeline(np.full((8, 8, 3), 100, np.uint8), image_rng(1, i, 0))[1] for i in range(40)]
    gaussian = [k for k in kinds if k["noise_sigma"] > 0]
    assert all(k["noise_poisson_scale"] == 0 for k in gaussian)
    assert 8 < len(gaussian) < 32 and all(1 <= k["noise_sigma"] <= 30 for k in gaussian)


def test_compress_records_the_quality_it_used(hr):
    fixed = build("compress", compress={"quality": 35})
    out, metadata = fixed(hr, image_rng(0, 0, 0))
    assert metadata == {"jpeg_quality": 35.0}
    np.testing.assert_array_equal(out, jpeg_round_trip(hr, 35))
    drawn = build("compress")
    qualities = set()
    for index in range(5):
        out, metadata = drawn(hr, image_rng(0, index, 0))
        quality = metadata["jpeg_quality"]
        assert quality.is_integer() and 30 <= quality <= 95
        np.testing.assert_array_equal(out, jpeg_round_trip(hr, int(quality)))
        qualities.add(quality)
    assert len(qualities) > 1


def test_original_jpegcompress_keeps_its_keys_and_defaults(hr):
    assert build("jpegcompress").steps[0].operation.settings() == {"quality": 50}
    drawn = build("jpegcompress", jpegcompress={"random_compression": True, "compression_range": [20, 30]})
    assert drawn.resolved() == {"pipeline": [["compress", "jpegcompress"]],
                                "deg_configs": {"jpegcompress": {"quality": [20, 30]}}}
    assert 20 <= drawn(hr, image_rng(0, 0, 0))[1]["jpeg_quality"] <= 30


def test_downsample_crops_top_left_and_upsample_enlarges(hr):
    pipeline = build("downsample-upsample", downsample={"scale": 4}, upsample={"scale": 2})
    out, metadata = pipeline(hr, image_rng(0, 0, 0))
    assert metadata == {"scale": 4.0, "upsample_scale": 2.0}
    lr = imresize(hr[:48, :40], 0.25)
    np.testing.assert_array_equal(out, imresize(lr, 2.0))
    with pytest.raises(DataError, match="smaller than the scale 4"):
        pipeline(hr[:3], image_rng(0, 0, 0))


def test_top_level_scale_fills_in_and_conflicts_are_errors():
    assert build("downsample").steps[0].operation.params.scale == 4
    scaled = Pipeline.from_config({"pipeline": "downsample"}, "", scale=3)
    assert scaled.metadata_dims() == {"scale": 1} and scaled.steps[0].operation.params.scale == 3
    agree = Pipeline.from_config({"pipeline": "downsample", "deg_configs": {"downsample": {"scale": 3}}}, "", scale=3)
    assert agree.steps[0].operation.params.scale == 3
    with pytest.raises(ConfigError, match=r"^deg_configs\.downsample\.scale: 2 conflicts with the top-level scale 3"):
        Pipeline.from_config({"pipeline": "downsample", "deg_configs": {"downsample": {"scale": 2}}}, "", scale=3)


def test_repeated_operations_get_numbered_columns(hr):
    pipeline = build([["blur", "a"], ["blur", "b"], "downsample"], a={"sigma": 1.0, **FAST_PCA},
                     b={"sigma": 2.0, "pca_length": 3, **FAST_PCA})
    assert pipeline.metadata_dims() == {"blur_sigma": 1, "blur_kernel": 10, "blur_sigma_2": 1, "blur_kernel_2": 3,
                                        "scale": 1}
    assert set(pipeline.files()) == {"blur_kernel_pca.npz", "blur_kernel_2_pca.npz"}
    _, metadata = pipeline(hr, image_rng(0, 0, 0))
    assert metadata["blur_sigma"] == 1.0 and metadata["blur_sigma_2"] == 2.0
    assert list(metadata) == list(pipeline.metadata_dims())


def test_each_operation_draws_from_its_own_stream(hr):
    one = build("blur-noise", blur=FAST_PCA, noise={"sigma": 5.0})
    other = build("blur-noise", blur=FAST_PCA, noise={"sigma": [10.0, 20.0], "gray_probability": 0.9})
    first, second = one(hr, image_rng(2, 7, 1))[1], other(hr, image_rng(2, 7, 1))[1]
    assert first["blur_sigma"] == second["blur_sigma"] and first["blur_kernel"] == second["blur_kernel"]
    again = one(hr, image_rng(2, 7, 1))
    np.testing.assert_array_equal(again[0], one(hr, image_rng(2, 7, 1))[0])
    assert one(hr, image_rng(3, 7, 1))[1] != first


@pytest.mark.parametrize("raw, message", [
    ({"pipeline": "blur-downsampel"}, "x.y.pipeline[1]: unknown operation 'downsampel'; did you mean downsample?"),
    ({"pipeline": "srmdgaussianblur"}, "x.y.pipeline[0]: 'srmdgaussianblur' is an operation of the original rumpy"),
    ({"pipeline": []}, "x.y.pipeline: expected operation names joined by '-' or a list"),
    ({"pipeline": [["blur"]]}, "x.y.pipeline[0]: expected an operation name or [name, config_id]"),
    ({"pipeline": [["blur", "soft"]]}, "x.y.pipeline[0]: no [deg_configs.soft] table for 'blur'"),
    ({"pipeline": "noise", "deg_configs": {"nois": {}}}, "x.y.deg_configs.nois: not used by the pipeline"),
    ({"pipeline": "noise", "seed": 3}, "x.y.seed: unknown key"),
    ({"pipeline": "noise", "deg_configs": {"noise": {"sigma": "high"}}},
     "x.y.deg_configs.noise.sigma: expected number or list of number, got 'high'"),
    ({"pipeline": "noise", "deg_configs": {"noise": {"sigma": [1, 2, 3]}}},
     "x.y.deg_configs.noise.sigma: expected a number or [low, high]"),
    ({"pipeline": "noise", "deg_configs": {"noise": {"gray_probability": 1.5}}},
     "x.y.deg_configs.noise.gray_probability: 1.5 is above the maximum 1.0"),
    ({"pipeline": "compress", "deg_configs": {"compress": {"quality": 0}}},
     "x.y.deg_configs.compress.quality: 0 is below the minimum 1"),
    ({"pipeline": "blur", "deg_configs": {"blur": {"request_full_kernels": True}}},
     "x.y.deg_configs.blur.request_full_kernels: a setting of the original rumpy that rumpy degrade does not have "
     "(blur records the PCA code blur_kernel, never the kernel's values)"),
    ({"pipeline": "downsample", "deg_configs": {"downsample": {"random_scale": True}}},
     "x.y.deg_configs.downsample.random_scale: a setting of the original rumpy that rumpy degrade does not have"),
    ({"pipeline": "blur", "deg_configs": {"blur": {"pca_samples": 5}}},
     "x.y.deg_configs.blur.pca_samples: 5 kernels cannot fit 10 components"),
])
def test_config_mistakes_name_the_key_under_where(raw, message):
    with pytest.raises(ConfigError) as error:
        Pipeline.from_config(raw, "x.y")
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


def test_original_settings_without_effect_are_dropped_with_a_note(hr, capsys):
    original = {"device": 0, "normalize_metadata": True, "request_kernel_metadata": True, "request_pca_kernels": False,
                "use_kernel_code": True, "request_full_kernels": False}
    noted = build("realesrganblur-downsample", realesrganblur={**FAST_PCA, **original},
                  downsample={"restrict_metadata": True})
    notes = capsys.readouterr().err.splitlines()
    assert len(notes) == len(original) + 1 and all(line.startswith("rumpy: note: ") for line in notes)
    assert "realesrganblur.device is a setting of the original rumpy with no effect here" in notes[0]
    plain = build("realesrganblur-downsample", realesrganblur=FAST_PCA)
    lr, metadata = noted(hr, image_rng(4, 0, 0))
    lr_plain, metadata_plain = plain(hr, image_rng(4, 0, 0))
    np.testing.assert_array_equal(lr, lr_plain)
    assert metadata == metadata_plain


def test_a_pipeline_survives_pickling_into_loader_workers(hr):
    pipeline = build("blur-downsample-noise-compress", blur=FAST_PCA)
    copy = pickle.loads(pickle.dumps(pipeline))
    lr, metadata = pipeline(hr, image_rng(9, 1, 0))
    lr_copy, metadata_copy = copy(hr, image_rng(9, 1, 0))
    np.testing.assert_array_equal(lr, lr_copy)
    assert metadata == metadata_copy and lr.shape == (12, 10, 3)


def test_pipeline_rejects_non_rgb_uint8_input():
    with pytest.raises(ValueError, match="uint8 H x W x 3"):
        build("downsample")(np.zeros((8, 8), np.uint8), image_rng(0, 0, 0))
