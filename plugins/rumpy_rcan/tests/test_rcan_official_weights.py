"""Official RCAN weights (0-255 range, ``head.0``, mean shifts as 1x1 convs, ``conv_du`` channel
attention) load into rumpy's RCAN: official(255 x) / 255 equals rumpy(x)."""

from __future__ import annotations

import torch
from torch import nn

from rumpycore.recognise import load_file_model
from rumpycore.testing import OfficialMeanShift


class OfficialCALayer(nn.Module):
    def __init__(self, features: int, reduction: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(nn.Conv2d(features, features // reduction, 1), nn.ReLU(True),
                                     nn.Conv2d(features // reduction, features, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.conv_du(self.avg_pool(x))


class OfficialRCAB(nn.Module):
    def __init__(self, features: int, reduction: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(features, features, 3, padding=1), nn.ReLU(True),
                                  nn.Conv2d(features, features, 3, padding=1), OfficialCALayer(features, reduction))

    def forward(self, x):
        return x + self.body(x)


class OfficialGroup(nn.Module):
    def __init__(self, features: int, reduction: int, blocks: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*[OfficialRCAB(features, reduction) for _ in range(blocks)],
                                  nn.Conv2d(features, features, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class OfficialRCAN(nn.Module):
    """The module structure (and so the key names) of the official RCAN code at x2."""

    def __init__(self, groups: int, blocks: int, features: int, reduction: int) -> None:
        super().__init__()
        self.sub_mean, self.add_mean = OfficialMeanShift(-1), OfficialMeanShift(+1)
        self.head = nn.Sequential(nn.Conv2d(3, features, 3, padding=1))
        self.body = nn.Sequential(*[OfficialGroup(features, reduction, blocks) for _ in range(groups)],
                                  nn.Conv2d(features, features, 3, padding=1))
        self.tail = nn.Sequential(nn.Sequential(nn.Conv2d(features, 4 * features, 3, padding=1), nn.PixelShuffle(2)),
                                  nn.Conv2d(features, 3, 3, padding=1))

    def forward(self, x):
        x = self.head(self.sub_mean(x))
        x = x + self.body(x)
        return self.add_mean(self.tail(x))


def test_official_weights_give_the_official_output(tmp_path):
    torch.manual_seed(0)
    source = OfficialRCAN(groups=2, blocks=2, features=16, reduction=4).eval()
    with torch.no_grad():
        for name, p in source.named_parameters():
            if "mean" not in name:
                p.normal_(0, 0.5 if name.endswith("bias") else 0.05)
    path = tmp_path / "RCAN_BIX2.pt"
    torch.save(source.state_dict(), path)
    found = load_file_model(path, "test")
    assert found.model.spec.name == "RCAN" and found.scale == 2
    p = found.params
    assert (p.n_resgroups, p.n_resblocks, p.n_feats, p.reduction) == (2, 2, 16, 4)
    x = torch.rand(1, 3, 11, 8)
    with torch.no_grad():
        official = source(255.0 * x) / 255.0
        assert torch.allclose(official, found.module(x), atol=1e-5)
        gates = [m.conv_du(m.avg_pool(torch.ones(1, 16, 2, 2))) for m in source.modules() if hasattr(m, "conv_du")]
        assert 0.05 < float(torch.cat(gates).std())  # the attention gates differ: the test exercises them
