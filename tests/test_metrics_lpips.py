"""LPIPS through the lpips package: the real code path, weights from the hub cache, no downloads."""

from __future__ import annotations

import numpy as np
import pytest
import toml
import torch
import torchvision

from rumpycore.errors import ConfigError
from rumpycore.loggers.summary import read_summary
from rumpycore.metrics.perceptual import LPIPSParams, build_lpips, check_lpips
from rumpycore.pretrained import weights_path
from rumpycore.specs import MetricContext
from rumpycore.testing import photo_crop, write_config

from .helpers import assert_one_line_error, invoke


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """An empty torch hub cache, and any download attempt fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

    def refuse(*args, **kwargs):
        raise AssertionError("LPIPS tried to download weights")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.fixture(scope="module")
def images(photos):
    hr = photo_crop(photos.train[0], 96, top=0, left=0)
    noisy = np.clip(hr.astype(int) + np.random.default_rng(0).integers(-20, 21, hr.shape), 0, 255).astype(np.uint8)
    batch = lambda *ims: torch.from_numpy(np.stack(ims).transpose(0, 3, 1, 2).copy()).float() / 255.0  # noqa: E731
    return batch(hr, noisy), batch(hr, hr)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_with_a_random_backbone_runs_the_real_network(images, net):
    prediction, target = images
    metric = build_lpips(LPIPSParams(net=net, pnet_rand=True), MetricContext(scale=4, device="cpu"))
    values = metric.values(prediction, target, {})
    assert values.shape == (2,) and values.dtype == torch.float64
    assert values[0].item() == 0.0 and values[1].item() > 0.0
    assert metric.reduce(values) == pytest.approx(values[1].item() / 2)


@pytest.mark.parametrize("net, file", [("alex", "alexnet-owt-7be5be79.pth"), ("vgg", "vgg16-397923af.pth")])
def test_missing_backbone_weights_name_the_file_and_folder(net, file, tmp_path):
    with pytest.raises(ConfigError) as error:
        check_lpips(LPIPSParams(net=net))
    message = str(error.value)
    assert file in message and str(tmp_path / "torch_home" / "hub" / "checkpoints") in message
    assert "\n" not in message


def test_training_logs_lpips_each_epoch(tiny_config, tmp_path, capsys):
    config = tiny_config(training={"metrics": ["PSNR", "LPIPS"], "metric_params": {"LPIPS": {"pnet_rand": True}}})
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    rows = read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(0.0 < r["val-LPIPS"] < 1.0 for r in rows)


def test_training_with_lpips_but_no_weights_fails_before_anything_is_written(tiny_config, tmp_path, capsys):
    config = tiny_config(training={"metrics": ["PSNR", "LPIPS"]})
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, "alexnet-owt-7be5be79.pth", "hub/checkpoints")
    assert not (tmp_path / "runs").exists()


def test_planted_hub_weights_are_loaded_without_network(images):
    torch.manual_seed(1)
    planted = torchvision.models.alexnet(weights=None).state_dict()
    path = weights_path("alexnet")
    path.parent.mkdir(parents=True)
    torch.save(planted, path)
    check_lpips(LPIPSParams())
    metric = build_lpips(LPIPSParams(), MetricContext(scale=4, device="cpu"))
    first_conv = metric.network.net.slice1[0].weight
    assert torch.equal(first_conv, planted["features.0.weight"])
    assert torch.equal(getattr(metric.network.net.slice5, "10").bias, planted["features.10.bias"])
    prediction, target = images
    assert metric.values(prediction, target, {})[1].item() > 0.0


def test_a_foreign_file_at_the_weights_path_is_a_one_line_error(tmp_path, capsys, sr_data):
    path = weights_path("alexnet")
    path.parent.mkdir(parents=True)
    torch.save({"something": torch.zeros(1)}, path)
    config_path = tmp_path / "eval.toml"
    config_path.write_text(toml.dumps({
        "lr_dir": str(sr_data.eval_lr), "hr_dir": str(sr_data.eval_hr), "metrics": ["LPIPS"],
        "out_loc": str(tmp_path / "out"),
    }))
    code, _, err = invoke(capsys, "eval", "--config", config_path)
    assert_one_line_error(code, err, str(path), "does not hold the weights")
    assert not (tmp_path / "out").exists()
