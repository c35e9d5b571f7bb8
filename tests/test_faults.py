"""Faults a user can cause or meet, each one line with exit code 2 and the file tree left as it
was: numbers that are not finite or absurdly large, places that cannot be written, full disks,
bad data found late, damaged checkpoints, schedules that do not fit a resumed run, stops sent
to the whole process group, and the debris of killed commands.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import time
import types
import zlib
from pathlib import Path

import h5py
import pytest
import torch
from PIL import Image

import rumpycore
from rumpycore.loggers.base import Logger
from rumpycore.loggers.summary import read_summary
from rumpycore.plugins import host, reset_host
from rumpycore.scratch import process_start
from rumpycore.testing import rumpy_executable, run_rumpy, write_config

from .helpers import assert_one_line_error, assert_stopped_with_error, file_tree, invoke


def _set(config: dict, dotted: str, value) -> None:
    *path, key = dotted.split(".")
    for part in path:
        config = config.setdefault(part, {})
    config[key] = value


def _sibling(tmp_path: Path, tiny_config, capsys) -> None:
    """A finished experiment beside the one a case names, which no case may touch."""
    path = write_config(tiny_config(experiment="sibling", training={"num_epochs": 1}), tmp_path / "sibling.toml")
    code, _, err = invoke(capsys, "train", "--parameters", path)
    assert code == 0, err


def _assert_refused_untouched(tmp_path: Path, capsys, args: list, expected: str) -> None:
    before = file_tree(tmp_path)
    code, _, err = invoke(capsys, *args)
    assert_one_line_error(code, err, expected)
    assert file_tree(tmp_path) == before


# ---------------------------------------------------------------------------- numbers

BLUR_PIPELINE = {"pipeline": [["blur", "b"], ["downsample", "x4"]], "deg_configs": {"x4": {"scale": 4}}}

# name: (dotted settings, extra flags, expected text)
NUMBER_CASES = {
    "lr nan": ({"model.internal_params.lr": float("nan")}, [], "model.internal_params.lr: nan is not a finite number"),
    "lr inf": ({"model.internal_params.lr": float("inf")}, [], "model.internal_params.lr: inf is not a finite number"),
    "grad_clip nan": ({"model.internal_params.grad_clip": float("nan")}, [], "grad_clip: nan is not a finite"),
    "ema_decay nan": ({"training.ema_decay": float("nan")}, [], "training.ema_decay: nan is not a finite number"),
    "adam eps inf": ({"model.internal_params.optimizer_params": {"eps": float("inf")}}, [],
                     "optimizer_params.eps: inf is not a finite number"),
    "one-cycle peak nan": ({"model.internal_params.scheduler": "one_cycle_lr",
                            "model.internal_params.scheduler_params": {"lr_max": float("nan")}}, [],
                           "scheduler_params.lr_max: nan is not a finite number"),
    "console interval inf": ({"training.logger_params": {"console": {"log_seconds": float("inf")}}}, [],
                             "log_seconds: inf is not a finite number"),
    "seed of 2**64 from the flag": ({}, ["--seed", str(2**64)], "training.seed: 18446744073709551616 is above"),
    "seed of 2**63-1": ({"training.seed": 2**63 - 1}, [], "training.seed: 9223372036854775807 is above the maximum"),
    "repeat 2**63-1": ({"data.training_sets.train.repeat": 2**63 - 1}, [], "repeat: 9223372036854775807 is above"),
    "batch of a trillion": ({}, ["--set", "data.batch_size=1000000000000"], "data.batch_size: 1000000000000 is above"),
    "epochs of 2**40": ({}, ["--num_epochs", str(2**40)], "training.num_epochs: 1099511627776 is above the maximum"),
    "huge network": ({"model.internal_params.num_features": 10**6}, [], "num_features: 1000000 is above the maximum"),
    "crop of 2**40": ({"data.training_sets.train.crop": 2**40}, [], "crop: 1099511627776 is above the maximum"),
    "online blur sigma nan": ({"data.online_pipeline": {**BLUR_PIPELINE, "deg_configs": {
        "b": {"sigma": float("nan")}, "x4": {"scale": 4}}}}, [], "sigma: nan is not a finite number"),
    "online blur angle inf": ({"data.online_pipeline": {**BLUR_PIPELINE, "deg_configs": {
        "b": {"iso_probability": 0.0, "angle": [0.0, float("inf")]}, "x4": {"scale": 4}}}}, [],
        "angle[1]: inf is not a finite number"),
    "online noise sigma nan": ({"data.online_pipeline": {"pipeline": ["noise", "downsample"], "deg_configs": {
        "noise": {"sigma": [float("nan"), 3.0]}}}}, [], "sigma[0]: nan is not a finite number"),
}


@pytest.mark.parametrize("case", NUMBER_CASES, ids=list(NUMBER_CASES))
def test_numbers_must_be_finite_and_sane(case, tiny_config, tmp_path, capsys):
    settings, flags, expected = NUMBER_CASES[case]
    config = tiny_config()
    for dotted, value in settings.items():
        _set(config, dotted, value)
    if "data.online_pipeline" in settings:
        train = config["data"]["training_sets"]["train"]
        train.pop("lr")
        train["online_degradations"] = True
    path = write_config(config, tmp_path / "cfg.toml")
    _assert_refused_untouched(tmp_path, capsys, ["train", "--parameters", path, *flags], expected)


DEGRADE_CASES = {
    "blur sigma nan": ({"pipeline": [["blur", "b"]], "deg_configs": {"b": {"sigma": float("nan")}}}, [],
                       "deg_configs.b.sigma: nan is not a finite number"),
    "noise sigma inf": ({"pipeline": ["noise"], "deg_configs": {"noise": {"sigma": [1.0, float("inf")]}}}, [],
                        "sigma[1]: inf is not a finite number"),
    "seed of 2**64": ({"pipeline": ["downsample"]}, ["--seed", str(2**64)], "seed: 18446744073709551616 is above"),
    "a billion copies": ({"pipeline": ["downsample"]}, ["--multiples", "1000000000"], "multiples: 1000000000 is above"),
    "kernel of 10**6 pixels": ({"pipeline": [["blur", "b"]], "deg_configs": {"b": {"kernel_size": 1000001}}}, [],
                               "kernel_size: 1000001 is above the maximum"),
}


@pytest.mark.parametrize("case", DEGRADE_CASES, ids=list(DEGRADE_CASES))
def test_degrade_numbers_must_be_finite_and_sane(case, sr_data, tmp_path, capsys):
    pipeline, flags, expected = DEGRADE_CASES[case]
    config = write_config(pipeline, tmp_path / "pipeline.toml")
    args = ["degrade", "--source-dir", sr_data.eval_hr, "--output-dir", tmp_path / "out", "--pipeline-config", config,
            *flags]
    _assert_refused_untouched(tmp_path, capsys, args, expected)


# ---------------------------------------------------------------------------- places that cannot be written

def _eval_args(sr_data, *extra) -> list:
    return ["eval", "--lr_dir", sr_data.eval_lr, "--hr_dir", sr_data.eval_hr, *extra]


def test_unwritable_places_are_one_line(sr_data, tmp_path, capsys, tiny_config):
    _sibling(tmp_path, tiny_config, capsys)
    (tmp_path / "afile").write_text("in the way")
    nul_output = tmp_path / "nul.toml"
    nul_output.write_text(f'source_dir = "{sr_data.eval_hr}"\noutput_dir = "out\\u0000"\npipeline = "downsample"\n')
    cases = [
        (_eval_args(sr_data, "--out_loc", tmp_path / "afile"), "eval.out_loc: " + str(tmp_path / "afile") + " is a file"),
        (_eval_args(sr_data, "--out_loc", tmp_path / "afile" / "deeper"), "is a file, not a folder"),
        (_eval_args(sr_data, "--out_loc", "~no_such_user_rumpy/x"), "eval.out_loc: ~no_such_user_rumpy/x starts with"),
        (_eval_args(sr_data, "--out_loc", tmp_path, "--results_name", "../escape"), "eval.results_name: '../escape'"),
        (_eval_args(sr_data, "--out_loc", tmp_path, "--results_name", ".."), "eval.results_name: '..' must be a plain"),
        (_eval_args(sr_data, "--out_loc", tmp_path, "--results_name", "x\ty"), "control character"),
        (_eval_args(sr_data, "--out_loc", tmp_path / "runs", "--results_name", "sibling", "--overwrite"),
         "is not the results folder of an earlier rumpy eval"),
        (["degrade", "--source-dir", sr_data.eval_hr, "--output-dir", tmp_path / "afile" / "out", "--pipeline",
          "downsample"], "output_dir: " + str(tmp_path / "afile") + " is a file"),
        (["pack", "--hr", sr_data.eval_hr, "--out", tmp_path / "afile" / "x.h5"], "--out: " + str(tmp_path / "afile") + " is a file"),
        (["degrade", "--pipeline-config", nul_output], "output_dir: 'out\\x00' contains a NUL character"),
    ]
    for args, expected in cases:
        _assert_refused_untouched(tmp_path, capsys, args, expected)


def _bind_read_only(source: Path, target: Path) -> bool:
    """Mount ``source`` read-only at ``target`` (root ignores permissions, not a read-only mount)."""
    target.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(source), str(target)], capture_output=True)
    if mounted.returncode == 0 and not os.access(target, os.W_OK):
        return True
    if mounted.returncode == 0:
        subprocess.run(["umount", str(target)], capture_output=True)
    return False


def _can_mount_read_only() -> bool:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        mounted = _bind_read_only(Path(scratch), Path(scratch) / "view")
        if mounted:
            subprocess.run(["umount", str(Path(scratch) / "view")], capture_output=True)
        return mounted


@pytest.mark.skipif(not shutil.which("mount") or not _can_mount_read_only(),
                    reason="needs permission to mount a folder read-only")
def test_read_only_places_are_one_line(sr_data, tiny_config, tmp_path, capsys, monkeypatch):
    (tmp_path / "source").mkdir()
    readonly = tmp_path / "readonly"
    assert _bind_read_only(tmp_path / "source", readonly)
    try:
        monkeypatch.chdir(readonly)
        config = tiny_config()
        config["experiment_save_loc"] = str(readonly / "runs")
        path = write_config(config, tmp_path / "cfg.toml")
        cases = [
            (["train", "--parameters", path], "experiment_save_loc: " + str(readonly) + " is not writable"),
            (["eval", "--lr_dir", sr_data.eval_lr, "--hr_dir", sr_data.eval_hr], "eval.out_loc: " + str(readonly)),
            (["degrade", "--source-dir", sr_data.eval_hr, "--output-dir", "out", "--pipeline", "downsample"],
             "output_dir: " + str(readonly) + " is not writable"),
            (["pack", "--hr", sr_data.eval_hr, "--out", "train.h5"], "--out: " + str(readonly) + " is not writable"),
        ]
        for args, expected in cases:
            _assert_refused_untouched(tmp_path, capsys, args, expected)
    finally:
        monkeypatch.undo()
        subprocess.run(["umount", str(readonly)], capture_output=True)


# ---------------------------------------------------------------------------- full disks

def _file_size_limit(limit: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_pack_on_a_full_disk_is_one_line_and_leaves_nothing(sr_data, tmp_path):
    (tmp_path / "packs").mkdir()
    before = file_tree(tmp_path)
    result = subprocess.run([rumpy_executable(), "pack", "--lr", str(sr_data.train_lr), "--hr", str(sr_data.train_hr),
                             "--out", str(tmp_path / "packs" / "train.h5")], capture_output=True, text=True,
                            preexec_fn=_file_size_limit(20_000))
    assert_one_line_error(result.returncode, result.stderr, "train.h5: could not be written")
    assert file_tree(tmp_path) == before


def test_a_run_that_cannot_write_its_config_leaves_nothing_and_can_be_retried(tiny_config, tmp_path):
    path = write_config(tiny_config(), tmp_path / "cfg.toml")
    before = file_tree(tmp_path)
    result = subprocess.run([rumpy_executable(), "train", "--parameters", str(path)], capture_output=True, text=True,
                            preexec_fn=_file_size_limit(300))
    assert_one_line_error(result.returncode, result.stderr, "config.toml: could not be written (File too large)")
    assert file_tree(tmp_path) == before
    retry = run_rumpy("train", "--parameters", path)
    assert retry.returncode == 0, retry.stderr


# ---------------------------------------------------------------------------- bad data found late

def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def _copy_train(sr_data, tmp_path: Path) -> tuple[Path, Path]:
    lr, hr = tmp_path / "lr", tmp_path / "hr"
    shutil.copytree(sr_data.train_lr, lr)
    shutil.copytree(sr_data.train_hr, hr)
    return lr, hr


def _use_train(config: dict, lr: Path, hr: Path) -> None:
    config["data"]["training_sets"]["train"].update(lr=str(lr), hr=str(hr))


def bomb(config, sr_data, tmp):
    lr, hr = _copy_train(sr_data, tmp)
    (lr / "bomb.png").write_bytes(_png_claiming(13600, 13600))
    (hr / "bomb.png").write_bytes(_png_claiming(13600 * 4, 13600 * 4))
    _use_train(config, lr, hr)
    return "bomb.png: Image size (184960000 pixels) exceeds limit"


def binary_shortlist(config, sr_data, tmp):
    (tmp / "list.txt").write_bytes(b"\x89PNG\x00\xff\xfe binary")
    config["data"]["training_sets"]["train"]["image_shortlist"] = str(tmp / "list.txt")
    return "image_shortlist: " + str(tmp / "list.txt") + " is not"


def _pack(sr_data, tmp: Path) -> Path:
    out = tmp / "train.h5"
    result = run_rumpy("pack", "--lr", sr_data.train_lr, "--hr", sr_data.train_hr, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def pack_without_names(config, sr_data, tmp):
    out = _pack(sr_data, tmp)
    with h5py.File(out, "a") as handle:
        del handle["hr"]["names"]
    _use_train(config, out, out)
    return "train.h5:hr lacks 'names'"


def pack_with_lying_sizes(config, sr_data, tmp):
    out = _pack(sr_data, tmp)
    with h5py.File(out, "a") as handle:
        sizes = handle["lr"]["sizes"][()]
        sizes[2] = sizes[2] * 2
        handle["lr"]["sizes"][...] = sizes
    _use_train(config, out, out)
    return "image 2"


def pack_with_a_missing_image(config, sr_data, tmp):
    out = _pack(sr_data, tmp)
    with h5py.File(out, "a") as handle:
        del handle["hr"]["images"]["3"]
    _use_train(config, out, out)
    return "train.h5:hr holds 6 names"


LATE_DATA_CASES = {f.__name__: f for f in (bomb, binary_shortlist, pack_without_names, pack_with_lying_sizes,
                                           pack_with_a_missing_image)}


@pytest.mark.parametrize("case", sorted(LATE_DATA_CASES))
def test_bad_data_is_found_before_anything_is_written(case, tiny_config, sr_data, tmp_path, capsys):
    config = tiny_config()
    expected = LATE_DATA_CASES[case](config, sr_data, tmp_path)
    path = write_config(config, tmp_path / "cfg.toml")
    _assert_refused_untouched(tmp_path, capsys, ["train", "--parameters", path], expected)


def test_an_image_corrupted_in_the_middle_stops_the_first_epoch_and_leaves_nothing(tiny_config, sr_data, tmp_path,
                                                                                   capsys):
    lr, hr = _copy_train(sr_data, tmp_path)
    victim = sorted(hr.iterdir())[2]
    good = victim.read_bytes()
    damaged = bytearray(good)
    middle = len(damaged) // 2
    damaged[middle : middle + 64] = bytes(64)  # IDAT garbage; the IEND chunk at the end is intact
    victim.write_bytes(bytes(damaged))
    config = tiny_config()
    _use_train(config, lr, hr)
    path = write_config(config, tmp_path / "cfg.toml")
    before = file_tree(tmp_path)
    code, _, err = invoke(capsys, "train", "--parameters", path)
    assert_stopped_with_error(code, err, str(victim))
    assert file_tree(tmp_path) == before  # a failed start leaves nothing ...
    victim.write_bytes(good)
    code, _, err = invoke(capsys, "train", "--parameters", path)
    assert code == 0, err  # ... so the same command runs once the file is fixed


def test_an_image_replaced_during_training_stops_with_one_line_and_the_run_resumes(tiny_config, sr_data, tmp_path,
                                                                                  capsys):
    lr, hr = _copy_train(sr_data, tmp_path)
    victim = sorted(hr.iterdir())[0]
    good = victim.read_bytes()

    class Replacer(Logger):
        def epoch_end(self, epoch, row, history):
            if epoch == 1:  # another program overwrites the photo with a smaller one
                Image.open(victim).resize((40, 40)).save(victim)

    @rumpycore.hookimpl
    def register_loggers(register):
        register(rumpycore.LoggerSpec("replacer", lambda params, ctx: Replacer()))

    host().register_plugin(types.SimpleNamespace(register_loggers=register_loggers, __name__="replacer"), "test-plugin")
    try:
        config = tiny_config(training={"num_epochs": 3, "loggers": ["replacer"]})
        _use_train(config, lr, hr)
        config["data"]["training_sets"]["train"]["cache"] = False  # read from disk at every step
        path = write_config(config, tmp_path / "cfg.toml")
        code, _, err = invoke(capsys, "train", "--parameters", path)
        assert_stopped_with_error(code, err, f"{victim}: the image changed after rumpy checked it")
        victim.write_bytes(good)
        code, _, err = invoke(capsys, "train", "--parameters", path, "--continue_from_epoch", "last")
    finally:
        reset_host()
    assert code == 0, err
    assert [row["epoch"] for row in read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")] == [
        1, 2, 3]


# ---------------------------------------------------------------------------- damaged checkpoints

class _Payload:
    pass


def _rewrite(path: Path, change) -> None:
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)


CHECKPOINT_CASES = {
    "format version as text": (lambda p: _rewrite(p, lambda s: s.update(format_version="1")),
                               "damaged checkpoint (format_version is '1', not a number)"),
    "no optimizer": (lambda p: _rewrite(p, lambda s: s.pop("optimizers")), "damaged checkpoint (lacks 'optimizers')"),
    "history not a list": (lambda p: _rewrite(p, lambda s: s.update(history="rows")),
                           "damaged checkpoint (has a damaged 'history')"),
    "epoch as text": (lambda p: _rewrite(p, lambda s: s.update(epoch="1")), "has a damaged 'epoch'"),
    "legacy pickle": (lambda p: torch.save({"format": "rumpy-checkpoint", "x": _Payload()}, p,
                                           _use_new_zipfile_serialization=False), "refused to load"),
    "optimizer of another network": (lambda p: _rewrite(p, lambda s: s["optimizers"]["model"]["param_groups"][0].update(
        params=[0])), "the optimizer or scheduler state does not fit this run"),
}


@pytest.mark.parametrize("case", sorted(CHECKPOINT_CASES))
def test_damaged_checkpoints_are_one_line(case, tiny_config, tmp_path, capsys):
    path = write_config(tiny_config(training={"num_epochs": 2}), tmp_path / "cfg.toml")
    code, _, err = invoke(capsys, "train", "--parameters", path, "--num_epochs", "1")
    assert code == 0, err
    damage, expected = CHECKPOINT_CASES[case]
    damage(tmp_path / "runs" / "tiny" / "saved_models" / "train_model_1.pt")
    _assert_refused_untouched(tmp_path, capsys, ["train", "--parameters", path, "--continue_from_epoch", "1"], expected)


# ---------------------------------------------------------------------------- names and schedules

def test_unknown_compile_backend_is_one_line_before_anything_exists(tiny_config, tmp_path, capsys):
    config = tiny_config(training={"compile": True, "compile_backend": "inductr"})
    path = write_config(config, tmp_path / "cfg.toml")
    _assert_refused_untouched(tmp_path, capsys, ["train", "--parameters", path],
                              "training.compile_backend: unknown torch.compile backend 'inductr'; did you mean inductor?")


def test_a_one_cycle_shorter_than_the_run_is_refused_before_anything_is_written(tiny_config, tmp_path, capsys):
    config = tiny_config(internal_params={"scheduler": "one_cycle_lr",
                                          "scheduler_params": {"lr_max": 1e-3, "total_steps": 3}})
    path = write_config(config, tmp_path / "cfg.toml")
    _assert_refused_untouched(tmp_path, capsys, ["train", "--parameters", path],
                              "scheduler_params.total_steps: 3 is fewer than the 4 batches of the run")


def test_a_one_cycle_run_resumed_with_more_epochs_spans_the_new_length(tiny_config, tmp_path, capsys):
    config = tiny_config(training={"num_epochs": 2}, internal_params={
        "scheduler": "one_cycle_lr", "scheduler_params": {"lr_max": 1e-3, "cycle_momentum": False}})
    path = write_config(config, tmp_path / "cfg.toml")
    code, _, err = invoke(capsys, "train", "--parameters", path)
    assert code == 0, err
    code, _, err = invoke(capsys, "train", "--parameters", path, "--continue_from_epoch", "last", "--num_epochs", "4")
    assert code == 0, err
    resumed = torch.load(tmp_path / "runs" / "tiny" / "saved_models" / "train_model_4.pt", weights_only=True)
    assert resumed["schedulers"]["model"]["total_steps"] == 8 and resumed["schedulers"]["model"]["last_epoch"] == 8
    config["experiment"] = "fresh"
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "fresh.toml"),
                          "--num_epochs", "4")
    assert code == 0, err
    fresh = torch.load(tmp_path / "runs" / "fresh" / "saved_models" / "train_model_4.pt", weights_only=True)
    # the stretched cycle ends where a 4-epoch run's cycle ends
    assert resumed["optimizers"]["model"]["param_groups"][0]["lr"] == fresh["optimizers"]["model"]["param_groups"][0]["lr"]


# ---------------------------------------------------------------------------- stops sent to a process group

def _long_config(tiny_config, tmp_path: Path) -> Path:
    config = tiny_config(training={"num_epochs": 30})
    config["data"].update(batch_size=2, dataloader_threads=2)
    config["data"]["training_sets"]["train"]["repeat"] = 30
    return write_config(config, tmp_path / "cfg.toml")


def _start_in_own_group(path: Path) -> subprocess.Popen:
    return subprocess.Popen([rumpy_executable(), "train", "--parameters", str(path)], stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _wait_for_training(folder: Path, process: subprocess.Popen) -> None:
    deadline = time.time() + 300
    while not (folder / "config.toml").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(1.0)  # into the first epoch, loader workers running


@pytest.mark.slow
@pytest.mark.parametrize("signum,code,name", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")])
def test_a_stop_sent_to_the_process_group_saves_a_resumable_state(signum, code, name, tiny_config, tmp_path):
    path = _long_config(tiny_config, tmp_path)
    process = _start_in_own_group(path)
    _wait_for_training(tmp_path / "runs" / "tiny", process)
    os.killpg(process.pid, signum)  # what a terminal, timeout or Slurm does: every process of the group
    _, err = process.communicate(timeout=300)
    assert process.returncode == code, err
    assert "Traceback" not in err and "RuntimeError" not in err and "aborted" not in err
    assert err.count(f"{name} received") == 1, err  # one message, not one per loader worker
    assert "state saved in" in err and "--continue_from_epoch last" in err.splitlines()[-1]
    resumed = run_rumpy("train", "--parameters", path, "--continue_from_epoch", "last", "--num_epochs", "2")
    assert resumed.returncode == 0, resumed.stderr


@pytest.mark.slow
def test_sigusr1_saves_a_resumable_state_and_training_goes_on(tiny_config, tmp_path):
    config = tiny_config(training={"num_epochs": 3})
    config["data"].update(batch_size=2, dataloader_threads=2)
    config["data"]["training_sets"]["train"]["repeat"] = 30
    path = write_config(config, tmp_path / "cfg.toml")
    process = _start_in_own_group(path)
    _wait_for_training(tmp_path / "runs" / "tiny", process)
    os.kill(process.pid, signal.SIGUSR1)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert "SIGUSR1: state saved in" in err and "training goes on" in err
    rows = read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    models = tmp_path / "runs" / "tiny" / "saved_models"
    assert not any(p.name.startswith("interrupted_after_") for p in models.iterdir())  # superseded by the epoch's


# ---------------------------------------------------------------------------- debris of killed commands

def _debris_name(target: Path, pid: int, start: str) -> Path:
    return target.parent / f".{target.name}.{pid}-{start}.partial"


def _dead_pid() -> int:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(finished.stdout)


@pytest.fixture
def live_process():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield process
    process.kill()
    process.wait()


def test_later_runs_remove_the_debris_of_killed_ones_and_keep_live_work(sr_data, tmp_path, live_process):
    out = tmp_path / "results"
    out.mkdir()
    dead, live = _dead_pid(), live_process.pid
    debris = [_debris_name(out / "eval", dead, "1"), _debris_name(out / "lr_x4", dead, "0"),
              _debris_name(out / "pack.h5", dead, "7")]
    kept = [_debris_name(out / "other", live, process_start(live)), out / ".user-file.partial", out / "notes.txt"]
    for path in debris[:2] + kept[:2]:
        path.mkdir()
        (path / "half.png").write_bytes(b"x")
    debris[2].write_bytes(b"half a pack")
    kept[2].write_text("mine")
    commands = [
        ["eval", "--lr_dir", sr_data.eval_lr, "--hr_dir", sr_data.eval_hr, "--out_loc", out],
        ["degrade", "--source-dir", sr_data.eval_hr, "--output-dir", out / "lr_x4", "--pipeline", "downsample"],
        ["pack", "--hr", sr_data.eval_hr, "--out", out / "pack.h5"],
    ]
    for command, leftover in zip(commands, debris):
        result = run_rumpy(*command)
        assert result.returncode == 0, result.stderr
        assert not leftover.exists()
    assert all(path.exists() for path in kept)
    assert not any(p.name.endswith((".partial", ".old")) and p not in kept for p in out.iterdir())


def test_the_corpus_of_this_issue_has_at_least_forty_new_cases():
    from . import test_path_safety

    total = (len(test_path_safety.CASES) + len(NUMBER_CASES) + len(DEGRADE_CASES) + 10 + 2 + len(LATE_DATA_CASES) + 2
             + len(CHECKPOINT_CASES) + 3 + 2)
    assert total >= 40
