"""The meta-attention layer (rumpycore.layers) and its config side (rumpycore.meta_attention):
the gate, the layers' widths as in the original toolbox, which blocks get one, and the keys'
checks."""

from __future__ import annotations

import pytest
import torch

from rumpycore import ConfigError, ModelContext
from rumpycore.layers import MetaAttention, meta_attention_widths
from rumpycore.meta_attention import (
    GroupedMetaAttentionParams,
    MetaAttentionParams,
    consumed_metadata,
    meta_layers,
)
from rumpycore.params import parse

KERNEL_CODE = ModelContext(4, {"blur_kernel": 10})


@pytest.mark.parametrize("channels, metadata, layers, widths", [
    (64, 10, 2, [32, 64]),      # a short vector: 64 // 2, then 64
    (64, 1, 3, [21, 32, 64]),
    (64, 20, 2, [42, 64]),      # a long one: steps from 20 up to 64
    (256, 10, 2, [128, 256]),
    (64, 10, 1, [64]),
])
def test_widths_grow_in_equal_steps_up_to_the_channels(channels, metadata, layers, widths):
    assert meta_attention_widths(channels, metadata, layers) == widths
    layer = MetaAttention(channels, metadata, layers)
    linear = [m for m in layer.gate if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linear] == widths and linear[0].in_features == metadata


def test_the_gate_scales_each_channel_by_a_sigmoid_of_the_metadata_alone():
    torch.manual_seed(0)
    layer = MetaAttention(8, 3)
    features, metadata = torch.rand(2, 8, 5, 4), torch.rand(2, 3)
    gate = layer(features, metadata) / features
    assert torch.allclose(gate, gate[:, :, :1, :1].expand_as(gate))  # one factor per channel
    assert ((gate > 0) & (gate < 1)).all()
    assert not torch.allclose(gate[0], gate[1])  # each image its own
    assert torch.allclose(layer(2 * features, metadata) / (2 * features), gate)  # not from the features
    for p in layer.parameters():
        torch.nn.init.zeros_(p)
    assert torch.allclose(layer(features, metadata), 0.5 * features)


def test_nonlinearity_and_hidden_widths():
    assert sum(isinstance(m, torch.nn.ReLU) for m in MetaAttention(64, 10, 3).gate) == 2
    assert not any(isinstance(m, torch.nn.ReLU) for m in MetaAttention(64, 10, 3, nonlinearity=False).gate)
    custom = MetaAttention(64, 10, 3, widths=[16, 24])
    assert [m.out_features for m in custom.gate if isinstance(m, torch.nn.Linear)] == [16, 24, 64]


def params(cls=GroupedMetaAttentionParams, **values):
    return parse(cls, values, "model.internal_params")


def placed(layers, units: int, blocks: int) -> list[list[bool]]:
    return [[layers(u, b) is not None for b in range(blocks)] for u in range(units)]


def test_every_block_by_default_or_the_selected_ones():
    assert placed(meta_layers(params(), KERNEL_CODE, units=2, channels=8), 2, 3) == [[True] * 3] * 2
    chosen = params(selective_meta_blocks=[False, True], num_q_layers_inner_residual=1)
    assert placed(meta_layers(chosen, KERNEL_CODE, units=2, channels=8), 2, 3) == [[False] * 3, [True, False, False]]
    front = params(MetaAttentionParams, selective_meta_blocks="front_only")
    assert placed(meta_layers(front, KERNEL_CODE, units=3, channels=8), 3, 1) == [[True], [False], [False]]
    layer = meta_layers(params(num_layers=3, q_layer_widths=[4, 6]), KERNEL_CODE, units=1, channels=8)(0, 0)
    assert [m.out_features for m in layer.gate if isinstance(m, torch.nn.Linear)] == [4, 6, 8]


@pytest.mark.parametrize("values", [{"metadata": []}, {"include_q_layer": False},
                                    {"selective_meta_blocks": [False, False]}, {"num_q_layers_inner_residual": 0}])
def test_no_layer_asked_for_means_no_metadata_and_the_base_network(values):
    chosen = params(**values)
    assert consumed_metadata(chosen) == []
    assert meta_layers(chosen, ModelContext(4), units=2, channels=8) is None


def test_the_metadata_consumed_is_the_listed_names_in_order():
    assert consumed_metadata(params(metadata=["blur_kernel", "qpi"])) == ["blur_kernel", "qpi"]


@pytest.mark.parametrize("values, message", [
    ({"metadata": ["qpi", "qpi"]}, "model.internal_params.metadata: qpi listed twice"),
    ({"q_layer_widths": [4, 6]}, "model.internal_params.q_layer_widths: 2 widths for 2 layers; give 1"),
    ({"num_layers_in_q_layer": 0}, "model.internal_params.num_layers_in_q_layer: 0 is below the minimum 1"),
    ({"selective_meta_blocks": "back_only"}, "model.internal_params.selective_meta_blocks: expected"),
])
def test_key_mistakes_are_config_errors(values, message):
    with pytest.raises(ConfigError) as info:
        params(**values)
    assert str(info.value).startswith(message)


def test_selection_of_the_wrong_length_and_missing_data_are_refused_at_build():
    with pytest.raises(ConfigError, match="selective_meta_blocks: 3 entries for a network of 2 residual units"):
        meta_layers(params(selective_meta_blocks=[True, False, True]), KERNEL_CODE, units=2, channels=8)
    with pytest.raises(ConfigError, match="metadata: the data provides no values for blur_kernel"):
        meta_layers(params(), ModelContext(4), units=2, channels=8)
