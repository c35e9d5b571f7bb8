"""Training never loses work: locks, full disks, unsafe checkpoints, non-finite losses, kills."""

from __future__ import annotations

import errno
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import pytest
import toml
import torch
from PIL import Image

import rumpycore
from rumpycore.loggers.summary import read_summary
from rumpycore.plugins import host, reset_host
from rumpycore.testing import rumpy_executable, rumpy_in_process, sr_config, write_config
from rumpycore.store import checkpoints as ckpt

from .helpers import assert_one_line_error, assert_same_state, assert_stopped_with_error, invoke


def train(capsys, config, path, *extra):
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, path), *extra)
    assert code == 0, err
    return err


def long_run(config: dict, epochs: int = 2) -> dict:
    config["training"]["num_epochs"] = epochs
    config["data"]["batch_size"] = 2
    config["data"]["training_sets"]["train"]["repeat"] = 30
    return config


def test_a_second_run_on_the_same_folder_is_refused(tiny_config, tmp_path):
    path = write_config(long_run(tiny_config()), tmp_path / "cfg.toml")
    first = subprocess.Popen([rumpy_executable(), "train", "--parameters", str(path)], stderr=subprocess.PIPE, text=True)
    folder = tmp_path / "runs" / "tiny"
    deadline = time.time() + 300
    while not (folder / "config.toml").exists() and time.time() < deadline:
        time.sleep(0.02)
    # paused while holding its lock, the first run cannot finish before the second one starts
    os.kill(first.pid, signal.SIGSTOP)
    try:
        second = rumpy_in_process("train", "--parameters", path, "--overwrite_data")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{folder} is in use by another rumpy run (pid {first.pid}" in lines[0]
    assert [r["epoch"] for r in read_summary(folder / "result_outputs" / "summary.csv")] == [1, 2]
    assert not (folder / ".rumpy.lock").exists()  # released at the end


def test_a_stale_lock_is_taken_over(tiny_config, tmp_path, capsys):
    path = tmp_path / "cfg.toml"
    train(capsys, tiny_config(training={"num_epochs": 2}), path, "--num_epochs", "1")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock = tmp_path / "runs" / "tiny" / ".rumpy.lock"  # what a run killed while it held the folder leaves
    lock.write_text(json.dumps({"pid": int(dead.stdout), "host": "here", "started": "yesterday"}))
    err = train(capsys, tiny_config(training={"num_epochs": 2}), path, "--continue_from_epoch", "last")
    assert f"took over the stale lock of a run that ended without releasing it (pid {int(dead.stdout)}" in err
    assert not lock.exists()


def limit_file_size(limit: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_full_disk_during_a_save_keeps_the_previous_checkpoint(tiny_config, tmp_path, capsys):
    config = tiny_config(training={"num_epochs": 2})
    path = tmp_path / "cfg.toml"
    train(capsys, config, path, "--num_epochs", "1")
    models = tmp_path / "runs" / "tiny" / "saved_models"
    summary = tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv"
    before = (models / "train_model_1.pt").read_bytes(), summary.read_bytes()
    limit = (models / "train_model_1.pt").stat().st_size // 2  # config and summary fit, a checkpoint does not
    result = subprocess.run([rumpy_executable(), "train", "--parameters", str(path), "--continue_from_epoch", "last"],
                            capture_output=True, text=True, preexec_fn=limit_file_size(limit))
    assert_stopped_with_error(result.returncode, result.stderr, "train_model_2.pt: could not be written (File too large)",
                              "the previous version is unchanged")
    assert ((models / "train_model_1.pt").read_bytes(), summary.read_bytes()) == before
    assert sorted(p.name for p in models.iterdir()) == ["best.pt", "train_model_1.pt"]  # no temporary left


def test_an_unwritable_folder_during_a_save_keeps_the_previous_checkpoint(tiny_config, tmp_path, capsys, monkeypatch):
    path = tmp_path / "cfg.toml"
    train(capsys, tiny_config(training={"num_epochs": 2}), path, "--num_epochs", "1")
    models = tmp_path / "runs" / "tiny" / "saved_models"
    before = (models / "train_model_1.pt").read_bytes()
    real_mkstemp = tempfile.mkstemp

    def denied(*args, prefix="", **kwargs):
        # what creating a file in a folder that became read-only raises (root ignores chmod)
        if prefix.startswith(".train_model_2.pt"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_mkstemp(*args, prefix=prefix, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    code, _, err = invoke(capsys, "train", "--parameters", path, "--continue_from_epoch", "last")
    assert_stopped_with_error(code, err, "train_model_2.pt: could not be written (Permission denied)",
                              "fix permissions; the previous version is unchanged")
    assert (models / "train_model_1.pt").read_bytes() == before
    assert sorted(p.name for p in models.iterdir()) == ["best.pt", "train_model_1.pt"]


def test_a_resumed_run_removes_what_a_killed_write_left(tiny_config, tmp_path, capsys):
    path = tmp_path / "cfg.toml"
    config = tiny_config(training={"save_samples": True, "num_samples": 1})
    train(capsys, config, path, "--num_epochs", "1")
    folder = tmp_path / "runs" / "tiny"
    leftovers = [folder / "saved_models" / ".train_model_2.pt.k2j4.tmp",
                 folder / "result_outputs" / ".summary.csv.x81a.tmp",
                 folder / "result_outputs" / "epoch_1_samples" / ".gray_comparison.png.gk73.tmp"]
    for leftover in leftovers:
        leftover.write_bytes(b"half a write")
    train(capsys, config, path, "--continue_from_epoch", "last")
    assert not [leftover for leftover in leftovers if leftover.exists()]


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = Path("/tmp/rumpy_pickle_ran_code")


def test_a_checkpoint_that_would_run_code_is_refused(tiny_config, tmp_path, capsys):
    MARKER.unlink(missing_ok=True)
    config = tiny_config(training={"num_epochs": 2})
    path = tmp_path / "cfg.toml"
    train(capsys, config, path, "--num_epochs", "1")
    planted = tmp_path / "runs" / "tiny" / "saved_models" / "train_model_1.pt"
    torch.save({"format": "rumpy-checkpoint", "payload": Exploit()}, planted)
    code, _, err = invoke(capsys, "train", "--parameters", path, "--continue_from_epoch", "last")
    assert_one_line_error(code, err, "train_model_1.pt: refused to load", "may run code")
    assert not MARKER.exists()


def test_a_checkpoint_of_another_model_is_refused(tiny_config, tmp_path, capsys, in_process_model):
    in_process_model(explode_at=None)
    config = tiny_config(training={"num_epochs": 2})
    path = tmp_path / "cfg.toml"
    train(capsys, config, path, "--num_epochs", "1")
    code, _, err = invoke(capsys, "train", "--parameters", path, "--continue_from_epoch", "last",
                          "--set", "model.name='Exploder'", "--set", "model.internal_params={scale=4}")
    assert_one_line_error(code, err, "checkpoint holds model EDSR, but the config names Exploder")


class ExploderNet(torch.nn.Module):
    """A small SR net whose output turns NaN on one chosen forward call in training."""

    def __init__(self, scale: int, explode_at: int | None) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3 * scale * scale, 3, padding=1)
        self.shuffle = torch.nn.PixelShuffle(scale)
        self.explode_at = explode_at
        self.calls = 0

    def forward(self, x):
        out = self.shuffle(self.conv(x))
        if self.training:
            self.calls += 1
            if self.calls == self.explode_at:
                out = out * float("nan")
        return out


@pytest.fixture
def in_process_model():
    def register(explode_at):
        @rumpycore.hookimpl
        def register_models(register):
            register(rumpycore.ModelSpec("Exploder", lambda p, ctx: ExploderNet(ctx.scale, explode_at)))

        host().register_plugin(types.SimpleNamespace(register_models=register_models, __name__="exploder"), "exploder")

    yield register
    reset_host()


def test_a_non_finite_loss_stops_within_one_step(tiny_config, tmp_path, capsys, in_process_model):
    in_process_model(explode_at=3)  # 2 batches per epoch: the first batch of epoch 2
    config = tiny_config(training={"num_epochs": 3})
    config["model"] = {"name": "Exploder", "internal_params": {"scale": 4}}
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_stopped_with_error(code, err, "the loss became non-finite in epoch 2 at step 3",
                              "saved_models/train_model_1.pt")
    models = tmp_path / "runs" / "tiny" / "saved_models"
    assert sorted(p.name for p in models.glob("train_model_*")) == ["train_model_1.pt"]
    assert torch.isfinite(ckpt.load(models / "train_model_1.pt")["networks"]["model"]["weights"]["conv.weight"]).all()


def test_skip_nonfinite_skips_the_batch(tiny_config, tmp_path, capsys, in_process_model):
    in_process_model(explode_at=3)
    config = tiny_config(training={"num_epochs": 2, "skip_nonfinite": True})
    config["model"] = {"name": "Exploder", "internal_params": {"scale": 4}}
    train(capsys, config, tmp_path / "cfg.toml")
    rows = read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")
    assert rows[1]["skipped-batches"] == 1 and "skipped-batches" not in rows[0]
    state = ckpt.load(tmp_path / "runs" / "tiny" / "saved_models" / "train_model_2.pt")
    assert state["step"] == 3 and torch.isfinite(state["networks"]["model"]["weights"]["conv.weight"]).all()


def readable(folder: Path) -> None:
    """Every file a killed run left must be complete: checkpoints, summary, samples and configs."""
    for path in (folder / "saved_models").glob("train_model_*.pt"):
        ckpt.load(path)
    summary = folder / "result_outputs" / "summary.csv"
    if summary.exists():
        read_summary(summary)
    for path in (folder / "result_outputs").glob("epoch_*_samples/*.png"):
        with Image.open(path) as image:
            image.load()
    for path in folder.glob("config*.toml"):
        toml.load(path)


def newest_epoch(folder: Path) -> int:
    return max((int(p.stem.rsplit("_", 1)[1]) for p in (folder / "saved_models").glob("train_model_*.pt")), default=0)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(sr_data, tmp_path):
    """Up to 20 kills: during start-up, at random moments after an epoch, and during checkpoint
    writes.

    No kill lets a run progress by more than about two epochs, so on any machine at least
    ten kills, among them three during writes, happen before the 20 epochs are done.
    """
    epochs = 20

    def config(name):
        c = sr_config(sr_data, tmp_path / "runs", experiment=name,
                      training={"num_epochs": epochs, "save_samples": True, "num_samples": 2})
        c["data"]["training_sets"]["train"]["repeat"] = 5
        c["data"]["batch_size"] = 2
        return c

    reference = write_config(config("reference"), tmp_path / "reference.toml")
    result = rumpy_in_process("train", "--parameters", reference)
    assert result.returncode == 0, result.stderr
    path = write_config(config("killed"), tmp_path / "killed.toml")
    folder = tmp_path / "runs" / "killed"
    rng = random.Random(1234)
    during_writes = kills = 0

    def wait(seconds, start_epoch, process, advance):
        """Sleep, but wake once the run has written ``advance`` more checkpoints or ended."""
        end = time.time() + seconds
        while time.time() < end and process.poll() is None and newest_epoch(folder) < start_epoch + advance:
            time.sleep(0.002)

    for kill in range(20):
        start_epoch = newest_epoch(folder)
        args = ["--continue_from_epoch", "last"] if start_epoch else ["--overwrite_data"]
        process = subprocess.Popen([rumpy_executable(), "train", "--parameters", str(path), *args],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        kind = kill % 3
        if kind == 0:
            wait(rng.uniform(0.2, 1.5), start_epoch, process, advance=1)
        elif kind == 1:
            wait(300, start_epoch, process, advance=1)
            wait(rng.uniform(0.0, 0.3), start_epoch, process, advance=2)
        else:
            deadline = time.time() + 300
            while process.poll() is None and time.time() < deadline:
                if list((folder / "saved_models").glob(".train_model_*.tmp")):
                    during_writes += 1
                    break
                time.sleep(0.0005)
        if process.poll() is not None:  # a fast machine finished the run between two kills
            assert process.returncode == 0 and newest_epoch(folder) == epochs, process.communicate()[1]
            break
        process.kill()
        process.wait()
        kills += 1
        readable(folder)
    print(f"kills survived: {kills}, {during_writes} of them during checkpoint writes")
    assert kills >= 10 and during_writes >= 3
    if newest_epoch(folder) < epochs:
        final = rumpy_in_process("train", "--parameters", path, "--continue_from_epoch", "last")
        assert final.returncode == 0, final.stderr
    readable(folder)
    assert not list(folder.rglob(".*.tmp"))
    reference, killed = (ckpt.load(tmp_path / "runs" / name / "saved_models" / f"train_model_{epochs}.pt")
                         for name in ("reference", "killed"))
    assert_same_state(reference, killed)
    untimed = [[{k: v for k, v in r.items() if not k.endswith("-time")}
                for r in read_summary(tmp_path / "runs" / name / "result_outputs" / "summary.csv")]
               for name in ("reference", "killed")]
    assert untimed[0] == untimed[1]
