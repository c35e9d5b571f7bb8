"""Official EDSR weights (the EDSR-PyTorch code: images in 0-255, mean shifts as 1x1 convs,
``head.0``) load into rumpy's EDSR: official(255 x) / 255 equals rumpy(x)."""

from __future__ import annotations

import math

import pytest
import torch
from rumpy_edsr import EDSRParams, detect
from torch import nn

from rumpycore import config as cfg
from rumpycore.recognise import load_file_model
from rumpycore.testing import OfficialMeanShift
from rumpycore.training.networks import build_model, initialise


class OfficialBlock(nn.Module):
    def __init__(self, features: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(features, features, 3, padding=1), nn.ReLU(True),
                                  nn.Conv2d(features, features, 3, padding=1))
        self.res_scale = res_scale

    def forward(self, x):
        return x + self.body(x) * self.res_scale


class OfficialEDSR(nn.Module):
    """The module structure (and so the key names) of EDSR-PyTorch's EDSR."""

    def __init__(self, scale: int, features: int, blocks: int, res_scale: float) -> None:
        super().__init__()
        self.sub_mean, self.add_mean = OfficialMeanShift(-1), OfficialMeanShift(+1)
        self.head = nn.Sequential(nn.Conv2d(3, features, 3, padding=1))
        self.body = nn.Sequential(*[OfficialBlock(features, res_scale) for _ in range(blocks)],
                                  nn.Conv2d(features, features, 3, padding=1))
        stages = []
        for _ in range(int(math.log2(scale))) if scale != 3 else []:
            stages += [nn.Conv2d(features, 4 * features, 3, padding=1), nn.PixelShuffle(2)]
        if scale == 3:
            stages = [nn.Conv2d(features, 9 * features, 3, padding=1), nn.PixelShuffle(3)]
        self.tail = nn.Sequential(nn.Sequential(*stages), nn.Conv2d(features, 3, 3, padding=1))

    def forward(self, x):
        x = self.head(self.sub_mean(x))
        x = x + self.body(x)
        return self.add_mean(self.tail(x))


def official(scale: int, features: int = 16, blocks: int = 2, res_scale: float = 1.0) -> OfficialEDSR:
    torch.manual_seed(scale)
    model = OfficialEDSR(scale, features, blocks, res_scale).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "mean" not in name and name.endswith("bias"):
                p.normal_(0, 2.0)  # biases of a model trained in the 0-255 range are large
    return model


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_official_weights_give_the_official_output(tmp_path, scale):
    source = official(scale)
    path = tmp_path / f"EDSR_x{scale}.pt"
    torch.save(source.state_dict(), path)
    found = load_file_model(path, "test")
    assert found.model.spec.name == "EDSR" and found.scale == scale
    assert (found.params.num_features, found.params.num_blocks, found.params.res_scale) == (16, 2, 1.0)
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert torch.allclose(source(255.0 * x) / 255.0, found.module(x), atol=1e-5)


def test_init_from_converts_official_weights(tmp_path):
    source = official(4)
    path = tmp_path / "EDSR_x4.pt"
    torch.save(source.state_dict(), path)
    raw = {"experiment": "x", "training": {"num_epochs": 1},
           "model": {"name": "EDSR", "internal_params": {
               "scale": 4, "num_features": 16, "num_blocks": 2, "init_from": {"file": str(path), "convert": True}}},
           "data": {"training_sets": {"t": {"lr": "a", "hr": "b"}}, "eval_sets": {"e": {"lr": "a", "hr": "b"}}}}
    network = cfg.validate(raw, tmp_path / "c.toml").primary
    module = build_model(network, 4, {})
    initialise(network, module)
    x = torch.rand(1, 3, 9, 11)
    with torch.no_grad():
        assert torch.allclose(source(255.0 * x) / 255.0, module.eval()(x), atol=1e-5)


def test_a_mean_shift_with_a_standard_deviation_is_refused():
    state = official(2).state_dict()
    state["sub_mean.weight"] = state["sub_mean.weight"] * 2.0
    with pytest.raises(ValueError, match="standard deviation"):
        detect(state)


def test_defaults_are_the_papers_baseline_and_the_full_size_scales_residuals():
    assert (EDSRParams().num_features, EDSRParams().num_blocks, EDSRParams().res_scale) == (64, 16, 1.0)
    assert EDSRParams(num_features=256).res_scale == 0.1
    assert EDSRParams(num_features=256, res_scale=0.5).res_scale == 0.5
