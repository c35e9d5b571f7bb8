"""Weight averaging (``ema_decay``): the average's arithmetic, what is evaluated and saved,
exact resume, and ``rumpy eval`` loading the averaged weights."""

from __future__ import annotations

import json

import pytest
import torch

from rumpycore.loggers.summary import read_summary
from rumpycore.testing import write_config
from rumpycore.callbacks.ema import WeightAverage
from rumpycore.store import checkpoints as ckpt

from .helpers import invoke


def test_the_average_follows_the_live_weights_by_the_decay():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    average = WeightAverage(model, decay=0.75)
    start = {k: v.clone() for k, v in average.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model(torch.rand(2, 3, 8, 8))  # batch-norm statistics and counter move too
    average.update()
    live = model.state_dict()
    for key, value in average.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.75 * start[key] + 0.25 * live[key])
        else:
            assert torch.equal(value, live[key]), key
    assert not any(p.requires_grad for p in average.model.parameters())


def train(capsys, config, path, *extra):
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, path), *extra)
    assert code == 0, err


def test_averaged_weights_are_evaluated_saved_resumed_and_loaded_by_eval(tiny_config, sr_data, tmp_path, capsys):
    config = tiny_config(training={"ema_decay": 0.9})
    train(capsys, config, tmp_path / "whole.toml")
    config["experiment"] = "resumed"
    resumed_path = tmp_path / "resumed.toml"
    train(capsys, config, resumed_path, "--num_epochs", "1")
    train(capsys, config, resumed_path, "--continue_from_epoch", "last")

    whole, resumed = (ckpt.load(tmp_path / "runs" / name / "saved_models" / "train_model_2.pt")
                      for name in ("tiny", "resumed"))
    average = {name: s["callbacks"]["ema"]["weights"]["model"] for name, s in (("whole", whole), ("resumed", resumed))}
    weights = {name: s["networks"]["model"]["weights"] for name, s in (("whole", whole), ("resumed", resumed))}
    assert any(not torch.equal(average["whole"][k], weights["whole"][k]) for k in weights["whole"])
    for key in weights["whole"]:
        assert torch.equal(average["whole"][key], average["resumed"][key]), key
        assert torch.equal(weights["whole"][key], weights["resumed"][key]), key

    folder = tmp_path / "runs" / "tiny"
    logged = read_summary(folder / "result_outputs" / "summary.csv")[-1]
    code, out, err = invoke(capsys, "eval", "--lr_dir", sr_data.eval_lr, "--hr_dir", sr_data.eval_hr,
                            "--out_loc", tmp_path / "eval", "-me", folder, "last", "--json")
    assert code == 0, err
    measured = {row["model"]: row for row in json.loads(out)["summary"]}["tiny"]
    assert measured["PSNR"] == pytest.approx(logged["val-PSNR"], abs=1e-6)


def test_resuming_a_run_without_an_average_starts_one(tiny_config, tmp_path, capsys):
    path = tmp_path / "cfg.toml"
    train(capsys, tiny_config(), path, "--num_epochs", "1")
    train(capsys, tiny_config(training={"ema_decay": 0.5}), path, "--continue_from_epoch", "last")
    models = tmp_path / "runs" / "tiny" / "saved_models"
    assert "ema" not in ckpt.load(models / "train_model_1.pt")["callbacks"]
    assert ckpt.load(models / "train_model_2.pt")["callbacks"]["ema"]["weights"]["model"]
