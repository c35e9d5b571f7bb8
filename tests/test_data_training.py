"""Data options through a real training run: several training and eval sets, and a model that
takes pre-upscaled LR input (``lr_interp``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from rumpycore.config import validate
from rumpycore.degrade.resize import imresize
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import save_png, write_config
from rumpycore.training.setup import build_datasets

from .data_helpers import InterpNet
from .helpers import invoke


def several_sets(config, sr_data):
    data = config["data"]
    train, evals = data["training_sets"]["train"], data["eval_sets"]["eval"]
    data["training_sets"] = {"first": {**train, "cutoff": 2}, "rest": {**train, "cutoff": [2, 6]}}
    data["eval_sets"] = {"gray": {**evals, "cutoff": 1}, "colour": {**evals, "cutoff": [1, 2]}}
    return config


def test_training_sets_are_joined_and_eval_sets_reported_each_and_together(tiny_config, sr_data, tmp_path, capsys):
    config = several_sets(tiny_config(training={"num_epochs": 1}), sr_data)
    path = write_config(config, tmp_path / "cfg.toml")
    data = build_datasets(validate(config, path))
    assert len(data.train) == 6 and [len(d) for d in data.train.datasets] == [2, 4]
    assert [data.evals[s][0]["name"] for s in ("gray", "colour")] == ["gray", "rgb"]
    code, _, err = invoke(capsys, "train", "--parameters", path)
    assert code == 0, err
    row = read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")[0]
    for metric in ("loss", "PSNR", "SSIM"):
        per_set = [row[f"val-{s}-{metric}"] for s in ("gray", "colour")]
        assert per_set[0] != per_set[1]
        assert row[f"val-{metric}"] == pytest.approx(sum(per_set) / 2, rel=1e-9)  # one image each


def test_model_taking_lr_interp_gets_the_upscaled_images(test_models, tiny_config, sr_data, tmp_path, capsys):
    interp = {}
    for part, folder in (("train", sr_data.train_lr), ("eval", sr_data.eval_lr)):
        for path in sorted(folder.iterdir()):
            image = imresize(np.asarray(Image.open(path).convert("RGB")), 4)
            save_png(image, tmp_path / part / path.name)
            interp[path.name] = image
    config = tiny_config(training={"num_epochs": 1})
    config["model"] = {"name": "InterpNet", "internal_params": {"scale": 4}}
    config["data"]["training_sets"]["train"]["lr_interp"] = str(tmp_path / "train")
    config["data"]["eval_sets"]["eval"]["lr_interp"] = str(tmp_path / "eval")
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    assert [tuple(x.shape) for x in InterpNet.seen] == [(4, 3, 64, 64), (2, 3, 64, 64), (2, 3, 64, 64)]
    expected = torch.stack([torch.from_numpy(interp[n]).permute(2, 0, 1) for n in ("gray.png", "rgb.png")])
    assert torch.equal(InterpNet.seen[-1], expected.float() / 255)
    assert [r["epoch"] for r in read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")] == [1]
