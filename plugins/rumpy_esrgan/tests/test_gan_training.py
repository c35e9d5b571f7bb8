"""The ``gan`` task through the real CLI: every adversarial loss and both discriminators train both
networks, a generator trained by ``sisr`` starts the GAN stage, resume is bit for bit on the CPU,
``rumpy eval`` evaluates the generator, and mistakes are one line before anything is written."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rumpycore.cli import cli, run
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import run_rumpy, write_config

TINY_GENERATOR = {"num_features": 8, "num_blocks": 1, "growth": 4}
RANDOM_VGG = {"pretrained": False, "layers": {"conv1_2": 0.5, "conv2_2": 1.0}}


def invoke(capsys, *args) -> tuple[int, str, str]:
    """``rumpy ARGS`` in-process: exit code, stdout, stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run(cli, [str(a) for a in args])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def gan_config(tiny_config, experiment: str = "gan", discriminator: str = "UNetDiscriminator",
               adversarial: str = "vanilla_gan", epochs: int = 2, **task_params) -> dict:
    """A tiny GAN run: RRDBNet generator (16-pixel LR crops, 64-pixel HR) and a small discriminator."""
    config = tiny_config(model="RRDBNet", experiment=experiment, training={"num_epochs": epochs}, internal_params={
        **TINY_GENERATOR, "lr": 1e-3,
        "losses": {"l1": {"weight": 1.0}, "perceptual": {"weight": 0.5, **RANDOM_VGG}, adversarial: {"weight": 0.1}}})
    d_params = {"num_features": 8, "lr": 5e-4}
    if discriminator == "VGGDiscriminator":
        d_params["size"] = 64
    config["model"].update(task="gan", task_params=task_params,
                           discriminator={"name": discriminator, "internal_params": d_params})
    return config


def train(capsys, config: dict, path: Path, *extra) -> str:
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, path), *extra)
    assert code == 0, err
    return err


def checkpoint(folder: Path, epoch: int) -> dict:
    return torch.load(folder / "saved_models" / f"train_model_{epoch}.pt", weights_only=True)


def changed(before: dict, after: dict) -> bool:
    return any(not torch.equal(before[key], after[key]) for key in before if before[key].is_floating_point())


@pytest.mark.parametrize("discriminator, adversarial", [
    ("VGGDiscriminator", "relativistic_gan"), ("UNetDiscriminator", "vanilla_gan"),
    ("UNetDiscriminator", "lsgan"), ("VGGDiscriminator", "hinge_gan")])
def test_every_adversarial_loss_with_either_discriminator_trains_both_networks(
        tiny_config, tmp_path, capsys, discriminator, adversarial):
    train(capsys, gan_config(tiny_config, discriminator=discriminator, adversarial=adversarial), tmp_path / "c.toml")
    folder = tmp_path / "runs" / "gan"
    first, second = checkpoint(folder, 1), checkpoint(folder, 2)
    assert list(second["networks"]) == ["model", "discriminator"]
    assert second["networks"]["discriminator"]["model"] == discriminator
    for role in ("model", "discriminator"):
        assert changed(first["networks"][role]["weights"], second["networks"][role]["weights"]), role
    rows = read_summary(folder / "result_outputs" / "summary.csv")
    columns = {"train-loss", "train-loss-l1", "train-loss-perceptual", f"train-loss-{adversarial}",
               "train-discriminator", "train-discriminator-real", "train-discriminator-fake",
               "learning-rate", "learning-rate-discriminator", "val-loss", "val-PSNR", "val-SSIM"}
    assert columns <= set(rows[-1])
    for row in rows:  # the generator's total is the sum of its terms, the discriminator's of its two
        parts = row["train-loss-l1"] + row["train-loss-perceptual"] + row[f"train-loss-{adversarial}"]
        assert row["train-loss"] == pytest.approx(parts, rel=1e-6)
        assert row["train-discriminator"] == pytest.approx(
            row["train-discriminator-real"] + row["train-discriminator-fake"], rel=1e-6)


def test_the_gan_stage_starts_from_a_sisr_generator_and_rumpy_eval_uses_its_average(tiny_config, tmp_path, capsys):
    psnr = tiny_config(model="RRDBNet", experiment="psnr", training={"num_epochs": 1},
                       internal_params={**TINY_GENERATOR, "lr": 2e-3})
    train(capsys, psnr, tmp_path / "psnr.toml")
    stage_one = checkpoint(tmp_path / "runs" / "psnr", 1)["networks"]["model"]["weights"]

    config = gan_config(tiny_config, experiment="gan", epochs=1)
    config["model"]["internal_params"]["init_from"] = {"experiment": str(tmp_path / "runs" / "psnr"),
                                                       "network": "model"}
    config["training"]["ema_decay"] = 0.99999  # the average stays at the weights the run started from
    err = train(capsys, config, tmp_path / "gan.toml")
    assert f"model initialised from {tmp_path / 'runs' / 'psnr'} epoch 1 (model): {len(stage_one)} tensors" in err

    gan = checkpoint(tmp_path / "runs" / "gan", 1)
    averaged, live = gan["callbacks"]["ema"]["weights"]["model"], gan["networks"]["model"]["weights"]
    for key, weights in stage_one.items():
        assert torch.allclose(averaged[key], weights, atol=1e-5), key
    assert changed(stage_one, live)

    code, out, err = invoke(capsys, "eval", "--lr_dir", config["data"]["eval_sets"]["eval"]["lr"], "--hr_dir",
                            config["data"]["eval_sets"]["eval"]["hr"], "-me", tmp_path / "runs" / "gan", "1",
                            "--out_loc", tmp_path / "eval", "--json")
    assert code == 0, err
    [row] = [r for r in json.loads(out)["summary"] if r["model"] == "gan"]
    [summary] = read_summary(tmp_path / "runs" / "gan" / "result_outputs" / "summary.csv")
    assert row["PSNR"] == pytest.approx(summary["val-PSNR"], abs=1e-6)  # both the averaged generator


def comparable(state: dict) -> dict:
    """A checkpoint without what differs between two runs of the same training (names, times)."""
    state = copy.copy(state)
    for key in ("run_id", "config"):
        state.pop(key)
    state["history"] = [{k: v for k, v in row.items() if not k.endswith("-time")} for row in state["history"]]
    return state


def assert_identical(a, b, where: str = "checkpoint") -> None:
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_identical(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{index}]")
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b), where
    else:
        assert a == b, where


def test_an_interrupted_and_resumed_gan_run_ends_bit_for_bit_where_an_uninterrupted_one_does(
        tiny_config, tmp_path, capsys):
    def config(experiment: str) -> dict:
        made = gan_config(tiny_config, experiment=experiment, discriminator="VGGDiscriminator",
                          adversarial="relativistic_gan", epochs=3, usm=True, discriminator_steps=2)
        made["training"]["ema_decay"] = 0.9
        made["model"]["discriminator"]["internal_params"].update(
            scheduler="step_lr", scheduler_params={"step_size": 3, "gamma": 0.5}, grad_clip=1.0)
        return made

    train(capsys, config("whole"), tmp_path / "whole.toml")
    split = write_config(config("split"), tmp_path / "split.toml")
    train(capsys, config("split"), split, "--num_epochs", "1")
    train(capsys, config("split"), split, "--continue_from_epoch", "last")
    whole, resumed = checkpoint(tmp_path / "runs" / "whole", 3), checkpoint(tmp_path / "runs" / "split", 3)
    assert whole["callbacks"]["ema"]["weights"]["model"]  # the generator's average is part of what is compared
    assert whole["schedulers"]["discriminator"] is not None
    assert_identical(comparable(whole), comparable(resumed))


def test_missing_vgg19_weights_are_one_line_before_anything_is_written(tiny_config, tmp_path):
    config = gan_config(tiny_config)
    del config["model"]["internal_params"]["losses"]  # the ESRGAN defaults: l1, ImageNet perceptual, relativistic
    config["model"]["discriminator"]["internal_params"]["size"] = 64
    config["model"]["discriminator"]["name"] = "VGGDiscriminator"
    result = run_rumpy("train", "--parameters", write_config(config, tmp_path / "c.toml"),
                       env={"TORCH_HOME": str(tmp_path / "empty_torch_home")})
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "vgg19-dcbb9e9d.pth" in lines[0] and str(tmp_path / "empty_torch_home" / "hub" / "checkpoints") in lines[0]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("change, message", [
    (lambda c: c["model"]["internal_params"]["losses"].update(lsgan={"weight": 1.0}),
     "model.internal_params.losses: the gan task needs exactly one adversarial loss"),
    (lambda c: c["model"]["internal_params"].update(losses={"hinge_gan": {"weight": 1.0}}),
     "needs a loss comparing the output with the HR image"),
    (lambda c: c["model"]["discriminator"]["internal_params"].update(losses={"l1": {}}),
     "model.discriminator.internal_params.losses: the discriminator is trained with the generator's vanilla_gan"),
    (lambda c: c["model"]["discriminator"].update(name="EDSR"),
     "model.discriminator.name: EDSR is a sisr model, but the discriminator of the gan task must be a "
     "discriminator model"),
    (lambda c: c["model"]["discriminator"].update(name="VGGDiscriminator"),
     "VGGDiscriminator judges 128x128 HR patches, but training gives 64x64"),
])
def test_gan_mistakes_are_one_line_and_leave_nothing(tiny_config, tmp_path, capsys, change, message):
    config = gan_config(tiny_config)
    change(config)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "c.toml"))
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("rumpy: data:")]
    assert code == 2 and message in err, err
    assert sum("Traceback" in line for line in lines) == 0 and len([l for l in lines if message in l]) == 1
    assert not (tmp_path / "runs" / "gan").exists()


@pytest.mark.slow
def test_two_processes_train_the_gan_as_one_does(tiny_config, tmp_path, capsys):
    """Under DistributedDataParallel the discriminator judges real and fake images in two calls before
    one backward pass; two processes (gloo, CPU) end with the numbers of one."""
    single = gan_config(tiny_config, experiment="single", epochs=1, discriminator_steps=2)
    train(capsys, single, tmp_path / "single.toml")
    ddp = gan_config(tiny_config, experiment="ddp", epochs=1, discriminator_steps=2)
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "rumpycore.cli",
         "train", "--parameters", str(write_config(ddp, tmp_path / "ddp.toml"))],
        capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    [one] = read_summary(tmp_path / "runs" / "single" / "result_outputs" / "summary.csv")
    [two] = read_summary(tmp_path / "runs" / "ddp" / "result_outputs" / "summary.csv")
    for column in ("train-loss", "train-loss-vanilla_gan", "train-discriminator", "val-loss", "val-PSNR"):
        assert two[column] == pytest.approx(one[column], rel=1e-5, abs=1e-6), column
