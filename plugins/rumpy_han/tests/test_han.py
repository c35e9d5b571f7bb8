"""HAN as in the paper's code (RCAN's groups reused from rumpy-rcan), its attention modules, QHAN
with meta-attention, and both trained through the real CLI."""

from __future__ import annotations

import json

import pytest
import torch
from rumpy_han import HANParams, QHANParams, build, build_q
from rumpy_han.network import ChannelSpatialAttention, LayerAttention

from rumpycore import ModelContext
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import (
    SPEED_VARIANTS,
    assert_conditioned_per_image,
    assert_same_network,
    check_speed_options,
    with_metadata,
    write_config,
)
from rumpycore.training.networks import count_parameters
from tests.helpers import invoke

TINY = {"n_resgroups": 2, "n_resblocks": 2, "n_feats": 8, "reduction": 4}
KERNEL_CODE = ModelContext(4, {"blur_kernel": 10})


def test_parameter_count_matches_the_papers_code():
    # The official HAN (10 groups x 20 RCABs, 64 channels, reduction 16) at x4 has 16,071,745
    # trainable weights plus 24 frozen ones in its two 1x1-conv mean shifts (a buffer here).
    assert count_parameters(build(HANParams(), ModelContext(4))) == 16_071_745
    # the original toolbox's QHAN with include_q_layer and a 10-value code: 200 layers of 2,464
    assert count_parameters(build_q(QHANParams(), KERNEL_CODE)) == 16_564_545


def test_layer_attention_starts_as_the_identity_and_weighs_layers_against_each_other():
    stack = torch.rand(2, 3, 4, 5, 5)
    attention = LayerAttention()
    assert torch.equal(attention(stack), stack.reshape(2, 12, 5, 5))
    torch.nn.init.constant_(attention.gamma, 0.5)
    same = stack[:, :1].expand(-1, 3, -1, -1, -1)  # equal layers attend equally to each other
    assert torch.allclose(attention(same), 1.5 * same.reshape(2, 12, 5, 5), atol=1e-6)
    mixed = attention(stack).reshape(2, 3, 4, 5, 5) - stack
    assert not torch.allclose(mixed[:, 0], 0.5 * stack[:, 0])  # a layer takes from the others


def test_channel_spatial_attention_starts_as_the_identity_then_gates_each_value():
    x = torch.rand(2, 4, 5, 5)
    attention = ChannelSpatialAttention()
    assert torch.equal(attention(x), x)
    torch.nn.init.constant_(attention.gamma, 1.0)
    for p in attention.conv.parameters():
        torch.nn.init.zeros_(p)
    assert torch.allclose(attention(x), 1.5 * x)


@pytest.mark.parametrize("values", [{"metadata": []}, {"include_q_layer": False}])
def test_without_meta_attention_qhan_is_han(values):
    assert_same_network(build_q(QHANParams(**TINY, **values), ModelContext(4)), build(HANParams(**TINY), ModelContext(4)))


def test_each_image_is_conditioned_on_its_own_metadata():
    assert_conditioned_per_image(build_q(QHANParams(**TINY), KERNEL_CODE), 10)


def test_han_one_epoch_through_rumpy_train_with_mixed_case_name(tiny_config, tmp_path, capsys):
    config = tiny_config(model="hAn", internal_params=TINY, training={"num_epochs": 1})
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    assert read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")[0]["val-PSNR"] > 10


def qhan_config(tiny_config, blurred_sr_data) -> dict:
    config = tiny_config(model="qhan", internal_params={**TINY, "metadata": ["blur_kernel"]},
                         training={"num_epochs": 1})
    return with_metadata(config, blurred_sr_data)


def test_qhan_one_epoch_on_blurred_data_with_its_metadata(blurred_sr_data, tiny_config, tmp_path, capsys):
    code, _, err = invoke(capsys, "train", "--parameters",
                          write_config(qhan_config(tiny_config, blurred_sr_data), tmp_path / "cfg.toml"))
    assert code == 0, err
    checkpoint = torch.load(tmp_path / "runs" / "tiny" / "saved_models" / "train_model_1.pt", weights_only=True)
    assert checkpoint["networks"]["model"]["model"] == "QHAN"
    weights = checkpoint["networks"]["model"]["weights"]
    assert weights["body.1.body.1.meta.gate.0.weight"].shape == (4, 10)
    assert weights["last_conv.weight"].shape == (8, 8 * 3, 3, 3)


def test_listed_by_rumpy_list_models_from_its_own_distribution(capsys):
    code, out, err = invoke(capsys, "list-models", "--json")
    assert code == 0, err
    entries = {m["name"]: m for m in json.loads(out)}
    assert entries["HAN"]["distribution"] == entries["QHAN"]["distribution"] == "rumpy-han"


@pytest.mark.parametrize("variants", SPEED_VARIANTS)
def test_speed_options_train_like_fp32(blurred_sr_data, tiny_config, tmp_path, variants):
    check_speed_options(qhan_config(tiny_config, blurred_sr_data), tmp_path / "speed", variants)
