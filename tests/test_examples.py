"""The example configs under examples/configs pass `rumpy check --no-data` wherever they are
checked, and the demo runs as `make demo` runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import toml

from rumpycore.loggers.summary import read_summary
from rumpycore.testing import REPO, run_rumpy

from .helpers import assert_one_line_error, invoke

EXAMPLES = sorted((REPO / "examples" / "configs").glob("*.toml"))


def files_under(folder) -> list:
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_every_example_config_passes_check_without_its_data(path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = files_under(REPO / "examples")
    code, out, err = invoke(capsys, "check", "--parameters", path, "--no-data")
    assert code == 0, err
    config, *notes = out.split("\n# model")  # a line per network
    note = "\n".join(notes)
    resolved = toml.loads(config)
    assert resolved["model"]["name"].lower() == toml.load(path)["model"]["name"].lower()
    uses_metadata = resolved["model"]["name"] in ("SFTMD", "DegradationCNN")
    assert ("its size depends on the metadata in the data" in note) == uses_metadata
    assert ("trainable parameters" in note) != uses_metadata
    assert files_under(REPO / "examples") == before and not any(tmp_path.iterdir())


def test_rcan_div2k_flickr2k_example_resolves_as_the_paper_trains(tmp_path, capsys):
    path = REPO / "examples" / "configs" / "rcan_div2k_flickr2k.toml"
    code, out, err = invoke(capsys, "check", "--parameters", path, "--no-data")
    assert code == 0, err
    resolved = toml.loads(out.split("\n# model")[0])
    assert resolved["model"]["name"] == "RCAN"
    assert resolved["model"]["internal_params"]["scheduler_params"]["restart_period"] == 125000
    assert set(resolved["data"]["training_sets"]) == {"div2k", "flickr2k"}
    assert "# model RCAN: 15,592,355 trainable parameters" in out
    # the data is checked unless --no-data is given, and here it is not on disk (nor, maybe, a GPU)
    copy = shutil.copy(path, tmp_path)
    code, _, err = invoke(capsys, "check", "--parameters", copy, "--gpu", "off")
    assert_one_line_error(code, err, "data.training_sets.div2k", str(tmp_path / "DIV2K"))
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_the_demo_prepares_its_photographs_and_trains(tmp_path):
    """`make demo` in miniature: the same data script and config, one short epoch, no Aim."""
    configs = tmp_path / "examples" / "configs"
    configs.mkdir(parents=True)
    shutil.copy(REPO / "examples" / "configs" / "demo.toml", configs)
    prepared = subprocess.run([sys.executable, str(REPO / "examples" / "demo" / "prepare_data.py"),
                               str(tmp_path / "demo_data")], capture_output=True, text=True)
    assert prepared.returncode == 0, prepared.stderr
    for part, count in (("train", 6), ("eval", 2)):
        for side in ("HR", "LR"):
            assert len(list((tmp_path / "demo_data" / part / side).glob("*.png"))) == count
    result = run_rumpy("train", "--parameters", configs / "demo.toml", "--num_epochs", "1",
                       "--set", "training.aim_track=false", "--set", "data.training_sets.photos.repeat=40")
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "results" / "demo" / "edsr_demo"
    [row] = read_summary(folder / "result_outputs" / "summary.csv")
    assert row["val-PSNR"] > 20 and 0 < row["val-SSIM"] < 1
    assert (folder / "saved_models" / "train_model_1.pt").exists()
    assert list((folder / "result_outputs" / "epoch_1_samples").glob("*.png"))


def test_the_esrgan_and_real_esrgan_examples_pass_check(tmp_path, capsys):
    """The two stages of ESRGAN and Real-ESRGAN's GAN stage, checked without their data, with a
    stand-in first-stage experiment for init_from."""
    folder = tmp_path / "examples" / "configs"
    folder.mkdir(parents=True)
    for name in ("rrdbnet_psnr_x4.toml", "esrgan_x4.toml", "realesrgan_x4.toml"):
        shutil.copy(REPO / "examples" / "configs" / name, folder)
    for stage_one in ("rrdbnet_psnr_x4", "realesrnet_x4"):
        (folder / "results" / stage_one).mkdir(parents=True)
        (folder / "results" / stage_one / "config.toml").write_text("")

    outputs = {}
    for name in ("rrdbnet_psnr_x4", "esrgan_x4", "realesrgan_x4"):
        code, out, err = invoke(capsys, "check", "--parameters", folder / f"{name}.toml", "--no-data")
        assert code == 0, err
        outputs[name] = out
        assert "# model RRDBNet: 16,697,987 trainable parameters" in out
    esrgan = toml.loads(outputs["esrgan_x4"].split("\n# model")[0])
    assert esrgan["model"]["task"] == "gan"
    assert esrgan["model"]["internal_params"]["losses"]["relativistic_gan"]["weight"] == 5e-3
    assert esrgan["model"]["discriminator"]["name"] == "VGGDiscriminator"
    assert "# model.discriminator VGGDiscriminator: 14,499,401 trainable parameters" in outputs["esrgan_x4"]
    real = toml.loads(outputs["realesrgan_x4"].split("\n# model")[0])
    assert real["model"]["internal_params"]["losses"]["perceptual"]["layers"]["conv1_2"] == 0.1
    assert real["model"]["task_params"]["usm"] is True
    assert real["data"]["online_pipeline"]["pipeline"] == "realesrgan"
    assert "# model.discriminator UNetDiscriminator: 4,376,897 trainable parameters" in outputs["realesrgan_x4"]
    assert not (folder / "results" / "esrgan_x4").exists()
