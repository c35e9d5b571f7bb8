"""The original RUMpy's 25 sample training configs and its sample evaluation config
(tests/original_configs), run as a user of the original would: only their data paths point at
tiny data made here, in the layout the configs expect. Each config whose network rumpy provides
passes ``rumpy check`` and trains one epoch; each other one is refused with one line naming the
network; the evaluation config evaluates two of the trained models."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import toml
import torch

from rumpycore.cli import cli, run
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import CUDA, photo_crop, save_png, write_config

from .helpers import assert_one_line_error, invoke

ORIGINALS = Path(__file__).parent / "original_configs"
SAMPLES = "Documentation/sample_config_files"

PROVIDED = [f"{SAMPLES}/{name}.toml" for name in (
    "celebahq/q-rcan", "celebahq/rcan", "div2k/edsr", "div2k/han", "div2k/q-edsr", "div2k/q-han", "div2k/q-rcan",
    "div2k/q-san", "div2k/rcan", "div2k/san", "div2k/sftmd", "div2k/srmd", "div2k_compressed/qrcan_blur_kernels",
    "div2k_compressed/qrcan_blur_qpi", "div2k_compressed/qrcan_qpi", "div2k_compressed/rcan_compressed",
    "dan_blind_sr/rcan-dan", "contrastive_blind_sr/rcan-supmoco", "contrastive_encoders/supmoco_standard",
)] + ["automated_testing/sisr_tests/rcan_testing_config.toml", "rumpy/SISR/args/example_configs/rcan-dan.toml",
      "rumpy/SISR/args/example_configs/rcan-supmoco.toml", "rumpy/regression/args/example_configs/supmoco_standard.toml"]

NOT_PROVIDED = {
    f"{SAMPLES}/celebahq/q-sparnet.toml": "qsparnet",
    f"{SAMPLES}/celebahq/sparnet.toml": "sparnet",
}

SMALLER = {  # a few blocks of each network, so that one CPU epoch takes seconds (same code paths)
    "rcan": {"n_resgroups": 2, "n_resblocks": 2}, "qrcan": {"n_resgroups": 2, "n_resblocks": 2},
    "han": {"n_resgroups": 2, "n_resblocks": 2}, "qhan": {"n_resgroups": 2, "n_resblocks": 2},
    "san": {"n_resgroups": 2, "n_resblocks": 2}, "qsan": {"n_resgroups": 2, "n_resblocks": 2},
    "edsr": {"num_blocks": 2, "num_features": 32}, "qedsr": {"num_blocks": 2, "num_features": 32},
    "sftmd": {"num_blocks": 2, "num_features": 16}, "srmd": {"nc": 16, "nb": 4},
    # RCAN-DAN keeps its 10 groups (selective_meta_blocks names each), one small block each
    "dan": {"n_resblocks": 1, "n_feats": 16, "estimator_features": 8, "estimator_blocks": 1, "loop": 2},
    "contrastiveblindqrcan": {"n_resblocks": 1, "n_feats": 16},  # RCAN-SupMoCo likewise
    "supmoco": {},  # the original's encoder has one size
}
SMALLER_BATCHES = {"supmoco": 2}  # batches of 32 with drop_last_training_batch, from three training images

SET_PATHS = ("lr", "hr", "lr_interp", "image_shortlist", "degradation_metadata")
NOT_A_PATH = ("N/A", "on_site")
GPU_FLAGS = [] if torch.cuda.is_available() else ["--gpu", "off"]  # the configs ask for one GPU


def test_the_copies_are_the_originals_25_training_configs():
    copies = {str(p.relative_to(ORIGINALS)) for p in ORIGINALS.rglob("*.toml")}
    assert copies == {*PROVIDED, *NOT_PROVIDED, "Documentation/example_evaluation_config.toml"}
    assert len(PROVIDED) + len(NOT_PROVIDED) == 25


# ---------------------------------------------------------------- tiny data in the configs' layout

def crops(shared: Path, names: list[str], size: int, folder: Path, first: int = 0) -> None:
    """``size`` x ``size`` crops of the training photos saved under ``names``."""
    photos = sorted((shared / "train" / "HR").glob("*.png"))
    for i, name in enumerate(names):  # the benchmark has 16 photos, a fresh clone's stand-ins fewer
        save_png(photo_crop(photos[(first + i) % len(photos)], size, top=300, left=200), folder / f"{name}.png")


def degrade(source: Path, output: Path, pipeline: str) -> None:
    with pytest.raises(SystemExit) as done:
        run(cli, ["degrade", "--source-dir", str(source), "--output-dir", str(output), "--pipeline", pipeline,
                  "--scale", "4", "--seed", "8"])
    assert done.value.code == 0


def name_quality_qpi(folder: Path) -> None:
    """The original's compressed sets record a QPI (from its H.264 encoder, which rumpy does not
    reproduce); the tiny sets record rumpy's JPEG quality in that column instead."""
    path = folder / "degradation_metadata.csv"
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, [("qpi" if c == "jpeg_quality" else c) for c in rows[0]])
        writer.writeheader()
        writer.writerows({("qpi" if k == "jpeg_quality" else k): v for k, v in row.items()} for row in rows)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, shared_data) -> Path:
    """Each data folder the configs name, found by its last two path components: DIV2K-numbered
    training images just large enough for the configs' 64-pixel LR crops and a small evaluation
    image, Flickr2K, CelebA-HQ with its split lists, the original's test data, and Set5."""
    root = tmp_path_factory.mktemp("original_data")
    crops(shared_data, ["0001", "0002"], 256, root / "div2k" / "HR")
    crops(shared_data, ["0801"], 64, root / "div2k" / "HR", first=2)
    crops(shared_data, ["000001"], 256, root / "flickr2k" / "HR", first=3)
    crops(shared_data, ["00001", "00002", "00003"], 64, root / "celeba-hq" / "hr_superres", first=4)
    crops(shared_data, ["0001", "0002"], 256, root / "training_dataset" / "HR_div2k_reduced", first=7)
    crops(shared_data, ["0803"], 64, root / "eval_dataset" / "hr", first=9)
    crops(shared_data, ["baby", "bird"], 64, root / "Set5" / "hr", first=10)
    for dataset in ("div2k", "flickr2k"):
        degrade(root / dataset / "HR", root / dataset / "lr_blurred", "blur-downsample")
        # made by the original with realesrganblur (isotropic kernels), whose columns the encoders read
        degrade(root / dataset / "HR", root / dataset / "lr_iso_blur_only", "realesrganblur-downsample")
        degrade(root / dataset / "HR", root / dataset / "blurred_compressed", "blur-downsample-compress")
        name_quality_qpi(root / dataset / "blurred_compressed")
    degrade(root / "celeba-hq" / "hr_superres", root / "celeba-hq" / "lr_blurred", "blur-downsample")
    (root / "data_splits").mkdir()
    (root / "data_splits" / "celeba_hq_train_splits.csv").write_text("00001.png\n00002.png\n")
    (root / "data_splits" / "celeba_hq_eval_splits.csv").write_text("00003.png\n")
    degrade(root / "training_dataset" / "HR_div2k_reduced",
            root / "training_dataset" / "lr_div2k_reduced_blur_noise_compress", "blur-downsample-noise-compress")
    degrade(root / "eval_dataset" / "hr", root / "eval_dataset" / "lr", "downsample")
    degrade(root / "Set5" / "hr", root / "Set5" / "lr_random_blur", "blur-downsample")
    train_encoder(root / "div2k" / "lr_iso_blur_only", root / "encoders")
    return root


def train_encoder(data: Path, results: Path) -> None:
    """A MoCo encoder experiment (``results/encoder``), for rcan-supmoco.toml's pre_trained_encoder_weights."""
    sets = {"lr": str(data), "crop": 16}
    config = {"experiment": "encoder", "experiment_save_loc": str(results),
              "model": {"name": "MoCo", "internal_params": {"queue_size": 8}},
              "training": {"num_epochs": 1, "gpu": "off", "logging": "text"},
              "data": {"batch_size": 2, "dataloader_threads": 0, "training_sets": {"train": sets},
                       "eval_sets": {"eval": {"lr": str(data)}}}}
    with pytest.raises(SystemExit) as done:
        run(cli, ["train", "--parameters", str(write_config(config, results / "encoder.toml"))])
    assert done.value.code == 0


def with_tiny_paths(relative: str, tiny: Path, results: Path) -> dict:
    """The original config with its data folders (and files) replaced by the tiny ones of the same
    last two path components, and its results going to ``results``; nothing else changes."""
    config = toml.load(ORIGINALS / relative)
    config["experiment_save_loc"] = str(results)
    for kind in ("training_sets", "eval_sets"):
        for table in config["data"][kind].values():
            for key in SET_PATHS:
                if key in table and table[key] not in NOT_A_PATH:
                    table[key] = str(tiny.joinpath(*Path(table[key]).parts[-2:]))
    if "pre_trained_encoder_weights" in config["model"]["internal_params"]:
        config["model"]["internal_params"]["pre_trained_encoder_weights"] = str(tiny / "encoders" / "encoder")
    return config


# ---------------------------------------------------------------- the configs


@pytest.mark.parametrize("relative", PROVIDED)
def test_provided_networks_pass_rumpy_check(relative, tiny, tmp_path, capsys):
    path = write_config(with_tiny_paths(relative, tiny, tmp_path / "results"), tmp_path / "cfg.toml")
    code, out, err = invoke(capsys, "check", "--parameters", path, *GPU_FLAGS)
    assert code == 0, err
    assert "trainable parameters" in out
    assert not [line for line in err.splitlines() if not line.startswith("rumpy: note:")], err
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("relative, network", sorted(NOT_PROVIDED.items()))
def test_other_networks_are_refused_naming_them(relative, network, tiny, tmp_path, capsys):
    path = write_config(with_tiny_paths(relative, tiny, tmp_path / "results"), tmp_path / "cfg.toml")
    code, _, err = invoke(capsys, "check", "--parameters", path, *GPU_FLAGS)
    assert_one_line_error(code, err, f"model.name: unknown model '{network}'")


def smaller(relative: str) -> list[str]:
    """``--set`` flags that shrink the config's network to a few blocks (and a batch the tiny data can fill)."""
    name = toml.load(ORIGINALS / relative)["model"]["name"].lower()
    flags = [flag for key, value in SMALLER[name].items() for flag in ("--set", f"model.internal_params.{key}={value}")]
    return flags + (["--set", f"data.batch_size={SMALLER_BATCHES[name]}"] if name in SMALLER_BATCHES else [])


def train_one_epoch(relative: str, tiny: Path, tmp_path: Path, capsys, *flags: str) -> dict:
    config = with_tiny_paths(relative, tiny, tmp_path / "results")
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"),
                          "--num_epochs", "1", *flags)
    assert code == 0, err
    return config


@pytest.mark.slow
@pytest.mark.parametrize("relative", PROVIDED)
def test_provided_networks_train_one_epoch(relative, tiny, tmp_path, capsys):
    # on the CPU with smaller networks; at full size on a GPU below
    config = train_one_epoch(relative, tiny, tmp_path, capsys, *GPU_FLAGS, *smaller(relative))
    assert_trained(tmp_path / "results" / config["experiment"], config)


@CUDA
@pytest.mark.parametrize("relative", PROVIDED)
def test_provided_networks_train_one_epoch_unchanged_on_a_gpu(relative, tiny, tmp_path, capsys):
    config = train_one_epoch(relative, tiny, tmp_path, capsys)
    assert_trained(tmp_path / "results" / config["experiment"], config)


def assert_trained(folder: Path, config: dict) -> None:
    [row] = read_summary(folder / "result_outputs" / "summary.csv")
    assert row["epoch"] == 1 and np.isfinite(row["train-loss"])
    if config["model"]["name"].lower() == "supmoco":  # an encoder: how near in degradation its neighbours are
        assert 0 <= row["val-nn-accuracy"] <= 1 and np.isfinite(row["val-nn-error"])
    else:
        assert row["val-PSNR"] > 5
    saved = torch.load(folder / "saved_models" / "train_model_1.pt", weights_only=True)
    assert saved["networks"]["model"]["model"].lower() == config["model"]["name"].lower()


@pytest.mark.slow
def test_the_evaluation_config_evaluates_trained_models(tiny, tmp_path, capsys):
    # the sample evaluation config compares an RCAN and a QRCAN trained with the sample configs
    results = tmp_path / "results"
    for relative, name in ((f"{SAMPLES}/div2k/rcan.toml", "rcan_cosine_v2"),
                           (f"{SAMPLES}/div2k/q-rcan.toml", "q-rcan_cosine")):
        config = with_tiny_paths(relative, tiny, results)
        code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / f"{name}.toml"),
                              "--num_epochs", "1", "--experiment_name", name, *GPU_FLAGS, *smaller(relative))
        assert code == 0, err
    config = toml.load(ORIGINALS / "Documentation" / "example_evaluation_config.toml")
    for key in ("hr_dir", "lr_dir"):
        config[key] = str(tiny.joinpath(*Path(config[key]).parts[-2:]))
    config.update(model_loc=str(results), out_loc=str(tmp_path / "out"), gpu=torch.cuda.is_available())
    code, out, err = invoke(capsys, "eval", "--config", write_config(config, tmp_path / "eval.toml"), "--json")
    assert code == 0, err
    rows = {row["model"]: row for row in json.loads(out)["summary"]}
    assert set(rows) == {"bicubic", "rcan_cosine_v2", "q-rcan_cosine"}
    assert all(row["images"] == 2 for row in rows.values())
    assert (tmp_path / "out" / "simple_test" / "q-rcan_cosine" / "baby.png").is_file()  # save_im
