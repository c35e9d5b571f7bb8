"""What a run shows and writes: the bicubic reference, the closing line, comparison samples,
plots, the per-step loss, the learning rate of an epoch, where an interrupted run stopped, a
self-contained config, and training counted in iterations."""

from __future__ import annotations

import json
import os
import signal
import types

import numpy as np
import pytest
import toml
import torch

import rumpycore
from rumpycore.loggers.plots import draw, plot_groups
from rumpycore.loggers.samples import comparison
from rumpycore.loggers.summary import read_summary
from rumpycore.plugins import host, reset_host
from rumpycore.tasks.base import Sample
from rumpycore.testing import write_config

from .helpers import invoke


def train(capsys, config, path, *extra, code=0):
    got, _, err = invoke(capsys, "train", "--parameters", write_config(config, path), *extra)
    assert got == code, err
    return err


def results(tmp_path, name="tiny"):
    return tmp_path / "runs" / name / "result_outputs"


def test_the_bicubic_reference_is_measured_as_rumpy_eval_measures_it(tiny_config, sr_data, tmp_path, capsys):
    err = train(capsys, tiny_config(training={"num_epochs": 1}), tmp_path / "cfg.toml")
    reference = read_summary(results(tmp_path) / "reference.csv")[0]
    code, out, eval_err = invoke(capsys, "eval", "--lr_dir", sr_data.eval_lr, "--hr_dir", sr_data.eval_hr,
                                 "--out_loc", tmp_path / "eval", "--json")
    assert code == 0, eval_err
    bicubic = {row["model"]: row for row in json.loads(out)["summary"]}["bicubic"]
    assert reference["val-PSNR"] == pytest.approx(bicubic["PSNR"], abs=1e-9)
    assert reference["val-SSIM"] == pytest.approx(bicubic["SSIM"], abs=1e-9)
    assert f"bicubic reference val-PSNR {reference['val-PSNR']:.2f} dB" in err
    epoch_line = next(line for line in err.splitlines() if line.startswith("epoch 1/1"))
    assert f"(bicubic {reference['val-PSNR']:.2f} dB)" in epoch_line


def test_the_closing_lines_give_the_best_epoch_against_bicubic_and_the_time(tiny_config, tmp_path, capsys):
    err = train(capsys, tiny_config(training={"num_epochs": 3}), tmp_path / "cfg.toml")
    rows = read_summary(results(tmp_path) / "summary.csv")
    reference = read_summary(results(tmp_path) / "reference.csv")[0]["val-PSNR"]
    best = max(rows, key=lambda row: row["val-PSNR"])
    closing, finished = err.strip().splitlines()[-2:]
    assert closing.startswith(f"rumpy: best: epoch {int(best['epoch'])}, val-PSNR {best['val-PSNR']:.2f} dB, "
                              f"bicubic {reference:.2f} dB ({best['val-PSNR'] - reference:+.2f} dB)")
    assert finished.startswith("rumpy: finished epoch 3 in ") and f"results in {tmp_path / 'runs' / 'tiny'}" in finished


def test_samples_compare_lr_bicubic_sr_and_hr_with_their_scores(tiny_config, tmp_path, capsys):
    train(capsys, tiny_config(training={"num_epochs": 1, "save_samples": True, "num_samples": 1}), tmp_path / "c.toml")
    folder = results(tmp_path) / "epoch_1_samples"
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 2 and names[1] == names[0].replace(".png", "_comparison.png")
    rng = np.random.default_rng(0)
    image = lambda size: rng.integers(0, 256, (size, size, 3), dtype=np.uint8)  # noqa: E731
    sample = Sample("photo", image(16), image(64), image(64), image(64),
                    {"SR": {"PSNR": 25.5, "SSIM": 0.7}, "bicubic": {"PSNR": 24.0, "SSIM": 0.6}})
    drawn = comparison(sample, 3)
    assert drawn.shape[1] == 4 * 192 + 5 * 6  # LR, bicubic, SR, HR enlarged to 192 pixels, with gaps
    assert drawn.dtype == np.uint8 and drawn.shape[0] > 192


def test_plots_show_units_whole_epochs_the_best_epoch_the_rate_and_the_reference():
    history = [{"epoch": e, "iteration": 10 * e, "train-loss": 1 / e, "learning-rate": 1e-3 / e, "val-loss": 1 / e,
                "val-PSNR": 20 + e, "val-SSIM": 0.5} for e in (1, 2, 3)]
    assert [name for name, _ in plot_groups(history, ["PSNR", "SSIM"])] == ["loss", "PSNR", "SSIM", "learning rate"]
    fig = draw(history, ["PSNR", "SSIM"], "edsr_demo", {"val-PSNR": 21.5}, "bicubic", 3, "val-PSNR")
    loss, psnr, ssim, rate = fig.axes
    assert psnr.get_ylabel() == "PSNR (dB)" and rate.get_yscale() == "log"
    assert fig._suptitle.get_text() == "edsr_demo"
    labels = [t.get_text() for t in psnr.get_legend().get_texts()]
    assert "val-PSNR, bicubic" in labels and "best: epoch 3" in labels
    ticks = [t for t in rate.get_xticks() if 1 <= t <= 3]
    assert all(float(t).is_integer() for t in ticks)
    alone = draw(history[:1], ["PSNR", "SSIM"]).axes[-1]  # a single epoch: still whole-number ticks
    shown = [t for t in alone.get_xticks() if alone.get_xlim()[0] <= t <= alone.get_xlim()[1]]
    assert shown and all(float(t).is_integer() for t in shown)


def test_the_step_loss_record_is_exact_and_survives_a_resume(tiny_config, tmp_path, capsys):
    config = tiny_config(training={"num_epochs": 3, "logger_params": {"step_loss": {"every": 1}}})
    train(capsys, config, tmp_path / "whole.toml")
    rows = read_summary(results(tmp_path) / "summary.csv")
    steps = read_summary(results(tmp_path) / "step_losses.csv")
    assert [r["step"] for r in steps] == list(range(1, 7))  # 6 crops, batch 4: 2 steps an epoch
    for row in rows:
        mine = [s["train-loss"] for s in steps if s["epoch"] == row["epoch"]]
        assert row["train-loss"] == pytest.approx(sum(mine) / len(mine), rel=1e-12)
    config["experiment"] = "split"
    train(capsys, config, tmp_path / "split.toml", "--num_epochs", "1")
    train(capsys, config, tmp_path / "split.toml", "--continue_from_epoch", "last")
    assert (results(tmp_path, "split") / "step_losses.csv").read_bytes() == \
        (results(tmp_path) / "step_losses.csv").read_bytes()
    assert not (results(tmp_path) / "loss_steps.png").exists()  # logging = "text" draws no plots


def test_the_learning_rate_column_is_the_mean_rate_of_the_epochs_steps(tiny_config, tmp_path, capsys):
    config = tiny_config(training={"num_epochs": 2}, internal_params={
        "lr": 1e-3, "scheduler": "step_lr", "scheduler_params": {"step_size": 1, "gamma": 0.5}})
    train(capsys, config, tmp_path / "cfg.toml")
    rows = read_summary(results(tmp_path) / "summary.csv")
    assert [r["learning-rate"] for r in rows] == pytest.approx([(1e-3 + 5e-4) / 2, (2.5e-4 + 1.25e-4) / 2])


class StopAtStep(rumpycore.Callback):
    """Sends this process SIGINT after a given step, as Ctrl-C would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def step_end(self, step):
        if step.step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture
def stop_at():
    """Register ``stop_at_step`` (``[training.callback_params.stop_at_step] step``) for one test."""
    from dataclasses import dataclass

    @dataclass
    class Params:
        step: int = rumpycore.option(1, min=1)

    @rumpycore.hookimpl
    def register_callbacks(register):
        register(rumpycore.CallbackSpec("stop_at_step", lambda p, ctx: StopAtStep(p.step), Params))

    host().register_plugin(types.SimpleNamespace(register_callbacks=register_callbacks, __name__="stop"), "test")
    yield
    reset_host()


def stopping(config: dict, step: int) -> dict:
    stopped = toml.loads(toml.dumps(config))
    stopped["training"]["callbacks"] = ["stop_at_step"]
    stopped["training"]["callback_params"] = {"stop_at_step": {"step": step}}
    return stopped


def test_an_interrupted_run_says_where_it_stopped_and_resumes_there(tiny_config, tmp_path, capsys, stop_at):
    config = tiny_config(training={"num_epochs": 2, "logger_params": {"console": {"log_seconds": 0.0}}})
    config["data"]["training_sets"]["train"]["repeat"] = 4  # 6 steps an epoch
    train(capsys, config, tmp_path / "whole.toml")
    config["experiment"] = "stopped"
    err = train(capsys, stopping(config, 8), tmp_path / "stopped.toml", code=130)
    assert "rumpy: stopped by SIGINT at epoch 2, batch 2/6 (" in err
    assert err.count("SIGINT received") == 1
    err = train(capsys, config, tmp_path / "stopped.toml", "--continue_from_epoch", "last")
    progress = [line for line in err.splitlines() if line.startswith("epoch 2: batch")]
    assert progress[0].startswith("epoch 2: batch 3/6")  # the epoch goes on where it stopped
    whole, resumed = (read_summary(results(tmp_path, name) / "summary.csv") for name in ("tiny", "stopped"))
    untimed = [[{k: v for k, v in r.items() if not k.endswith("-time")} for r in rows] for rows in (whole, resumed)]
    assert untimed[0] == untimed[1]


def test_the_written_config_is_self_contained_and_reproduces_the_run(tiny_config, tmp_path, capsys, sr_data,
                                                                     monkeypatch):
    config = tiny_config(training={"num_epochs": 1})
    data = tmp_path / "project" / "data"
    data.mkdir(parents=True)
    for folder in ("train_lr", "train_hr", "eval_lr", "eval_hr"):
        (data / folder).symlink_to(getattr(sr_data, folder))
    config["data"]["training_sets"]["train"].update(lr="data/train_lr", hr="data/train_hr")
    config["data"]["eval_sets"]["eval"].update(lr="data/eval_lr", hr="data/eval_hr")
    train(capsys, config, tmp_path / "project" / "cfg.toml", "--overwrite_data")
    written = tmp_path / "runs" / "tiny" / "config.toml"
    saved = toml.load(written)
    assert saved["data"]["training_sets"]["train"]["lr"] == str((data / "train_lr").resolve())
    assert "overwrite_data" not in saved["training"]
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke(capsys, "check", "--parameters", written)
    assert code == 0, err
    code, _, err = invoke(capsys, "train", "--parameters", written, "--experiment_name", "again")
    assert code == 0, err
    untimed = [[{k: v for k, v in r.items() if not k.endswith("-time")}
                for r in read_summary(results(tmp_path, name) / "summary.csv")] for name in ("tiny", "again")]
    assert untimed[0] == untimed[1]


def test_training_counted_in_iterations_evaluates_every_n_steps_and_resumes_mid_period(tiny_config, tmp_path,
                                                                                         capsys, stop_at):
    config = tiny_config(internal_params={"scheduler": "one_cycle_lr", "scheduler_params": {"lr_max": 2e-3}})
    config["training"].pop("num_epochs")
    config["training"].update(num_iterations=7, eval_every_iterations=3)  # 2 steps a data epoch
    train(capsys, config, tmp_path / "whole.toml")
    rows = read_summary(results(tmp_path) / "summary.csv")
    assert [(r["epoch"], r["iteration"]) for r in rows] == [(1, 3), (2, 6), (3, 7)]
    whole = torch.load(tmp_path / "runs" / "tiny" / "saved_models" / "train_model_3.pt", weights_only=True)
    assert whole["schedulers"]["model"]["total_steps"] == 7 and whole["position"] == [4, 1]

    config["experiment"] = "stopped"
    train(capsys, stopping(config, 5), tmp_path / "stopped.toml", code=130)
    train(capsys, config, tmp_path / "stopped.toml", "--continue_from_epoch", "last")
    resumed = torch.load(tmp_path / "runs" / "stopped" / "saved_models" / "train_model_3.pt", weights_only=True)
    from .helpers import assert_same_state

    assert_same_state(whole, resumed)
    assert [r["iteration"] for r in read_summary(results(tmp_path, "stopped") / "summary.csv")] == [3, 6, 7]
