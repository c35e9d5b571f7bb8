"""A new kind of training from a plugin alone: ``tests/plugins/rumpy_denoise`` (a real distribution,
pip-installed into a folder of its own) adds the ``denoise`` task (x1 denoising with a noise-level
estimator and a conditioned denoiser trained jointly, each with its own optimizer), a loss and
a stateful callback, through the public hooks only. It trains, evaluates, resumes bit for bit
on the CPU, branches, and ``rumpy eval`` runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rumpycore.loggers.summary import read_summary
from rumpycore.testing import REPO, run_rumpy, save_png, write_config

from .helpers import assert_same_state


@pytest.fixture(scope="module")
def denoise_site(tmp_path_factory) -> dict[str, str]:
    """The plugin installed into a folder of its own; the environment that makes it visible."""
    site = tmp_path_factory.mktemp("denoise_site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(REPO / "tests" / "plugins" / "rumpy_denoise")],
                   check=True, capture_output=True)
    return {"PYTHONPATH": str(site)}


def denoise_config(sr_data, save_loc: Path, experiment: str = "denoise", epochs: int = 3) -> dict:
    clean_train, clean_eval = str(sr_data.train_hr), str(sr_data.eval_hr)
    return {
        "experiment": experiment,
        "experiment_save_loc": str(save_loc),
        "training": {"num_epochs": epochs, "seed": 3, "metrics": ["PSNR"], "aim_track": False, "logging": "text",
                     "save_samples": False, "callbacks": ["smoothed_loss"]},
        "model": {
            "name": "ConditionedDenoiser",
            "task": "denoise",
            "internal_params": {"scale": 1, "lr": 2e-3, "features": 8, "blocks": 1,
                                "scheduler": "step_lr", "scheduler_params": {"step_size": 4, "gamma": 0.5}},
            "task_params": {"sigma": [10.0, 40.0], "eval_sigma": 25.0},
            "estimator": {"internal_params": {"lr": 5e-3, "features": 4,
                                              "losses": {"relative_l1": {"weight": 1.0}}}},
        },
        "data": {
            "batch_size": 4,
            "dataloader_threads": 0,
            "training_sets": {"clean": {"lr": clean_train, "hr": clean_train, "crop": 32, "random_augment": True}},
            "eval_sets": {"clean": {"lr": clean_eval, "hr": clean_eval}},
        },
    }


def train(env, path, *extra):
    result = run_rumpy("train", "--parameters", path, *extra, env=env)
    assert result.returncode == 0, result.stderr
    return result


def checkpoint(folder: Path, epoch: int) -> dict:
    return torch.load(folder / "saved_models" / f"train_model_{epoch}.pt", weights_only=True)


def test_a_plugin_task_trains_two_networks_and_resumes_bit_for_bit(denoise_site, sr_data, tmp_path):
    runs = tmp_path / "runs"
    train(denoise_site, write_config(denoise_config(sr_data, runs, "whole"), tmp_path / "whole.toml"))
    split = write_config(denoise_config(sr_data, runs, "split"), tmp_path / "split.toml")
    train(denoise_site, split, "--num_epochs", "1")
    train(denoise_site, split, "--continue_from_epoch", "last")

    whole, resumed = checkpoint(runs / "whole", 3), checkpoint(runs / "split", 3)
    assert list(whole["networks"]) == ["model", "estimator"]
    assert whole["networks"]["estimator"]["model"] == "NoiseEstimator"
    assert_same_state(whole, resumed)
    assert torch.equal(whole["task_state"]["generator"], resumed["task_state"]["generator"])
    assert whole["callbacks"]["smoothed_loss"] == resumed["callbacks"]["smoothed_loss"]
    assert whole["callbacks"]["smoothed_loss"]["steps"] == 3 * 2  # 6 crops in batches of 4, three epochs
    assert (runs / "whole" / "result_outputs" / "smoothed_loss.csv").read_bytes() == \
        (runs / "split" / "result_outputs" / "smoothed_loss.csv").read_bytes()

    rows = {name: [{k: v for k, v in row.items() if not k.endswith("-time")}
                   for row in read_summary(runs / name / "result_outputs" / "summary.csv")]
            for name in ("whole", "split")}
    assert rows["whole"] == rows["split"]
    last = rows["whole"][-1]
    assert {"train-loss", "train-estimator", "learning-rate", "learning-rate-estimator", "val-loss",
            "val-PSNR"} <= set(last)
    assert rows["whole"][0]["train-estimator"] > last["train-estimator"]  # the estimator learns the levels
    assert (runs / "whole" / "saved_models" / "best.pt").is_symlink()


def test_a_plugin_task_branches_and_is_evaluated_by_rumpy_eval(denoise_site, sr_data, tmp_path):
    runs = tmp_path / "runs"
    path = write_config(denoise_config(sr_data, runs, epochs=2), tmp_path / "cfg.toml")
    train(denoise_site, path)
    train(denoise_site, path, "--continue_from_epoch", "1", "--set", "training.new_branch_name='retry'")
    branch = runs / "denoise" / "retry"
    assert [row["epoch"] for row in read_summary(branch / "result_outputs" / "summary.csv")] == [1, 2]
    assert (branch / "saved_models" / "train_model_2.pt").is_file()
    assert not (branch / "saved_models" / "train_model_1.pt").exists()  # inherited from the parent

    rng = np.random.default_rng(0)
    for image in sorted(sr_data.eval_hr.iterdir()):
        clean = np.asarray(Image.open(image).convert("RGB"), dtype=np.float64)
        noisy = np.clip(np.round(clean + rng.normal(0.0, 25.0, clean.shape)), 0, 255).astype(np.uint8)
        save_png(noisy, tmp_path / "noisy" / image.name)
    result = run_rumpy("eval", "--lr_dir", tmp_path / "noisy", "--hr_dir", sr_data.eval_hr, "--scale", "1",
                       "-me", runs / "denoise", "last", "--out_loc", tmp_path / "eval", "--json", env=denoise_site)
    assert result.returncode == 0, result.stderr
    rows = {row["model"]: row for row in json.loads(result.stdout)["summary"]}
    assert rows["denoise"]["epoch"] == 2 and rows["denoise"]["images"] == 2
    assert 5.0 < rows["denoise"]["PSNR"] < 60.0
