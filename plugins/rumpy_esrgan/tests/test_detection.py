"""Community RRDBNet checkpoints recognised from their weights: BasicSR's layout (Real-ESRGAN's
releases, wrapped in ``params_ema``) and the ESRGAN repository's, at x4, x2 and x1."""

from __future__ import annotations

import json
import re

import pytest
import torch
from rumpy_esrgan.rrdbnet import RRDBNet

from rumpycore.recognise import load_file_model
from tests.helpers import invoke

REPO_NAMES = ((r"^body\.(\d+)\.rdb(\d)\.", r"RRDB_trunk.\1.RDB\2."), (r"^conv_body\.", "trunk_conv."),
              (r"^conv_up(\d)\.", r"upconv\1."), (r"^conv_hr\.", "HRconv."))


def esrgan_repo_layout(state: dict) -> dict:
    """``state`` under the ESRGAN repository's module names."""
    renamed = {}
    for key, value in state.items():
        for pattern, replacement in REPO_NAMES:
            key = re.sub(pattern, replacement, key)
        renamed[key] = value
    return renamed


@pytest.mark.parametrize("scale", [4, 2, 1])
@pytest.mark.parametrize("layout", ["basicsr", "esrgan_repo"])
def test_a_community_checkpoint_is_recognised_with_its_sizes_and_scale(scale, layout, tmp_path):
    torch.manual_seed(scale)
    network = RRDBNet(scale, features=8, blocks=3, growth=4).eval()
    state = network.state_dict()
    file = tmp_path / "model.pth"
    torch.save({"params_ema": state} if layout == "basicsr" else esrgan_repo_layout(state), file)
    found = load_file_model(file, "test")
    assert found.model.spec.name == "RRDBNet" and found.scale == scale
    assert (found.params.num_features, found.params.num_blocks, found.params.growth) == (8, 3, 4)
    image = torch.rand(1, 3, 8, 12)
    with torch.no_grad():
        assert torch.equal(found.module(image), network(image))


def test_rumpy_eval_takes_an_rrdbnet_file(sr_data, tmp_path, capsys):
    torch.manual_seed(0)
    file = tmp_path / "RRDB_ESRGAN_x4.pth"
    torch.save(esrgan_repo_layout(RRDBNet(4, features=8, blocks=2, growth=4).state_dict()), file)
    code, out, err = invoke(capsys, "eval", "--lr_dir", sr_data.eval_lr, "--hr_dir", sr_data.eval_hr, "-me", file, "-",
                            "--out_loc", tmp_path, "--no_image_comparison", "--json")
    assert code == 0, err
    assert "RRDBNet x4, 8 features, 2 blocks, growth 4 (the ESRGAN repository's layout, renamed)" in err
    assert [row["model"] for row in json.loads(out)["summary"]] == ["bicubic", "RRDB_ESRGAN_x4"]
