"""EDSR: architecture as in the paper's code, trainable, and trained through the real CLI."""

from __future__ import annotations

import pytest
import torch
from rumpy_edsr import EDSRParams, build
from rumpy_edsr.network import EDSR

from rumpycore import ModelContext
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import (
    SPEED_VARIANTS,
    check_speed_options,
    photo_crop,
    rumpy_in_process,
    write_config,
)
from rumpycore.training.networks import count_parameters


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_output_shape_for_every_scale(scale):
    model = build(EDSRParams(num_features=8, num_blocks=1), ModelContext(scale=scale))
    out = model(torch.rand(2, 3, 10, 7))
    assert out.shape == (2, 3, 10 * scale, 7 * scale)


def test_parameter_counts_match_the_papers_code():
    # EDSR-PyTorch's baseline (1.518 M) and full EDSR (43.09 M) at x4; the RGB mean shift is
    # a fixed buffer, not a trainable parameter.
    assert count_parameters(EDSR(4, 64, 16, 1.0)) == 1_517_571
    assert count_parameters(EDSR(4, 256, 32, 0.1)) == 43_089_923


def test_mean_shift_is_applied():
    model = EDSR(2, 8, 1)
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    out = model(torch.rand(1, 3, 4, 4))
    expected = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1).expand_as(out)
    assert torch.allclose(out, expected)


def test_a_few_steps_reduce_the_loss_on_a_real_crop(photos):
    from rumpycore.degrade.resize import imresize

    hr = photo_crop(photos.train[0], 64, top=64, left=64)
    lr = imresize(hr, 0.25)
    to = lambda a: torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float() / 255
    lr_t, hr_t = to(lr), to(hr)
    torch.manual_seed(0)
    model = EDSR(4, 16, 2, 1.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.l1_loss(model(lr_t), hr_t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_save_load_round_trip(tmp_path):
    model = EDSR(3, 8, 2)
    path = tmp_path / "edsr.pt"
    torch.save(model.state_dict(), path)
    other = EDSR(3, 8, 2)
    other.load_state_dict(torch.load(path, weights_only=True))
    x = torch.rand(1, 3, 6, 6)
    assert torch.equal(model(x), other(x))


def test_one_epoch_through_rumpy_train_with_mixed_case_name(tiny_config, tmp_path):
    config = tiny_config(training={"num_epochs": 1})
    config["model"]["name"] = "eDsR"
    result = rumpy_in_process("train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert result.returncode == 0, result.stderr
    rows = read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")
    assert rows[0]["epoch"] == 1 and rows[0]["val-PSNR"] > 10


@pytest.mark.parametrize("variants", SPEED_VARIANTS)
def test_speed_options_train_like_fp32(tiny_config, tmp_path, variants):
    check_speed_options(tiny_config(training={"num_epochs": 1}), tmp_path / "speed", variants)
