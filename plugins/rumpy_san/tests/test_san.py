"""SAN as in the paper's code (second-order attention by Newton-Schulz iteration, region non-local
attention, the share-source skip), its evaluation in quarters, QSAN with meta-attention, and both
trained through the real CLI."""

from __future__ import annotations

import pytest
import torch
from rumpy_san import QSANParams, SANParams, build, build_q
from rumpy_san.network import (
    SAN,
    NonLocal,
    RegionNonLocal,
    SecondOrderAttention,
    covariance,
    matrix_sqrt,
)

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

TINY = {"n_resgroups": 2, "n_resblocks": 2, "n_feats": 16, "reduction": 4}
KERNEL_CODE = ModelContext(4, {"blur_kernel": 10})


def test_parameter_count_matches_the_papers_code():
    # The official SAN (20 groups x 10 blocks, 64 channels, reduction 16) at x4 counts 15,860,512
    # trainable weights: 24 of them are its 1x1-conv mean shifts (meant to be fixed, a buffer
    # here) and 38,044 are never used by its forward pass (a conv after the groups, a gamma per
    # group, the non-local module's own second-order attention); the rest are these.
    assert count_parameters(build(SANParams(), ModelContext(4))) == 15_860_512 - 24 - 38_044
    # QSAN adds what the original toolbox's QSAN adds to its SAN: 200 layers of 2,464
    assert count_parameters(build_q(QSANParams(), KERNEL_CODE)) - count_parameters(build(SANParams(), ModelContext(4))) == 492_800


def test_covariance_and_its_square_root():
    torch.manual_seed(0)
    x = torch.rand(2, 6, 9, 7, dtype=torch.float64)
    sigma = covariance(x)
    expected = torch.stack([torch.cov(image.flatten(1), correction=0) for image in x])
    assert torch.allclose(sigma, expected)
    values, vectors = torch.linalg.eigh(sigma)
    exact = vectors @ torch.diag_embed(values.clamp_min(0).sqrt()) @ vectors.transpose(1, 2)
    assert torch.allclose(matrix_sqrt(sigma, steps=30), exact, atol=1e-6)
    five = matrix_sqrt(sigma)  # the paper's five steps: close, not exact
    assert torch.allclose(five @ five, sigma, rtol=0.1, atol=1e-3)
    assert torch.isfinite(matrix_sqrt(torch.zeros(1, 4, 4))).all()  # a flat region has no spread


def test_second_order_attention_gates_each_channel_from_the_statistics():
    torch.manual_seed(0)
    attention = SecondOrderAttention(8, 2)
    torch.nn.init.ones_(attention.gate[0].bias)  # every hidden unit active
    x = torch.rand(2, 8, 6, 5) * torch.tensor([1.0, 4.0]).view(2, 1, 1, 1)  # the second image spreads more
    gate = attention(x) / x
    assert torch.allclose(gate, gate[:, :, :1, :1].expand_as(gate))
    assert not torch.allclose(gate[0], gate[1])
    assert torch.allclose(attention(x + 1) / (x + 1), gate, atol=1e-6)  # a shift leaves the covariance alone


def test_non_local_attention_starts_as_the_identity_and_stays_within_each_quarter():
    x = torch.rand(1, 16, 8, 6)
    region = RegionNonLocal(16)
    assert torch.equal(region(x), x)
    torch.manual_seed(0)
    torch.nn.init.normal_(region.non_local.W.weight)
    changed = x.clone()
    changed[:, :, 5:, 4:] += 1  # inside the bottom-right quarter only
    difference = (region(changed) - region(x)).abs().sum(1)[0]
    assert difference[4:, 3:].amax() > 0 and difference[:4].amax() == 0 and difference[:, :3].amax() == 0
    assert isinstance(region.non_local, NonLocal)


def test_large_images_are_evaluated_in_overlapping_quarters():
    torch.manual_seed(0)
    model = SAN(2, 1, 1, 16, 4, max_area=1024).eval()
    x = torch.rand(1, 3, 40, 36)
    with torch.no_grad():
        whole = model(x)
        top_left, bottom_right = model(x[:, :, :30, :28]), model(x[:, :, 10:, 8:])
    assert whole.shape == (1, 3, 80, 72)
    assert torch.equal(whole[:, :, :40, :36], top_left[:, :, :40, :36])
    assert torch.equal(whole[:, :, 40:, 36:], bottom_right[:, :, -40:, -36:])
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x)[:, :, :40, :36], top_left[:, :, :40, :36])  # training: one piece


@pytest.mark.parametrize("values", [{"metadata": []}, {"include_q_layer": False}])
def test_without_meta_attention_qsan_is_san(values):
    assert_same_network(build_q(QSANParams(**TINY, **values), ModelContext(4)), build(SANParams(**TINY), ModelContext(4)))


def test_each_image_is_conditioned_on_its_own_metadata():
    model = build_q(QSANParams(**TINY), KERNEL_CODE)
    with torch.no_grad():
        model.gamma.fill_(0.3)
    assert_conditioned_per_image(model, 10)


def test_san_one_epoch_through_rumpy_train_with_the_originals_keys(tiny_config, tmp_path, capsys):
    config = tiny_config(model="San", internal_params={**TINY, "max_combined_im_size": 20000},
                         training={"num_epochs": 1})
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    assert read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")[0]["val-PSNR"] > 10


def qsan_config(tiny_config, blurred_sr_data) -> dict:
    config = tiny_config(model="QSAN", internal_params={**TINY, "metadata": ["blur_kernel"]},
                         training={"num_epochs": 1})
    return with_metadata(config, blurred_sr_data)


def test_qsan_one_epoch_on_blurred_data_with_its_metadata(blurred_sr_data, tiny_config, tmp_path, capsys):
    code, _, err = invoke(capsys, "train", "--parameters",
                          write_config(qsan_config(tiny_config, blurred_sr_data), tmp_path / "cfg.toml"))
    assert code == 0, err
    checkpoint = torch.load(tmp_path / "runs" / "tiny" / "saved_models" / "train_model_1.pt", weights_only=True)
    assert checkpoint["networks"]["model"]["model"] == "QSAN"
    assert checkpoint["networks"]["model"]["weights"]["groups.1.blocks.1.meta.gate.0.weight"].shape == (8, 10)


@pytest.mark.slow
@pytest.mark.parametrize("variants", SPEED_VARIANTS)
def test_speed_options_train_like_fp32(blurred_sr_data, tiny_config, tmp_path, variants):
    check_speed_options(qsan_config(tiny_config, blurred_sr_data), tmp_path / "speed", variants)
