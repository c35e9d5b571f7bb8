"""SRMD as in the official network (KAIR), fed degradation maps stretched from each image's metadata,
and trained through the real CLI with the original toolbox's keys."""

from __future__ import annotations

import pytest
import torch
from rumpy_srmd import SRMDParams, build

from rumpycore import ConfigError, ModelContext
from rumpycore.testing import (
    SPEED_VARIANTS,
    assert_conditioned_per_image,
    check_speed_options,
    with_metadata,
    write_config,
)
from rumpycore.training.networks import count_parameters
from tests.helpers import assert_one_line_error, invoke

TINY = {"num_features": 8, "num_layers": 4}


def test_parameter_count_matches_the_official_network():
    # KAIR's SRMD at x4 (128 channels, 12 convolutions): 19 input channels (RGB, a 15-value
    # kernel PCA code and the noise level) give 1,553,200 weights, 18 (SRMDNF, noise-free) 1,552,048.
    with_noise = SRMDParams(metadata=["blur_kernel", "noise_sigma"])
    assert count_parameters(build(with_noise, ModelContext(4, {"blur_kernel": 15, "noise_sigma": 1}))) == 1_553_200
    assert count_parameters(build(SRMDParams(), ModelContext(4, {"blur_kernel": 15}))) == 1_552_048


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_one_pixel_shuffle_makes_every_scale(scale):
    model = build(SRMDParams(**TINY), ModelContext(scale, {"blur_kernel": 10}))
    assert model(torch.rand(2, 3, 5, 7), torch.rand(2, 10)).shape == (2, 3, 5 * scale, 7 * scale)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) == TINY["num_layers"]


def test_the_first_convolution_sees_the_image_and_one_constant_map_per_value():
    model = build(SRMDParams(**TINY), ModelContext(4, {"blur_kernel": 10}))
    first = model.body[0]
    assert first.in_channels == 13
    seen = []
    first.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    lr, code = torch.rand(2, 3, 5, 6), torch.rand(2, 10)
    model(lr, code)
    assert torch.equal(seen[0][:, :3], lr)
    assert torch.equal(seen[0][:, 3:], code[:, :, None, None].expand(-1, -1, 5, 6))


def test_each_image_is_conditioned_on_its_own_metadata():
    assert_conditioned_per_image(build(SRMDParams(**TINY), ModelContext(4, {"blur_kernel": 10})), 10)


def test_without_metadata_it_super_resolves_the_image_alone():
    model = build(SRMDParams(**TINY, metadata=[]), ModelContext(4))
    assert model.body[0].in_channels == 3 and model(torch.rand(1, 3, 4, 4)).shape == (1, 3, 16, 16)


def test_metadata_the_data_lacks_is_refused_at_build():
    with pytest.raises(ConfigError, match="metadata: the data provides no values for blur_kernel"):
        build(SRMDParams(**TINY), ModelContext(4))


def srmd_config(tiny_config, blurred_sr_data, **params) -> dict:
    # the original's keys: nc channels, nb convolutions
    values = {"nc": 8, "nb": 4, "metadata": ["blur_kernel", "blur_sigma"], **params}
    return with_metadata(tiny_config(model="srmd", internal_params=values, training={"num_epochs": 1}),
                         blurred_sr_data)


def test_one_epoch_on_blurred_data_with_its_metadata(blurred_sr_data, tiny_config, tmp_path, capsys):
    code, _, err = invoke(capsys, "train", "--parameters",
                          write_config(srmd_config(tiny_config, blurred_sr_data), tmp_path / "cfg.toml"))
    assert code == 0, err
    checkpoint = torch.load(tmp_path / "runs" / "tiny" / "saved_models" / "train_model_1.pt", weights_only=True)
    assert checkpoint["networks"]["model"]["model"] == "SRMD"
    assert checkpoint["networks"]["model"]["weights"]["body.0.weight"].shape == (8, 3 + 11, 3, 3)


@pytest.mark.parametrize("params, message", [
    ({"scale": 8}, "model.internal_params.scale: SRMD supports scales 2, 3, 4, not 8"),
    ({"nb": 1}, "model.internal_params.nb: 1 is below the minimum 2"),
    ({"metadata": ["blur_kernel", "blur_kernel"]}, "model.internal_params.metadata: blur_kernel listed twice"),
])
def test_mistakes_are_one_line_errors(blurred_sr_data, tiny_config, tmp_path, capsys, params, message):
    config = srmd_config(tiny_config, blurred_sr_data, **params)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, message)


@pytest.mark.parametrize("variants", SPEED_VARIANTS)
def test_speed_options_train_like_fp32(blurred_sr_data, tiny_config, tmp_path, variants):
    check_speed_options(srmd_config(tiny_config, blurred_sr_data), tmp_path / "speed", variants)
