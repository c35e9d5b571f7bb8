"""RCAN: architecture as in the paper's code, trainable, and trained through the real CLI."""

from __future__ import annotations

import json

import pytest
import toml
import torch
from rumpy_rcan import RCANParams, build
from rumpy_rcan.network import RCAB, RCAN, ChannelAttention

from rumpycore import ConfigError, ModelContext
from rumpycore.config import validate
from rumpycore.data.images import load_rgb
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import (
    REPO,
    SPEED_VARIANTS,
    check_speed_options,
    rumpy_in_process,
    write_config,
)
from rumpycore.training.networks import count_parameters
from tests.helpers import assert_one_line_error, invoke

TINY = {"n_resgroups": 2, "n_resblocks": 2, "n_feats": 8, "reduction": 4}


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_output_shape_for_every_scale(scale):
    model = build(RCANParams(**TINY), ModelContext(scale=scale))
    out = model(torch.rand(2, 3, 10, 7))
    assert out.shape == (2, 3, 10 * scale, 7 * scale)


def test_parameter_count_matches_the_papers_code():
    # The official RCAN code (10 groups x 20 RCABs, 64 channels, reduction 16) at x4 has
    # 15,592,355 trainable weights plus 24 in its two 1x1-conv mean shifts; here the RGB mean
    # shift is a fixed buffer, so it counts no parameters.
    assert count_parameters(build(RCANParams(), ModelContext(scale=4))) == 15_592_355
    assert count_parameters(build(RCANParams(), ModelContext(scale=2))) == 15_444_643


def test_channel_attention_gates_each_channel_by_its_global_average():
    attention = ChannelAttention(8, 4)
    for p in attention.parameters():
        torch.nn.init.zeros_(p)
    x = torch.rand(2, 8, 5, 5)
    assert torch.allclose(attention(x), 0.5 * x)  # zero weights: sigmoid(0) = 0.5 everywhere
    torch.manual_seed(0)
    attention = ChannelAttention(8, 4)
    gate = attention(x) / x
    assert torch.allclose(gate, gate[:, :, :1, :1].expand_as(gate))  # constant over space
    assert not torch.allclose(gate[0], gate[1])  # but depends on the image's statistics


def test_res_scale_scales_each_blocks_residual():
    torch.manual_seed(0)
    full = RCAB(8, 4, 1.0)
    half = RCAB(8, 4, 0.5)
    half.load_state_dict(full.state_dict())
    x = torch.rand(1, 8, 6, 6)
    assert torch.allclose(half(x) - x, 0.5 * (full(x) - x), atol=1e-6)


def test_mean_shift_is_applied():
    model = RCAN(2, **TINY)
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    out = model(torch.rand(1, 3, 4, 4))
    expected = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1).expand_as(out)
    assert torch.allclose(out, expected)


def test_a_few_steps_reduce_the_loss_on_a_real_crop(sr_data):
    name = sorted(sr_data.train_hr.glob("*.png"))[0].name
    lr, hr = (torch.tensor(load_rgb(folder / name)[0]).permute(2, 0, 1)[None].float() / 255
              for folder in (sr_data.train_lr, sr_data.train_hr))
    lr, hr = lr[..., :12, :12], hr[..., :48, :48]
    torch.manual_seed(0)
    model = RCAN(4, **TINY)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.l1_loss(model(lr), hr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_save_load_round_trip(tmp_path):
    model = RCAN(3, **TINY)
    path = tmp_path / "rcan.pt"
    torch.save(model.state_dict(), path)
    other = RCAN(3, **TINY)
    other.load_state_dict(torch.load(path, weights_only=True))
    x = torch.rand(1, 3, 6, 6)
    assert torch.equal(model(x), other(x))


def test_one_epoch_through_rumpy_train_with_mixed_case_name(tiny_config, tmp_path):
    config = tiny_config(model="rCaN", internal_params=TINY, training={"num_epochs": 1})
    result = rumpy_in_process("train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert result.returncode == 0, result.stderr
    rows = read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")
    assert rows[0]["epoch"] == 1 and rows[0]["val-PSNR"] > 10
    checkpoint = torch.load(tmp_path / "runs" / "tiny" / "saved_models" / "train_model_1.pt", weights_only=True)
    assert checkpoint["networks"]["model"]["model"] == "RCAN"
    assert checkpoint["config"]["model"]["internal_params"]["n_feats"] == 8


@pytest.mark.parametrize("params, message", [
    ({"n_resgroup": 2}, "model.internal_params.n_resgroup: unknown key; did you mean n_resgroups?"),
    ({"n_feats": "wide"}, "model.internal_params.n_feats: expected an integer"),
    ({"res_scale": -1}, "model.internal_params.res_scale: -1.0 is below the minimum 0.0"),
    ({"n_feats": 8, "reduction": 16}, "model.internal_params.reduction: 16 is larger than n_feats = 8"),
])
def test_unknown_or_mistyped_parameters_are_config_errors(tiny_config, tmp_path, capsys, params, message):
    config = tiny_config(model="RCAN", internal_params={**TINY, **params})
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "runs").exists()


def test_params_validate_on_their_own():
    with pytest.raises(ConfigError, match="reduction"):
        RCANParams(n_feats=4, reduction=8)


def test_listed_by_rumpy_list_models_from_its_own_distribution(capsys):
    code, out, err = invoke(capsys, "list-models", "--json")
    assert code == 0, err
    entry = next(m for m in json.loads(out) if m["name"] == "RCAN")
    assert entry["distribution"] == "rumpy-rcan" and entry["scales"] == [2, 3, 4, 8]


def test_example_config_is_valid():
    path = REPO / "examples" / "configs" / "rcan_div2k_flickr2k.toml"
    config = validate(toml.load(path), path)
    assert config.model.spec.name == "RCAN"


@pytest.mark.parametrize("variants", SPEED_VARIANTS)
def test_speed_options_train_like_fp32(tiny_config, tmp_path, variants):
    check_speed_options(tiny_config(model="RCAN", internal_params=TINY, training={"num_epochs": 1}),
                        tmp_path / "speed", variants)
