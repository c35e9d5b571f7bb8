"""End to end: the real ``rumpy train`` CLI on tiny real data, checked through the files it writes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import toml
import torch

from rumpycore.loggers.summary import read_summary
from rumpycore.testing import rumpy_executable, rumpy_in_process, run_rumpy, write_config

from .helpers import assert_one_line_error, invoke


def load_checkpoint(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_train_writes_the_experiment_folder(tiny_config, tmp_path):
    config = tiny_config(training={"logging": "visual", "save_samples": True, "num_samples": 2})
    result = run_rumpy("train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "runs" / "tiny"
    assert "results in" in result.stderr and str(folder) in result.stderr

    written = toml.load(folder / "config.toml")
    assert written["model"]["name"] == "EDSR"
    assert written["model"]["internal_params"]["res_scale"] == 1.0  # default filled in (EDSR baseline: 1.0)

    with open(folder / "result_outputs" / "summary.csv") as handle:
        header = next(csv.reader(handle))
    assert header[:7] == ["epoch", "iteration", "train-loss", "learning-rate", "val-loss", "val-PSNR", "val-SSIM"]
    rows = read_summary(folder / "result_outputs" / "summary.csv")
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(10 < r["val-PSNR"] < 60 and 0 < r["val-SSIM"] <= 1 for r in rows)

    for epoch in (1, 2):
        state = load_checkpoint(folder / "saved_models" / f"train_model_{epoch}.pt")
        assert state["epoch"] == epoch and state["networks"]["model"]["model"] == "EDSR"
        assert [r["epoch"] for r in state["history"]] == list(range(1, epoch + 1))
    assert (folder / "saved_models" / "best.pt").is_symlink()
    for name in ("loss_plots.png", "loss_plots.pdf"):
        assert (folder / "result_outputs" / name).stat().st_size > 1000
    samples = sorted(p.name for p in (folder / "result_outputs" / "epoch_2_samples").iterdir())
    assert samples == ["gray.png", "gray_comparison.png", "rgb.png", "rgb_comparison.png"]


def test_same_seed_gives_identical_results(tiny_config, tmp_path):
    summaries, states = [], []
    # one run in a fresh process, one in this process after the others: neither may matter
    for name, run in (("a", run_rumpy), ("b", rumpy_in_process)):
        config = tiny_config(experiment=name)
        result = run("train", "--parameters", write_config(config, tmp_path / f"{name}.toml"),
                     "--set", "data.dataloader_threads=2")
        assert result.returncode == 0, result.stderr
        rows = read_summary(tmp_path / "runs" / name / "result_outputs" / "summary.csv")
        summaries.append([{k: v for k, v in r.items() if not k.endswith("-time")} for r in rows])
        states.append(load_checkpoint(tmp_path / "runs" / name / "saved_models" / "train_model_2.pt")["networks"]["model"]["weights"])
    assert summaries[0] == summaries[1]
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key


def test_loader_workers_do_not_change_results(tiny_config, tmp_path, capsys):
    finals = []
    for workers in (0, 2):
        config = tiny_config(experiment=f"w{workers}", data_options={"dataloader_threads": workers})
        code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / f"w{workers}.toml"))
        assert code == 0, err
        finals.append(read_summary(tmp_path / "runs" / f"w{workers}" / "result_outputs" / "summary.csv")[-1])
    assert finals[0]["train-loss"] == finals[1]["train-loss"]
    assert finals[0]["val-PSNR"] == finals[1]["val-PSNR"]


def test_overrides_and_train_sisr_alias(tiny_config, tmp_path):
    path = write_config(tiny_config(), tmp_path / "cfg.toml")
    alias = str(Path(rumpy_executable()).with_name("train_sisr"))
    result = run_rumpy("--parameters", path, "--num-epochs", "1", "--experiment_name", "renamed",
                       "--set", "model.internal_params.lr=0.002", executable=alias)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "runs" / "renamed"
    written = toml.load(folder / "config.toml")
    assert written["training"]["num_epochs"] == 1 and written["model"]["internal_params"]["lr"] == 0.002
    assert [r["epoch"] for r in read_summary(folder / "result_outputs" / "summary.csv")] == [1]


def test_existing_experiment_is_not_overwritten(tiny_config, tmp_path, capsys):
    path = write_config(tiny_config(training={"num_epochs": 1}), tmp_path / "cfg.toml")
    code, _, err = invoke(capsys, "train", "--parameters", path)
    assert code == 0, err
    checkpoint = tmp_path / "runs" / "tiny" / "saved_models" / "train_model_1.pt"
    before = checkpoint.read_bytes()
    code, _, err = invoke(capsys, "train", "--parameters", path)
    assert_one_line_error(code, err, "already exists", "overwrite_data")
    assert checkpoint.read_bytes() == before
    code, _, err = invoke(capsys, "train", "--parameters", path, "--overwrite_data")
    assert code == 0, err


def test_check_validates_without_writing(tiny_config, tmp_path, capsys):
    path = write_config(tiny_config(), tmp_path / "cfg.toml")
    code, out, err = invoke(capsys, "check", "--parameters", path, "--seed", "11")
    assert code == 0, err
    resolved = toml.loads(out.split("\n# model")[0])
    assert resolved["training"]["seed"] == 11
    assert resolved["data"]["training_sets"]["train"]["type"] == "paired"
    assert "# model EDSR: 8,035 trainable parameters" in out
    assert not (tmp_path / "runs").exists()


def test_the_resolved_config_fills_in_scheduler_metric_and_logger_defaults(tiny_config, tmp_path, capsys):
    config = tiny_config(internal_params={"scheduler": "one_cycle_lr", "scheduler_params": {"lr_max": 2e-3}},
                         training={"metrics": ["PSNR", "LPIPS"], "metric_params": {"lpips": {"pnet_rand": True}},
                                   "logging": "visual"})
    code, out, err = invoke(capsys, "check", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    resolved = toml.loads(out.split("\n# model")[0])
    assert resolved["model"]["internal_params"]["scheduler_params"] == {
        "lr_max": 2e-3, "anneal_strategy": "cos", "pct_start": 0.3, "cycle_momentum": True}  # total_steps: unset
    assert resolved["training"]["metric_params"] == {"LPIPS": {"net": "alex", "pnet_rand": True}}
    # plots: no parameters
    assert resolved["training"]["logger_params"] == {"console": {"log_seconds": 60.0}, "step_loss": {"every": 10}}
    code, again, err = invoke(capsys, "check", "--parameters", write_config(resolved, tmp_path / "resolved.toml"))
    assert code == 0, err
    assert toml.loads(again.split("\n# model")[0]) == resolved


def test_relative_paths_resolve_against_the_config_folder(tiny_config, tmp_path, sr_data, monkeypatch):
    import shutil

    project = tmp_path / "project"
    shutil.copytree(sr_data.root, project / "data")
    config = tiny_config(training={"num_epochs": 1})
    config["experiment_save_loc"] = "results"
    config["data"]["training_sets"]["train"].update(lr="data/train/LR", hr="data/train/HR")
    config["data"]["eval_sets"]["eval"].update(lr="data/eval/LR", hr="data/eval/HR")
    path = write_config(config, project / "configs" / ".." / "cfg.toml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = rumpy_in_process("train", "--parameters", path)
    assert result.returncode == 0, result.stderr
    assert (project / "results" / "tiny" / "saved_models" / "train_model_1.pt").is_file()
    assert not any(elsewhere.iterdir())


def test_the_original_epoch_cutoff_key_trains_and_yields_to_the_flag(tiny_config, tmp_path, capsys):
    config = tiny_config()
    del config["training"]["num_epochs"]
    config["training"]["epoch_cutoff"] = 2
    path = write_config(config, tmp_path / "cfg.toml")
    code, _, err = invoke(capsys, "train", "--parameters", path, "--num_epochs", "1")
    assert code == 0, err
    summary = tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv"
    assert [r["epoch"] for r in read_summary(summary)] == [1]
    code, _, err = invoke(capsys, "train", "--parameters", path, "--continue_from_epoch", "last")
    assert code == 0, err
    assert [r["epoch"] for r in read_summary(summary)] == [1, 2]


def test_resume_with_a_new_rate_needs_a_fresh_optimizer(tiny_config, tmp_path, capsys):
    config = tiny_config()
    path = write_config(config, tmp_path / "cfg.toml")
    code, _, err = invoke(capsys, "train", "--parameters", path, "--num_epochs", "1")
    assert code == 0, err
    summary = tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv"
    first_rate = read_summary(summary)[0]["learning-rate"]
    rates = {}
    for skip in (False, True):
        code, _, err = invoke(capsys, "train", "--parameters", path, "--continue_from_epoch", "1",
                              "--set", "model.internal_params.lr=0.002",
                              "--set", f"training.skip_optimizer_load={str(skip).lower()}",
                              "--set", "training.new_branch=true", "--set", f"training.new_branch_name=skip_{skip}")
        assert code == 0, err
        rates[skip] = read_summary(tmp_path / "runs" / "tiny" / f"skip_{skip}" / "result_outputs" / "summary.csv")[1]
    assert rates[False]["learning-rate"] == first_rate != 0.002
    assert rates[True]["learning-rate"] == 0.002


def test_original_settings_without_a_counterpart_are_noted(tiny_config, tmp_path, capsys):
    config = tiny_config(training={"num_epochs": 1, "full_loss_logging": True, "id_source": "standard",
                                   "max_im_val": 1.0})
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    assert "rumpy: note: training.full_loss_logging is a setting of the original rumpy with no effect here" in err
    assert "rumpy: note: training.id_source is a setting" in err
    written = toml.load(tmp_path / "runs" / "tiny" / "config.toml")
    assert "full_loss_logging" not in written["training"] and "max_im_val" not in written["training"]


def test_original_model_and_set_keys_without_a_counterpart_are_noted(tiny_config, tmp_path, capsys):
    # keys of the original's sample and test configs: accepted, noted, left out of the resolved config
    config = tiny_config(training={"cleanup_metric": "val-PSNR"},
                         internal_params={"face_training": False, "blur_kernels": False, "in_features": 3,
                                          "ignore_degradation_location": True})
    config["data"]["training_sets"]["train"]["ignore_degradation_location"] = True
    code, out, err = invoke(capsys, "check", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    noted = {line.split(" is a setting")[0].removeprefix("rumpy: note: ") for line in err.splitlines()}
    assert noted == {"training.cleanup_metric", "model.internal_params.face_training",
                     "model.internal_params.blur_kernels", "model.internal_params.ignore_degradation_location",
                     "data.training_sets.train.ignore_degradation_location"}
    resolved = toml.loads(out.split("\n# ")[0])
    assert "cleanup_metric" not in resolved["training"]
    assert not {"face_training", "in_features"} & set(resolved["model"]["internal_params"])
    assert "ignore_degradation_location" not in resolved["data"]["training_sets"]["train"]


def test_resume_can_restart_the_scheduler(tiny_config, tmp_path, capsys):
    config = tiny_config(internal_params={"scheduler": "step_lr", "scheduler_params": {"step_size": 3, "gamma": 0.5}})
    path = write_config(config, tmp_path / "cfg.toml")
    code, _, err = invoke(capsys, "train", "--parameters", path, "--num_epochs", "1")  # 2 steps: no drop yet
    assert code == 0, err
    rates = {}
    for skip in (False, True):
        code, _, err = invoke(capsys, "train", "--parameters", path, "--continue_from_epoch", "1",
                              "--set", f"training.skip_scheduler_load={str(skip).lower()}",
                              "--set", "training.new_branch=true", "--set", f"training.new_branch_name=skip_{skip}")
        assert code == 0, err
        branch = tmp_path / "runs" / "tiny" / f"skip_{skip}"
        rates[skip] = read_summary(branch / "result_outputs" / "summary.csv")[1]["learning-rate"]
    # the epoch's mean rate: the restored schedule halves after its third step (1e-3, then 5e-4),
    # a fresh one has taken two steps of three (1e-3 twice)
    assert rates[False] == pytest.approx(7.5e-4)
    assert rates[True] == 1e-3


def test_gradient_clipping_bounds_the_update(tiny_config, tmp_path, capsys):
    moved = {}
    for clip in (0.0, 1e-12):
        config = tiny_config(experiment=f"clip{clip}", internal_params={"grad_clip": clip, "scheduler": "none"},
                             training={"best_load_metric": "val-loss"})
        code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / f"{clip}.toml"))
        assert code == 0, err
        models = tmp_path / "runs" / f"clip{clip}" / "saved_models"
        first, second = (load_checkpoint(models / f"train_model_{n}.pt")["networks"]["model"]["weights"] for n in (1, 2))
        moved[clip] = max(float((first[k] - second[k]).abs().max()) for k in first)
    # a gradient clipped far below Adam's eps (1e-8) turns each step into about lr * 1e-4
    assert moved[1e-12] < 1e-6 < 1e-4 < moved[0.0]


def test_short_last_batch_scheduler_none_and_experiment_group(tiny_config, tmp_path, capsys):
    steps = {}
    for drop in (False, True):
        config = tiny_config(experiment=f"drop_{drop}", internal_params={"scheduler": "none"})
        config["experiment_group"] = "ablations"  # the original's label: accepted, stored, no effect
        config["data"].update(batch_size=5, drop_last_training_batch=drop)  # 6 training images
        code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / f"{drop}.toml"))
        assert code == 0, err
        folder = tmp_path / "runs" / f"drop_{drop}"
        steps[drop] = load_checkpoint(folder / "saved_models" / "train_model_2.pt")["step"]
        assert {r["learning-rate"] for r in read_summary(folder / "result_outputs" / "summary.csv")} == {1e-3}
        assert toml.load(folder / "config.toml")["experiment_group"] == "ablations"
    assert steps == {False: 4, True: 2}
