"""The [training] options of the engine, each through the real CLI and the files it writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import types

import pytest
import torch

import rumpycore
from rumpycore.loggers.base import Logger
from rumpycore.loggers.summary import read_summary
from rumpycore.plugins import host, reset_host
from rumpycore.testing import rumpy_executable, rumpy_in_process, sr_config, write_config
from rumpycore.training.history import best_row, direction_lookup, evaluations_without_improvement

from .helpers import assert_one_line_error, assert_same_state, invoke


def summary(folder):
    return read_summary(folder / "result_outputs" / "summary.csv")


def untimed(rows):
    return [{k: v for k, v in r.items() if not k.endswith("-time")} for r in rows]


def checkpoint(folder, epoch):
    return torch.load(folder / "saved_models" / f"train_model_{epoch}.pt", map_location="cpu", weights_only=True)


def train(capsys, config, path, *extra):
    code, out, err = invoke(capsys, "train", "--parameters", write_config(config, path), *extra)
    assert code == 0, err
    return err


SCHEDULED = {"scheduler": "cosine_annealing_warm_restarts",
             "scheduler_params": {"restart_period": 3, "t_mult": 2, "lr_min": 1e-5}}


def test_resume_gives_the_same_checkpoints_and_summary(tiny_config, tmp_path, capsys):
    whole = tiny_config(experiment="whole", training={"num_epochs": 3}, internal_params=SCHEDULED,
                        data_options={"dataloader_threads": 2})
    train(capsys, whole, tmp_path / "whole.toml")
    parts = tiny_config(experiment="parts", training={"num_epochs": 3}, internal_params=SCHEDULED,
                        data_options={"dataloader_threads": 2})
    path = tmp_path / "parts.toml"
    train(capsys, parts, path, "--num_epochs", "1")
    err = train(capsys, parts, path, "--continue_from_epoch", "last")
    assert "resuming after epoch 1" in err
    a, b = tmp_path / "runs" / "whole", tmp_path / "runs" / "parts"
    assert untimed(summary(a)) == untimed(summary(b))
    for epoch in (2, 3):
        assert_same_state(checkpoint(a, epoch), checkpoint(b, epoch))
    assert (b / "config.toml").is_file() and (b / "config_from_epoch_2.toml").is_file()
    state = checkpoint(a, 3)
    optimizer = state["optimizers"]["model"]
    for emptied in ({**state, "optimizers": {"model": {**optimizer, "state": {}}}},
                    {**state, "networks": {"model": {**state["networks"]["model"], "weights": {}}}},
                    {**state, "networks": {}}):
        for first, second in ((state, emptied), (emptied, state)):
            with pytest.raises((AssertionError, ValueError)):  # the comparison cannot pass vacuously
                assert_same_state(first, second)


def test_branching_never_destroys_later_results(tiny_config, tmp_path, capsys):
    config = tiny_config(training={"num_epochs": 3})
    path = tmp_path / "cfg.toml"
    train(capsys, config, path)
    root = tmp_path / "runs" / "tiny"
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}

    train(capsys, config, path, "--continue_from_epoch", "1", "--num_epochs", "2")
    branch = root / "branch_epoch_1"
    assert {p: p.read_bytes() for p in before} == before  # the original is untouched
    rows = summary(branch)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert untimed(rows)[0] == untimed(summary(root))[0]
    assert sorted(p.name for p in (branch / "saved_models").glob("train_model_*")) == ["train_model_2.pt"]
    assert (branch / "config.toml").is_file()

    # the branch resumes through branch_root, and a named branch goes where asked
    train(capsys, config, path, "--continue_from_epoch", "last", "--num_epochs", "3",
          "--set", "training.branch_root='branch_epoch_1'")
    assert [r["epoch"] for r in summary(branch)] == [1, 2, 3]
    train(capsys, config, path, "--continue_from_epoch", "3", "--num_epochs", "4",
          "--set", "training.new_branch=true", "--set", "training.new_branch_name='longer'")
    assert [r["epoch"] for r in summary(root / "longer")] == [1, 2, 3, 4]


def test_continue_from_best_follows_the_best_link(tiny_config, tmp_path, capsys):
    config = tiny_config(training={"num_epochs": 3, "best_metric": "val-loss"})
    path = tmp_path / "cfg.toml"
    train(capsys, config, path)
    root = tmp_path / "runs" / "tiny"
    rows = summary(root)
    best = min(rows, key=lambda r: r["val-loss"])["epoch"]
    assert os.readlink(root / "saved_models" / "best.pt") == f"train_model_{best}.pt"
    err = train(capsys, config, path, "--continue_from_epoch", "best", "--num_epochs", "4")
    assert f"resuming after epoch {best}" in err


def test_early_stopping_honours_direction_and_survives_resume(tiny_config, tmp_path, capsys):
    # with lr = 0 nothing improves, so the watched metric stalls from the first evaluation on
    config = tiny_config(training={"num_epochs": 6, "early_stopping_patience": 2,
                                   "early_stopping_metric": "val-PSNR"}, internal_params={"lr": 0.0})
    path = tmp_path / "cfg.toml"
    train(capsys, config, path, "--num_epochs", "2")
    err = train(capsys, config, path, "--continue_from_epoch", "last")
    assert "stopped early after epoch 3" in err
    assert [r["epoch"] for r in summary(tmp_path / "runs" / "tiny")] == [1, 2, 3]


def test_history_helpers_use_each_metrics_direction():
    history = [{"epoch": 1, "val-PSNR": 20.0, "val-loss": 0.3}, {"epoch": 2},
               {"epoch": 3, "val-PSNR": 22.0, "val-loss": 0.4}, {"epoch": 4, "val-PSNR": 21.0, "val-loss": 0.35}]
    higher = direction_lookup({"PSNR": True})
    assert higher("val-PSNR") and higher("val-set5-PSNR") and not higher("val-loss")
    assert best_row(history, "val-PSNR", True)["epoch"] == 3
    assert best_row(history, "val-loss", False)["epoch"] == 1  # the epoch without evaluation is ignored
    assert evaluations_without_improvement(history, "val-PSNR", True) == 1
    assert evaluations_without_improvement(history, "val-loss", False) == 2


def test_eval_frequency_leaves_empty_cells(tiny_config, tmp_path, capsys):
    config = tiny_config(training={"num_epochs": 3, "eval_frequency": 2})
    train(capsys, config, tmp_path / "cfg.toml")
    text = (tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv").read_text().splitlines()
    header = text[0].split(",")
    first = dict(zip(header, text[1].split(",")))
    assert first["val-PSNR"] == "" and first["val-loss"] == ""
    assert [r["epoch"] for r in summary(tmp_path / "runs" / "tiny") if "val-PSNR" in r] == [2, 3]


def test_logging_text_draws_no_plots(tiny_config, tmp_path, capsys):
    train(capsys, tiny_config(training={"num_epochs": 1, "logging": "text"}), tmp_path / "cfg.toml")
    results = tmp_path / "runs" / "tiny" / "result_outputs"
    assert not list(results.glob("loss_plots.*"))
    assert sorted(p.name for p in results.iterdir()) == ["reference.csv", "step_losses.csv", "summary.csv"]


def test_several_eval_sets_are_reported_each_and_together(tiny_config, tmp_path, capsys, sr_data):
    config = tiny_config(training={"num_epochs": 1})
    config["data"]["eval_sets"]["again"] = {"lr": str(sr_data.eval_lr), "hr": str(sr_data.eval_hr), "cutoff": 1}
    train(capsys, config, tmp_path / "cfg.toml")
    row = summary(tmp_path / "runs" / "tiny")[0]
    for column in ("val-PSNR", "val-eval-PSNR", "val-again-PSNR", "val-eval-loss", "val-again-SSIM"):
        assert column in row
    assert row["val-eval-PSNR"] != row["val-PSNR"]


def test_schedulers_step_per_batch(tiny_config, tmp_path, capsys):
    cases = {
        "cosine_annealing_warm_restarts": ({"restart_period": 3}, None),
        # learning-rate: the mean rate of the epoch's two steps (steps 3 and 4 of the run)
        "multi_step_lr": ({"milestones": [2, 3], "gamma": 0.1}, (1e-3 * 0.1 + 1e-3 * 0.1 * 0.1) / 2),
        "step_lr": ({"step_size": 2, "gamma": 0.5}, 1e-3 * 0.5),
        "one_cycle_lr": ({"lr_max": 1e-2}, None),
    }
    for name, (params, expected) in cases.items():
        config = tiny_config(experiment=name, training={"num_epochs": 2},
                             internal_params={"scheduler": name, "scheduler_params": params})
        train(capsys, config, tmp_path / f"{name}.toml")
        rows = summary(tmp_path / "runs" / name)
        state = checkpoint(tmp_path / "runs" / name, 2)
        assert state["step"] == 4  # 6 images, batch 4: 2 batches per epoch
        assert state["schedulers"]["model"]["last_epoch"] == 4, name
        if expected is not None:
            assert rows[-1]["learning-rate"] == pytest.approx(expected), name


@pytest.fixture
def in_process_plugin():
    """Register an in-process plugin for one test, then forget the plugin set."""

    def register(plugin, distribution="test-plugin"):
        host().register_plugin(plugin, distribution)

    yield register
    reset_host()


def test_plugins_add_a_scheduler_and_a_logger(tiny_config, tmp_path, capsys, in_process_plugin):
    events, contexts = [], []

    class Recorder(Logger):
        def run_start(self, info):
            events.append(("run_start", info.start_epoch))

        def epoch_end(self, epoch, row, history):
            events.append(("epoch_end", epoch, round(row["learning-rate"], 8)))

        def run_end(self, status):
            events.append(("run_end", status))

    @rumpycore.hookimpl
    def register_loggers(register):
        register(rumpycore.LoggerSpec("recorder", lambda params, ctx: contexts.append(ctx) or Recorder()))

    @rumpycore.hookimpl
    def register_schedulers(register):
        register(rumpycore.SchedulerSpec(
            "halve_each_epoch", lambda opt, params, ctx: torch.optim.lr_scheduler.StepLR(opt, 1, 0.5),
            interval="epoch"))

    class WorstPixel(rumpycore.Metric):
        def values(self, prediction, target, batch):
            return (prediction - target).abs().flatten(1).amax(1)

        def reduce(self, values):
            return float(values.max())

    @rumpycore.hookimpl
    def register_metrics(register):
        register(rumpycore.MetricSpec("worst_pixel", lambda params, ctx: WorstPixel(), higher_is_better=False))

    in_process_plugin(types.SimpleNamespace(register_loggers=register_loggers, register_schedulers=register_schedulers,
                                            register_metrics=register_metrics, __name__="extras"))
    config = tiny_config(training={"num_epochs": 2, "loggers": ["Recorder"], "metrics": ["PSNR", "Worst_Pixel"]},
                         internal_params={"scheduler": "halve_each_epoch"})
    train(capsys, config, tmp_path / "cfg.toml")
    # the rate each epoch trained with: halved after every epoch
    assert events == [("run_start", 1), ("epoch_end", 1, 1e-3), ("epoch_end", 2, 5e-4), ("run_end", "finished")]
    [ctx] = contexts
    assert isinstance(ctx, rumpycore.LoggerContext)
    assert (ctx.experiment, ctx.folder, ctx.results, ctx.task) == (
        "tiny", tmp_path / "runs" / "tiny", tmp_path / "runs" / "tiny" / "result_outputs", "sisr")
    assert ctx.metric_directions == {"PSNR": True, "worst_pixel": False}
    assert ctx.config["training"]["loggers"] == ["Recorder"]
    rows = read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")
    assert all(0.0 < row["val-worst_pixel"] <= 1.0 for row in rows)


def test_aim_run_is_real_and_continues_on_resume(tiny_config, tmp_path, capsys):
    from aim import Repo, Run
    from aim.sdk.index_manager import RepoIndexManager

    aim_home = tmp_path / "aim"
    config = tiny_config(training={"num_epochs": 3, "aim_track": True, "aim_home": str(aim_home),
                                   "save_samples": True, "num_samples": 1})
    path = tmp_path / "cfg.toml"
    train(capsys, config, path, "--num_epochs", "2")
    train(capsys, config, path, "--continue_from_epoch", "last")

    repo = Repo.from_path(str(aim_home))
    hashes = repo.list_all_runs()
    assert len(hashes) == 1  # the resumed run continued the same Aim run
    RepoIndexManager.get_index_manager(repo).index(hashes[0])
    run = Run(hashes[0], repo=str(aim_home), read_only=True)
    assert run["hparams"]["model"]["name"] == "EDSR"
    metrics = {m.name: m for m in run.metrics()}
    expected = [r["val-PSNR"] for r in summary(tmp_path / "runs" / "tiny")]
    assert sorted(zip(metrics["val_PSNR"].epochs.values_list(), metrics["val_PSNR"].values.values_list())) == \
        list(zip([1, 2, 3], expected))
    assert {"train_loss", "learning_rate", "val_SSIM", "epoch_time"} <= set(metrics)
    assert any(name.startswith("__system__") for name in metrics)
    images = [(name, ctx.to_dict()) for name, ctx, _ in run.iter_sequence_info_by_type(("aim.image", "list(aim.image)"))]
    assert images == [("samples", {"image": "gray"})]


def test_aim_failing_to_start_does_not_stop_training(tiny_config, tmp_path, capsys):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    config = tiny_config(training={"num_epochs": 1, "aim_track": True, "aim_home": str(blocker)})
    err = train(capsys, config, tmp_path / "cfg.toml")
    assert err.count("Aim tracking is off for this run") == 1
    assert (tmp_path / "runs" / "tiny" / "saved_models" / "train_model_1.pt").is_file()


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tiny_config, tmp_path, capsys):
    single = tiny_config(experiment="single", training={"num_epochs": 2})
    train(capsys, single, tmp_path / "single.toml")
    ddp = tiny_config(experiment="ddp", training={"num_epochs": 2})
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "rumpycore.cli", "train", "--parameters", str(write_config(ddp, tmp_path / "ddp.toml"))],
        capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("finished epoch 2") == 1  # only rank 0 reports and writes
    one, two = summary(tmp_path / "runs" / "single"), summary(tmp_path / "runs" / "ddp")
    for a, b in zip(one, two, strict=True):
        for column in ("train-loss", "val-loss", "val-PSNR", "val-SSIM"):
            assert b[column] == pytest.approx(a[column], rel=1e-5, abs=1e-6), column


def long_epochs(config: dict) -> dict:
    """Many small batches per epoch, so that a signal lands in the middle of one."""
    config["training"]["num_epochs"] = 2
    config["data"]["batch_size"] = 2
    config["data"]["training_sets"]["train"]["repeat"] = 30
    return config


@pytest.fixture(scope="module")
def uninterrupted(sr_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    config = long_epochs(sr_config(sr_data, folder / "runs", experiment="reference"))
    result = rumpy_in_process("train", "--parameters", write_config(config, folder / "cfg.toml"))
    assert result.returncode == 0, result.stderr
    return folder / "runs" / "reference"


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_a_resumable_state(uninterrupted, tiny_config, tmp_path, signum, code):
    path = write_config(long_epochs(tiny_config(experiment="stopped")), tmp_path / "stopped.toml")
    process = subprocess.Popen([rumpy_executable(), "train", "--parameters", str(path)],
                               stderr=subprocess.PIPE, text=True)
    first = tmp_path / "runs" / "stopped" / "saved_models" / "train_model_1.pt"
    deadline = time.time() + 300
    while not first.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.01)
    time.sleep(0.2)  # past the end of epoch 1, well inside the 90 batches of epoch 2
    process.send_signal(signum)
    _, err = process.communicate(timeout=300)
    assert process.returncode == code, err
    assert f"stopped by {signal.Signals(signum).name}" in err and "--continue_from_epoch last" in err
    assert "Traceback" not in err
    assert [p.name for p in first.parent.glob("interrupted_after_*.pt")] == ["interrupted_after_1.pt"]

    result = rumpy_in_process("train", "--parameters", path, "--continue_from_epoch", "last")
    assert result.returncode == 0, result.stderr
    stopped = tmp_path / "runs" / "stopped"
    assert untimed(summary(uninterrupted)) == untimed(summary(stopped))
    assert_same_state(checkpoint(uninterrupted, 2), checkpoint(stopped, 2))
    assert not list(first.parent.glob("interrupted_after_*.pt"))


def test_resume_errors_are_one_line(tiny_config, tmp_path, capsys):
    config = tiny_config(training={"num_epochs": 2})
    path = tmp_path / "cfg.toml"
    train(capsys, config, path)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, path), "--continue_from_epoch", "7")
    assert_one_line_error(code, err, "no checkpoint for epoch 7", "saved epochs: 1, 2")
    code, _, err = invoke(capsys, "train", "--parameters", path, "--continue_from_epoch", "last")
    assert_one_line_error(code, err, "training.num_epochs: 2 is not beyond the resumed epoch 2")
    code, _, err = invoke(capsys, "train", "--parameters", path, "--continue_from_epoch", "last",
                          "--num_epochs", "3", "--set", "model.internal_params.num_features=16")
    assert_one_line_error(code, err, "train_model_2.pt: does not fit this model's parameters")


def test_progress_lines_report_loss_data_wait_and_speed(tiny_config, tmp_path, capsys):
    config = tiny_config(training={"num_epochs": 1, "logger_params": {"console": {"log_seconds": 0.0}}})
    err = train(capsys, config, tmp_path / "cfg.toml")
    progress = [line for line in err.splitlines() if line.startswith("epoch 1: batch")]
    assert len(progress) == 2  # one line per batch at log_seconds = 0
    assert all("loss " in line and "data wait " in line and ("it/s" in line or "s/it" in line)
               and "epoch left " in line and "run left " in line for line in progress)
    tally = [line for line in err.splitlines() if line.startswith("epoch 1/1 |")]
    assert len(tally) == 1 and "train-loss" in tally[0] and "val-PSNR" in tally[0]


def test_progress_bars_on_a_terminal(tmp_path):
    import io

    from rumpycore.loggers.base import LoggerContext, RunInfo
    from rumpycore.loggers.console import ConsoleLogger, ConsoleParams

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    ctx = LoggerContext("x", None, tmp_path, tmp_path, {}, "sisr", tmp_path, tmp_path)
    terminal = Terminal()
    original, sys.stderr = sys.stderr, terminal
    try:
        logger = ConsoleLogger(ConsoleParams(), ctx)
        logger.run_start(RunInfo(1, 2, [], None, 10, "cpu", "id", {}))
        logger.epoch_start(1, 3)
        logger.last_refresh = 0.0  # make the first batch refresh the bar
        logger.batch_end(1, 1, torch.tensor(0.25), 0.01)
        logger.epoch_end(1, {"epoch": 1, "train-loss": 0.25}, [])
        logger.run_end("finished")
    finally:
        sys.stderr = original
    text = terminal.getvalue()
    assert "epochs:" in text and "epoch 1:" in text
    assert "loss 0.2500, data wait" in text and ("it/s" in text or "s/it" in text)
    assert "epoch 1/2 | train-loss 0.25" in text
