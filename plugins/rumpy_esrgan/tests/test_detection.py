"""Community RRDBNet checkpoints recognised from their weights: BasicSR's layout (Real-ESRGAN's
releases, wrapped in ``params_ema``) and the ESRGAN repository's, at x4, x2 and x1, and the first
ESRGAN release's flat ``model.<n>`` layout at x4."""

from __future__ import annotations

import json
import re

import pytest
import torch
from rumpy_esrgan.detection import detect
from rumpy_esrgan.rrdbnet import RRDBNet

from rumpycore.recognise import load_file_model
from tests.helpers import invoke

REPO_NAMES = ((r"^body\.(\d+)\.rdb(\d)\.", r"RRDB_trunk.\1.RDB\2."), (r"^conv_body\.", "trunk_conv."),
              (r"^conv_up(\d)\.", r"upconv\1."), (r"^conv_hr\.", "HRconv."))
# written for three blocks: the trunk convolution is model.1.sub.3
FIRST_RELEASE_NAMES = ((r"^conv_first\.", "model.0."),
                       (r"^body\.(\d+)\.rdb(\d)\.conv(\d)\.", r"model.1.sub.\1.RDB\2.conv\3.0."),
                       (r"^conv_body\.", "model.1.sub.3."), (r"^conv_up1\.", "model.3."), (r"^conv_up2\.", "model.6."),
                       (r"^conv_hr\.", "model.8."), (r"^conv_last\.", "model.10."))


def renamed(state: dict, names: tuple[tuple[str, str], ...]) -> dict:
    """``state`` under another layout's module names."""
    result = {}
    for key, value in state.items():
        for pattern, replacement in names:
            key = re.sub(pattern, replacement, key)
        result[key] = value
    return result


def esrgan_repo_layout(state: dict) -> dict:
    """``state`` under the ESRGAN repository's module names."""
    return renamed(state, REPO_NAMES)


@pytest.mark.parametrize("scale, layout", [(scale, layout) for layout in ("basicsr", "esrgan_repo")
                                           for scale in (4, 2, 1)] + [(4, "first_release")])
def test_a_community_checkpoint_is_recognised_with_its_sizes_and_scale(scale, layout, tmp_path):
    torch.manual_seed(scale)
    network = RRDBNet(scale, features=8, blocks=3, growth=4).eval()
    state = network.state_dict()
    file = tmp_path / "model.pth"
    saved = {"basicsr": lambda: {"params_ema": state}, "esrgan_repo": lambda: esrgan_repo_layout(state),
             "first_release": lambda: renamed(state, FIRST_RELEASE_NAMES)}[layout]()
    torch.save(saved, file)
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


def test_a_first_release_model_that_upsamples_once_is_not_taken_for_rrdbnet():
    """The first release's x2 models have one upsampling convolution (model.3, then model.5 and
    model.7): not BasicSR's network at any scale, so not claimed (and not misread as x4)."""
    state = renamed(RRDBNet(4, features=8, blocks=3, growth=4).state_dict(), FIRST_RELEASE_NAMES)
    del state["model.6.weight"], state["model.6.bias"]
    state = {re.sub(r"^model\.8\.", "model.5.", re.sub(r"^model\.10\.", "model.7.", key)): value
             for key, value in state.items()}
    assert detect(state) is None
