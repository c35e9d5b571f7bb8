"""The bad-input corpus beyond config keys (those are in test_config_errors.py, metadata CSVs in
test_data_metadata.py): folders, images, checkpoints, command-line flags and plugins.

Every case ends with exit code 2, one line on stderr naming the thing and what to do, no
traceback, and the experiment folder neither created nor modified.
"""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rumpycore.testing import run_rumpy, write_config

from . import test_config_errors, test_data_metadata
from .helpers import assert_one_line_error, invoke


def snapshot(folder: Path) -> dict[str, str] | None:
    """Content hash of every file under ``folder`` (None if it does not exist)."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def copy_set(sr_data, tmp_path: Path, split: str = "train") -> tuple[Path, Path]:
    lr, hr = tmp_path / f"{split}_lr", tmp_path / f"{split}_hr"
    shutil.copytree(sr_data.train_lr if split == "train" else sr_data.eval_lr, lr)
    shutil.copytree(sr_data.train_hr if split == "train" else sr_data.eval_hr, hr)
    return lr, hr


def use(config: dict, lr: Path, hr: Path, split: str = "train") -> None:
    table = config["data"]["training_sets"]["train"] if split == "train" else config["data"]["eval_sets"]["eval"]
    table["lr"], table["hr"] = str(lr), str(hr)


def first(folder: Path) -> Path:
    return sorted(folder.iterdir())[0]


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# ------------------------------------------------------------------ data cases: (prepare, expected)


def missing_lr_folder(config, sr_data, tmp):
    config["data"]["training_sets"]["train"]["lr"] = str(tmp / "nowhere")
    return [f"{tmp / 'nowhere'} does not exist"]


def hr_folder_is_a_file(config, sr_data, tmp):
    (tmp / "file.png").write_bytes(b"x")
    config["data"]["eval_sets"]["eval"]["hr"] = str(tmp / "file.png")
    return ["is not a folder"]


def empty_lr_folder(config, sr_data, tmp):
    (tmp / "empty").mkdir()
    config["data"]["training_sets"]["train"]["lr"] = str(tmp / "empty")
    return ["no images", "empty"]


def truncated_png(config, sr_data, tmp):
    lr, hr = copy_set(sr_data, tmp)
    truncate(first(lr))
    use(config, lr, hr)
    return [first(lr).name, "truncated"]


def truncated_jpeg(config, sr_data, tmp):
    lr, hr = copy_set(sr_data, tmp)
    name = first(lr)
    jpeg = io.BytesIO()
    Image.open(name).save(jpeg, format="JPEG")
    name.unlink()
    target = lr / (name.stem + ".jpg")
    target.write_bytes(jpeg.getvalue()[:-200])
    use(config, lr, hr)
    return [target.name, "truncated"]


def zero_byte_hr(config, sr_data, tmp):
    lr, hr = copy_set(sr_data, tmp, "eval")
    first(hr).write_bytes(b"")
    use(config, lr, hr, "eval")
    return [str(first(hr)), "empty file"]


def not_an_image(config, sr_data, tmp):
    lr, hr = copy_set(sr_data, tmp)
    first(hr).write_text("this is not a PNG")
    use(config, lr, hr)
    return [first(hr).name, "not a readable image"]


def float_pixels(config, sr_data, tmp):
    lr, hr = copy_set(sr_data, tmp)
    path = first(lr)
    size = Image.open(path).size
    path.unlink()
    Image.fromarray(np.random.rand(size[1], size[0]).astype("float32"), mode="F").save(lr / (path.stem + ".tif"))
    use(config, lr, hr)
    return [path.stem + ".tif", "pixel mode F"]


def mismatched_sizes(config, sr_data, tmp):
    lr, hr = copy_set(sr_data, tmp)
    image = Image.open(first(hr))
    image.crop((0, 0, image.width - 8, image.height)).save(first(hr))
    use(config, lr, hr)
    return [first(lr).name, "which is not x4"]


def wrong_scale(config, sr_data, tmp):
    config["model"]["internal_params"]["scale"] = 3
    return ["which is not x3"]


def lr_without_hr(config, sr_data, tmp):
    lr, hr = copy_set(sr_data, tmp)
    first(hr).unlink()
    use(config, lr, hr)
    return [first(lr).name, "no HR image with the same name"]


def crop_too_large(config, sr_data, tmp):
    config["data"]["training_sets"]["train"]["crop"] = 30
    return ["smaller than data.training_sets.train.crop = 30"]


def eval_image_too_small(config, sr_data, tmp):
    lr, hr = copy_set(sr_data, tmp, "eval")
    for folder, size in ((lr, 4), (hr, 16)):
        for path in folder.iterdir():
            Image.open(path).crop((0, 0, size, size)).save(path)
    use(config, lr, hr, "eval")
    return ["16x16 pixels leave less than 11 after removing a border of 4"]


DATA_CASES = {f.__name__: f for f in (
    missing_lr_folder, hr_folder_is_a_file, empty_lr_folder, truncated_png, truncated_jpeg, zero_byte_hr,
    not_an_image, float_pixels, mismatched_sizes, wrong_scale, lr_without_hr, crop_too_large,
    eval_image_too_small)}


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_bad_data(case, tiny_config, sr_data, tmp_path, capsys):
    config = tiny_config()
    expected = DATA_CASES[case](config, sr_data, tmp_path)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, *expected)
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------ checkpoints of an existing run


class Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


CHECKPOINT_CASES = {
    "truncated": (truncate, "checkpoint is corrupt or truncated"),
    "zero bytes": (lambda p: p.write_bytes(b""), "checkpoint is corrupt or truncated"),
    "not a checkpoint": (lambda p: p.write_text("hello"), "checkpoint is corrupt or truncated"),
    "foreign dict": (lambda p: torch.save({"weights": torch.zeros(2)}, p), "not a rumpy checkpoint"),
    "newer format": (lambda p: torch.save({"format": "rumpy-checkpoint", "format_version": 99}, p),
                     "written by a newer rumpy"),
    "runs code": (lambda p: torch.save({"format": "rumpy-checkpoint", "x": Exploit()}, p), "refused to load"),
    "missing": (lambda p: p.unlink(), "no checkpoint for epoch 1"),
}


@pytest.fixture
def trained(tiny_config, tmp_path, capsys):
    """A finished one-epoch experiment and the path of its config."""
    path = write_config(tiny_config(training={"num_epochs": 2}), tmp_path / "cfg.toml")
    code, _, err = invoke(capsys, "train", "--parameters", path, "--num_epochs", "1")
    assert code == 0, err
    return path, tmp_path / "runs" / "tiny"


@pytest.mark.parametrize("case", sorted(CHECKPOINT_CASES))
def test_bad_checkpoint(case, trained, capsys):
    path, folder = trained
    damage, message = CHECKPOINT_CASES[case]
    damage(folder / "saved_models" / "train_model_1.pt")
    before = snapshot(folder)
    code, out, err = invoke(capsys, "train", "--parameters", path, "--continue_from_epoch", "1")
    assert_one_line_error(code, err, message)
    assert "this must never run" not in out + err
    assert snapshot(folder) == before


RESUME_CASES = {
    "other model parameters": (["--set", "model.internal_params.num_blocks=3"], "does not fit this model"),
    "unknown epoch": (["--continue_from_epoch", "9"], "no checkpoint for epoch 9"),
    "nothing left to train": (["--num_epochs", "1"], "is not beyond the resumed epoch 1"),
    "no best link": (["--continue_from_epoch", "best"], None),
    "missing branch": (["--set", "training.branch_root='nope'"], "no branch folder"),
    "fresh run over it": (["--continue_from_epoch", ""], "already exists"),
}


@pytest.mark.parametrize("case", sorted(RESUME_CASES))
def test_bad_resume(case, trained, capsys):
    path, folder = trained
    extra, message = RESUME_CASES[case]
    if case == "no best link":
        (folder / "saved_models" / "best.pt").unlink()
        message = "best.pt is missing"
    args = ["train", "--parameters", path, "--continue_from_epoch", "last", *extra]
    if case == "fresh run over it":
        args = ["train", "--parameters", path]
    before = snapshot(folder)
    code, _, err = invoke(capsys, *args)
    assert_one_line_error(code, err, message)
    assert snapshot(folder) == before


# ------------------------------------------------------------------ command-line flags

FLAG_CASES = {
    "unknown flag": (["--num-epohcs", "3"], "No such option '--num-epohcs'"),
    "epochs not a number": (["--num_epochs", "abc"], "'abc' is not a valid integer"),
    "bad gpu choice": (["--gpu", "tpu"], "'tpu' is not one of"),
    "bad resume value": (["--continue_from_epoch", "first"], "training.continue_from_epoch"),
    "set without value": (["--set", "training.seed"], "expected section.key=value"),
    "set unknown key": (["--set", "training.sed=3"], "training.sed: unknown key; did you mean seed?"),
    "set wrong type": (["--set", "data.batch_size=big"], "data.batch_size: expected an integer"),
}


@pytest.mark.parametrize("case", sorted(FLAG_CASES))
def test_bad_flags(case, tiny_config, tmp_path, capsys):
    extra, message = FLAG_CASES[case]
    path = write_config(tiny_config(), tmp_path / "cfg.toml")
    code, _, err = invoke(capsys, "train", "--parameters", path, *extra)
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "runs").exists()


def test_missing_parameters_flag_and_unknown_command(capsys):
    code, _, err = invoke(capsys, "train")
    assert_one_line_error(code, err, "Missing option '--parameters'")
    code, _, err = invoke(capsys, "trian")
    assert_one_line_error(code, err, "No such command 'trian'")


# ------------------------------------------------------------------ plugins


def fake_distribution(site: Path, dist: str, module: str, source: str) -> None:
    """A minimal installed distribution with a ``rumpy`` entry point (as pip would leave it)."""
    (site / module).mkdir(parents=True)
    (site / module / "__init__.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[rumpy]\n{module} = {module}\n")


CLONE = """
import rumpycore
from rumpy_edsr.network import EDSR

@rumpycore.hookimpl
def register_models(register):
    register(rumpycore.ModelSpec("edsr", lambda p, ctx: EDSR(ctx.scale)))
"""


def test_plugin_whose_model_is_requested_fails_to_import(tiny_config, tmp_path):
    fake_distribution(tmp_path / "site", "rumpy-broken", "rumpy_broken",
                      "raise ImportError('needs the package foo')\n")
    config = tiny_config()
    config["model"] = {"name": "BrokenNet", "internal_params": {"scale": 4}}
    result = run_rumpy("train", "--parameters", write_config(config, tmp_path / "cfg.toml"),
                       env={"PYTHONPATH": str(tmp_path / "site")})
    assert_one_line_error(result.returncode, result.stderr, "unknown model 'BrokenNet'",
                          "plugin rumpy-broken failed to load (ImportError: needs the package foo)")
    assert not (tmp_path / "runs").exists()


def test_two_plugins_registering_one_name(tiny_config, tmp_path):
    fake_distribution(tmp_path / "site", "rumpy-edsr-clone", "rumpy_edsr_clone", CLONE)
    result = run_rumpy("train", "--parameters", write_config(tiny_config(), tmp_path / "cfg.toml"),
                       env={"PYTHONPATH": str(tmp_path / "site")})
    assert_one_line_error(result.returncode, result.stderr.lower(), "model 'edsr' is registered by both",
                          "rumpy-edsr 0.1.0", "rumpy-edsr-clone 1.0")
    assert not (tmp_path / "runs").exists()


def test_the_corpus_has_at_least_sixty_cases():
    total = (len(test_config_errors.CASES) + len(test_data_metadata.CSV_MISTAKES) + len(DATA_CASES)
             + len(CHECKPOINT_CASES) + len(RESUME_CASES) + len(FLAG_CASES) + 2 + 2)
    assert total >= 60
