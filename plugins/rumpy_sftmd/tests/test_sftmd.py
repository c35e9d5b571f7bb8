"""SFTMD: architecture as in IKC's code (without its bugs), conditioned per image on metadata,
and trained through the real CLI on data blurred by `rumpy degrade` with its metadata."""

from __future__ import annotations

import json

import pytest
import toml
import torch
from rumpy_sftmd import SFTMDParams, build
from rumpy_sftmd.network import SFTMD

from rumpycore import ConfigError, ModelContext
from rumpycore.config import validate
from rumpycore.data.images import load_rgb
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import (
    REPO,
    SPEED_VARIANTS,
    assert_conditioned_per_image,
    check_speed_options,
    with_metadata,
    write_config,
)
from rumpycore.training.networks import count_parameters
from tests.helpers import assert_one_line_error, invoke

TINY = {"num_features": 8, "num_blocks": 2}
KERNEL_CODE = ModelContext(scale=4, metadata_dims={"blur_kernel": 10})


def tiny(scale: int = 4, size: int = 10, **params) -> SFTMD:
    return build(SFTMDParams(**{**TINY, **params}), ModelContext(scale, {"blur_kernel": size}))


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_output_shape_for_every_scale(scale):
    out = tiny(scale)(torch.rand(2, 3, 10, 7), torch.rand(2, 10))
    assert out.shape == (2, 3, 10 * scale, 7 * scale)


@pytest.mark.parametrize("sft_type, split", [("standard", "22"), ("concat", "22"), ("split", "13"),
                                             ("split", "22"), ("split", "31"), ("split", "04"), ("split", "40")])
def test_every_sft_variant_runs(sft_type, split):
    out = tiny(sft_type=sft_type, split=split)(torch.rand(2, 3, 6, 5), torch.rand(2, 10))
    assert out.shape == (2, 3, 24, 20)


def test_parameter_count_matches_ikcs_code():
    # IKC's SFTMD (64 channels, 16 blocks, 10-value kernel code) at x4.
    assert count_parameters(build(SFTMDParams(), KERNEL_CODE)) == 4_234_691
    assert count_parameters(build(SFTMDParams(sft_type="none"), ModelContext(scale=4))) == 1_605_251


@pytest.mark.parametrize("size", [1, 15])
def test_sft_layers_are_as_wide_as_the_metadata(size):
    model = tiny(size=size)
    first = model.blocks[0].sft1.scale[0]
    assert first.in_channels == TINY["num_features"] + size
    assert model(torch.rand(1, 3, 4, 4), torch.rand(1, size)).shape == (1, 3, 16, 16)


@pytest.mark.parametrize("sft_type", ["standard", "concat", "split"])
def test_each_image_is_conditioned_on_its_own_metadata(sft_type):
    assert_conditioned_per_image(tiny(sft_type=sft_type), 10)


def test_weak_sft_multiplies_the_features_by_the_metadata():
    torch.manual_seed(0)
    model = tiny(sft_type="weak", size=TINY["num_features"])
    lr = torch.rand(1, 3, 4, 4)
    code = torch.rand(1, TINY["num_features"])
    assert not torch.allclose(model(lr, code), model(lr, 2 * code))


def test_none_takes_no_metadata():
    model = build(SFTMDParams(**TINY, sft_type="none"), ModelContext(scale=2))
    assert model(torch.rand(1, 3, 4, 4)).shape == (1, 3, 8, 8)


def test_output_is_not_clamped_so_out_of_range_pixels_still_learn():
    model = tiny()
    torch.nn.init.constant_(model.output.bias, 2.0)
    out = model(torch.rand(1, 3, 4, 4), torch.rand(1, 10))
    assert out.min() > 1.0
    torch.nn.functional.l1_loss(out, torch.zeros_like(out)).backward()
    assert model.output.bias.grad.abs().min() > 0


def test_a_few_steps_reduce_the_loss_on_a_real_crop(sr_data):
    name = sorted(sr_data.train_hr.glob("*.png"))[1].name
    lr, hr = (torch.tensor(load_rgb(folder / name)[0]).permute(2, 0, 1)[None].float() / 255
              for folder in (sr_data.train_lr, sr_data.train_hr))
    lr, hr = lr[..., :12, :12], hr[..., :48, :48]
    code = torch.linspace(0, 1, 10)[None]
    torch.manual_seed(0)
    model = tiny()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.l1_loss(model(lr, code), hr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_save_load_round_trip(tmp_path):
    model = tiny(3, sft_type="split", split="31")
    path = tmp_path / "sftmd.pt"
    torch.save(model.state_dict(), path)
    other = tiny(3, sft_type="split", split="31")
    other.load_state_dict(torch.load(path, weights_only=True))
    x, code = torch.rand(1, 3, 6, 6), torch.rand(1, 10)
    assert torch.equal(model(x, code), other(x, code))


# ---------------------------------------------------------------- through `rumpy train`

# SFTMD has no mean shift, so it starts from black: its one epoch needs more steps than EDSR's
# before its val-PSNR says it learned the images (on any of the test photos).
LEARNING_REPEAT = 16


def sftmd_config(tiny_config, blurred_sr_data, repeat: int = 8, **params) -> dict:
    config = tiny_config(model="sFtMd", internal_params={**TINY, **params}, training={"num_epochs": 1})
    config["data"]["training_sets"]["train"]["repeat"] = repeat
    return with_metadata(config, blurred_sr_data)


def test_one_epoch_on_blurred_data_with_its_metadata_and_mixed_case_name(blurred_sr_data, tiny_config, tmp_path, capsys):
    config = sftmd_config(tiny_config, blurred_sr_data, LEARNING_REPEAT, metadata=["blur_kernel", "blur_sigma"])
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    folder = tmp_path / "runs" / "tiny"
    rows = read_summary(folder / "result_outputs" / "summary.csv")
    assert rows[0]["epoch"] == 1 and rows[0]["val-PSNR"] > 10
    checkpoint = torch.load(folder / "saved_models" / "train_model_1.pt", weights_only=True)
    assert checkpoint["networks"]["model"]["model"] == "SFTMD"
    assert checkpoint["metadata"]["dims"] == {"blur_kernel": 10, "blur_sigma": 1}
    assert checkpoint["networks"]["model"]["weights"]["blocks.0.sft1.scale.0.weight"].shape[1] == TINY["num_features"] + 11


def test_sft_type_none_trains_on_sets_without_metadata(tiny_config, tmp_path, capsys):
    config = tiny_config(model="SFTMD", internal_params={**TINY, "SFT_type": "None"}, training={"num_epochs": 1})
    config["data"]["training_sets"]["train"]["repeat"] = LEARNING_REPEAT
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    assert read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")[0]["val-PSNR"] > 10


@pytest.mark.parametrize("change, message", [
    ({"degradation_metadata": None},
     "data.training_sets.train.degradation_metadata: the model uses metadata (blur_kernel)"),
    ({"metadata": ["noise_sigma"]}, "degradation_metadata.csv has no column 'noise_sigma'"),
])
def test_sets_without_the_metadata_fail_before_training(blurred_sr_data, tiny_config, tmp_path, capsys, change, message):
    config = sftmd_config(tiny_config, blurred_sr_data, **{k: v for k, v in change.items() if k == "metadata"})
    if "degradation_metadata" in change:
        del config["data"]["training_sets"]["train"]["degradation_metadata"]
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("params, message", [
    ({"num_block": 2}, "model.internal_params.num_block: unknown key; did you mean num_blocks?"),
    ({"SFT_type": "fancy"}, "model.internal_params.SFT_type: 'fancy' is not one of"),
    ({"split": 22}, "model.internal_params.split: 22 is not one of"),
    ({"metadata": []}, "model.internal_params.metadata: empty"),
    ({"metadata": ["blur_kernel", "blur_kernel"]}, "blur_kernel listed twice"),
    ({"in_nc": 4}, "model.internal_params.in_nc: 4 is above the maximum 3"),
    ({"SFT_type": "weak"}, "model.internal_params.SFT_type: 'weak' multiplies the features by the metadata"),
])
def test_unknown_or_mistyped_parameters_are_config_errors(blurred_sr_data, tiny_config, tmp_path, capsys, params, message):
    config = sftmd_config(tiny_config, blurred_sr_data, **params)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "runs").exists()


def test_weak_without_matching_widths_is_refused_at_build():
    with pytest.raises(ConfigError, match="set num_features = 10"):
        build(SFTMDParams(**TINY, sft_type="weak"), KERNEL_CODE)


def test_listed_by_rumpy_list_models_from_its_own_distribution(capsys):
    code, out, err = invoke(capsys, "list-models", "--json")
    assert code == 0, err
    entry = next(m for m in json.loads(out) if m["name"] == "SFTMD")
    assert entry["distribution"] == "rumpy-sftmd" and entry["scales"] == [2, 3, 4, 8]


def test_example_config_is_valid():
    path = REPO / "examples" / "configs" / "sftmd_blur.toml"
    config = validate(toml.load(path), path)
    assert config.model.spec.name == "SFTMD"


@pytest.mark.parametrize("variants", SPEED_VARIANTS)
def test_speed_options_train_like_fp32(blurred_sr_data, tiny_config, tmp_path, variants):
    check_speed_options(sftmd_config(tiny_config, blurred_sr_data, metadata=["blur_sigma"]), tmp_path / "speed", variants)
