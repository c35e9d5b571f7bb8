"""QEDSR: EDSR with meta-attention, as in the original toolbox, EDSR itself without metadata, and
trained through the real CLI on the metadata rumpy degrade recorded."""

from __future__ import annotations

import pytest
import torch
from rumpy_edsr import EDSRParams, QEDSRParams, build, build_q

from rumpycore import ModelContext
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

TINY = {"num_features": 8, "num_blocks": 3}
KERNEL_CODE = ModelContext(4, {"blur_kernel": 10})


def test_parameter_count_matches_the_original_toolbox():
    # The original RUMpy's QEDSR at x4 with a 10-value code, counted from its code: the sample
    # config's 32 blocks of 256 channels, and the baseline's 16 of 64 (plus 2,464 per block).
    assert count_parameters(build_q(QEDSRParams(num_features=256, num_blocks=32), KERNEL_CODE)) == 44_191_747
    assert count_parameters(build_q(QEDSRParams(), KERNEL_CODE)) == 1_556_995


@pytest.mark.parametrize("values", [{"metadata": []}, {"include_q_layer": False}])
def test_without_meta_attention_it_is_edsr(values):
    assert_same_network(build_q(QEDSRParams(**TINY, **values), ModelContext(4)), build(EDSRParams(**TINY), ModelContext(4)))


def test_each_image_is_conditioned_on_its_own_metadata():
    assert_conditioned_per_image(build_q(QEDSRParams(**TINY), KERNEL_CODE), 10)


@pytest.mark.parametrize("selection, placed", [(None, [True] * 3), ("front_only", [True, False, False]),
                                               ([False, True, True], [False, True, True])])
def test_selective_meta_blocks_chooses_the_residual_blocks(selection, placed):
    model = build_q(QEDSRParams(**TINY, selective_meta_blocks=selection), KERNEL_CODE)
    assert [block.meta is not None for block in list(model.body)[:-1]] == placed


def qedsr_config(tiny_config, blurred_sr_data) -> dict:
    # the keys of the original's q-edsr sample config
    values = {**TINY, "res_scale": 0.1, "metadata": ["blur_kernel"], "q_layer_nonlinearity": True}
    return with_metadata(tiny_config(model="qedsr", internal_params=values, training={"num_epochs": 1}),
                         blurred_sr_data)


def test_one_epoch_on_blurred_data_with_its_metadata(blurred_sr_data, tiny_config, tmp_path, capsys):
    code, _, err = invoke(capsys, "train", "--parameters",
                          write_config(qedsr_config(tiny_config, blurred_sr_data), tmp_path / "cfg.toml"))
    assert code == 0, err
    checkpoint = torch.load(tmp_path / "runs" / "tiny" / "saved_models" / "train_model_1.pt", weights_only=True)
    assert checkpoint["networks"]["model"]["model"] == "QEDSR"
    assert checkpoint["networks"]["model"]["weights"]["body.2.meta.gate.2.weight"].shape == (8, 4)


@pytest.mark.parametrize("variants", SPEED_VARIANTS)
def test_speed_options_train_like_fp32(blurred_sr_data, tiny_config, tmp_path, variants):
    check_speed_options(qedsr_config(tiny_config, blurred_sr_data), tmp_path / "speed", variants)
