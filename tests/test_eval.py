"""``rumpy eval`` end to end: a model trained by the real ``rumpy train``, evaluated by the real
CLI, checked through the files it writes."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import toml
import torch
from PIL import Image

from rumpycore.cli.eval import eval_sisr
from rumpycore.degrade.resize import imresize
from rumpycore.evaluation.baselines import Bicubic
from rumpycore.evaluation.tiling import tiled_forward
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import needs_benchmark, photo_crop, rumpy_in_process, save_png, sr_config, write_config

from .helpers import assert_one_line_error, invoke


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sr_data) -> Path:
    """A tiny EDSR x4 trained for 2 epochs by ``rumpy train``; returns its experiment folder."""
    root = tmp_path_factory.mktemp("trained")
    config = write_config(sr_config(sr_data, root / "runs"), root / "cfg.toml")
    result = rumpy_in_process("train", "--parameters", config)
    assert result.returncode == 0, result.stderr
    return root / "runs" / "tiny"


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def eval_args(sr_data, out: Path, *extra) -> list:
    return ["eval", "--lr_dir", sr_data.eval_lr, "--hr_dir", sr_data.eval_hr, "--out_loc", out, *extra]


def test_eval_matches_the_val_metrics_logged_by_training(trained, sr_data, tmp_path, capsys):
    logged = read_summary(trained / "result_outputs" / "summary.csv")
    for epoch in ("1", "last"):
        code, out, err = invoke(capsys, *eval_args(sr_data, tmp_path, "-me", trained, epoch, "--batch_size", "2",
                                                   "--results_name", f"e{epoch}", "--json"))
        assert code == 0, err
        rows = {row["model"]: row for row in json.loads(out)["summary"]}
        model = rows["tiny"]
        row = logged[int(model["epoch"]) - 1]
        assert model["epoch"] == (1 if epoch == "1" else 2)
        assert model["PSNR"] == pytest.approx(row["val-PSNR"], abs=1e-6)
        assert model["SSIM"] == pytest.approx(row["val-SSIM"], abs=1e-6)
        assert model["images"] == 2 and model["ms_per_image"] > 0
        assert rows["bicubic"]["PSNR"] < 100


def test_the_same_checkpoint_named_twice_is_evaluated_once(trained, sr_data, tmp_path, capsys):
    code, out, err = invoke(capsys, *eval_args(sr_data, tmp_path, "-me", trained, "last", "-me", trained, "2",
                                               "--no_image_comparison", "--json"))
    assert code == 0, err
    assert [(row["model"], row["epoch"]) for row in json.loads(out)["summary"]] == [("bicubic", None), ("tiny", 2)]
    assert f"rumpy eval: note: {trained} 2 is epoch 2, as is {trained} last; evaluated once" in err.splitlines()


@needs_benchmark
def test_eval_on_set5_matches_the_val_psnr_logged_for_set5(shared_data, sr_data, tmp_path, capsys):
    set5 = {"lr": str(shared_data / "Set5" / "LR_bicubic" / "X4"), "hr": str(shared_data / "Set5" / "HR")}
    config = sr_config(sr_data, tmp_path / "runs", experiment="set5", training={"num_epochs": 1})
    config["data"]["eval_sets"] = {"set5": set5}
    result = rumpy_in_process("train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "runs" / "set5"
    [logged] = read_summary(folder / "result_outputs" / "summary.csv")
    code, out, err = invoke(capsys, "eval", "--lr_dir", set5["lr"], "--hr_dir", set5["hr"], "--out_loc", tmp_path,
                            "-me", folder, "1", "--json", "--no_image_comparison")
    assert code == 0, err
    rows = {row["model"]: row for row in json.loads(out)["summary"]}
    assert rows["set5"]["images"] == 5
    assert rows["set5"]["PSNR"] == pytest.approx(logged["val-PSNR"], abs=1e-6)
    assert rows["set5"]["SSIM"] == pytest.approx(logged["val-SSIM"], abs=1e-6)
    assert rows["bicubic"]["PSNR"] == pytest.approx(28.4176, abs=1e-4)


def test_results_folder_contents(trained, sr_data, tmp_path, capsys):
    code, out, err = invoke(capsys, *eval_args(sr_data, tmp_path, "-me", trained, "best", "-me", "lanczos", "-",
                                               "--save_im", "--results_name", "run"))
    assert code == 0, err
    folder = tmp_path / "run"
    assert f"results in {folder}" in err and "tiny" in out
    assert sorted(p.name for p in folder.iterdir()) == [
        "bicubic", "comparisons", "config.toml", "lanczos", "metrics.csv", "summary.csv", "tiny"]
    rows = read_rows(folder / "metrics.csv")
    assert [(r["model"], r["image"]) for r in rows] == [
        (m, i) for m in ("bicubic", "tiny", "lanczos") for i in ("gray", "rgb")]
    assert all(float(r["PSNR"]) > 10 and 0 < float(r["SSIM"]) <= 1 and float(r["ms"]) > 0 for r in rows)
    summary = read_rows(folder / "summary.csv")
    assert [r["model"] for r in summary] == ["bicubic", "tiny", "lanczos"]
    for entry in summary:
        mean = np.mean([float(r["PSNR"]) for r in rows if r["model"] == entry["model"]])
        assert float(entry["PSNR"]) == pytest.approx(mean, abs=1e-9)
    best = int(summary[1]["epoch"])
    assert (trained / "saved_models" / "best.pt").resolve().name == f"train_model_{best}.pt"
    for model in ("bicubic", "lanczos", "tiny"):
        saved = np.asarray(Image.open(folder / model / "rgb.png"))
        assert saved.shape == (64, 64, 3)
    comparison = np.asarray(Image.open(folder / "comparisons" / "rgb.png"))
    assert comparison.shape[1] > 5 * 64  # LR, bicubic, lanczos, tiny and HR side by side

    copied = toml.load(folder / "config.toml")
    assert copied["model_and_epoch"] == [[str(trained), "best"], ["lanczos", "-"]]
    assert copied["metrics"] == ["PSNR", "SSIM"]
    code, _, err = invoke(capsys, "eval", "--config", folder / "config.toml", "--results_name", "again",
                          "--no_image_comparison")
    assert code == 0, err
    again = read_rows(tmp_path / "again" / "summary.csv")
    assert [r["PSNR"] for r in again] == [r["PSNR"] for r in summary]
    assert not (tmp_path / "again" / "comparisons").exists()


def test_existing_results_are_kept_unless_overwrite(sr_data, tmp_path, capsys):
    args = eval_args(sr_data, tmp_path, "--results_name", "r", "--no_image_comparison")
    assert invoke(capsys, *args)[0] == 0
    (tmp_path / "r" / "marker").write_text("old")
    code, _, err = invoke(capsys, *args)
    assert_one_line_error(code, err, str(tmp_path / "r"), "--overwrite")
    assert (tmp_path / "r" / "marker").exists()
    code, _, err = invoke(capsys, *args, "--overwrite")
    assert code == 0, err
    assert not (tmp_path / "r" / "marker").exists() and (tmp_path / "r" / "summary.csv").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_toml_config_with_relative_paths_and_no_hr(sr_data, tmp_path, capsys):
    config = tmp_path / "conf" / "eval.toml"
    config.parent.mkdir()
    lr_copy = tmp_path / "conf" / "lr"
    lr_copy.mkdir()
    for path in sr_data.eval_lr.iterdir():
        (lr_copy / path.name).write_bytes(path.read_bytes())
    config.write_text('lr_dir = "lr"\nout_loc = "out"\nresults_name = "sr"\nsave_im = true\n'
                      'model_and_epoch = [["lanczos", "-"]]\n')
    code, _, err = invoke(capsys, "eval", "--config", config)
    assert code == 0, err
    folder = tmp_path / "conf" / "out" / "sr"
    rows = read_rows(folder / "metrics.csv")
    assert set(rows[0]) == {"model", "epoch", "image", "ms"}
    assert len(rows) == 4 and (folder / "lanczos" / "gray.png").is_file()


@pytest.mark.parametrize("recursive", [True, False])
def test_recursive_takes_the_images_in_sub_folders(sr_data, tmp_path, capsys, recursive):
    for side, source in (("lr", sr_data.eval_lr), ("hr", sr_data.eval_hr)):
        for i, path in enumerate(sorted(source.iterdir())):
            (tmp_path / side / f"part{i}").mkdir(parents=True, exist_ok=True)
            (tmp_path / side / f"part{i}" / path.name).write_bytes(path.read_bytes())
    config = write_config({"lr_dir": "lr", "hr_dir": "hr", "recursive": recursive, "save_im": True,
                           "model_and_epoch": [["bicubic", "-"]]}, tmp_path / "eval.toml")
    code, _, err = invoke(capsys, "eval", "--config", config)
    if not recursive:
        assert_one_line_error(code, err, "eval.lr_dir: no images")
        return
    assert code == 0, err
    stems = [path.stem for path in sorted(sr_data.eval_hr.iterdir())]
    assert [row["image"] for row in read_rows(tmp_path / "results" / "eval" / "metrics.csv")] == \
        [f"part{i}/{stem}" for i, stem in enumerate(stems)]
    assert (tmp_path / "results" / "eval" / "bicubic" / f"part1_{stems[1]}.png").is_file()


def test_eval_sisr_is_the_original_name(sr_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["eval_sisr", *eval_args(sr_data, tmp_path, "--results_name", "o")[1:]])
    with pytest.raises(SystemExit) as exit_info:
        eval_sisr()
    assert exit_info.value.code == 0, capsys.readouterr().err
    assert (tmp_path / "o" / "summary.csv").is_file()


def test_tiled_inference_gives_the_untiled_psnr(trained, photos, tmp_path, capsys):
    hr = photo_crop(photos.train[0], 256, top=0, left=0)
    save_png(hr, tmp_path / "hr" / "photo.png")
    save_png(imresize(hr, 0.25), tmp_path / "lr" / "photo.png")
    psnr = {}
    for name, tiling in (("whole", []), ("tiled", ["--tile", "24", "--tile_overlap", "8"])):
        code, out, err = invoke(capsys, "eval", "--lr_dir", tmp_path / "lr", "--hr_dir", tmp_path / "hr",
                                "-me", trained, "last", "--out_loc", tmp_path, "--results_name", name, "--json",
                                "--no_image_comparison", *tiling)
        assert code == 0, err
        psnr[name] = json.loads(out)["summary"][1]["PSNR"]
    assert abs(psnr["tiled"] - psnr["whole"]) < 0.01


def test_tiles_bound_the_model_input_and_match_the_whole_image():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 12, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(12, 48, 3, padding=1), torch.nn.PixelShuffle(4))
    seen = []

    def forward(batch):
        seen.append(tuple(batch["lr"].shape[-2:]))
        return net(batch["lr"])

    lr = torch.rand(2, 3, 70, 53)
    with torch.no_grad():
        tiled = tiled_forward(forward, {"lr": lr}, scale=4, tile=16, overlap=3)
        whole = net(lr)
    assert len(seen) == 5 * 4 and max(max(size) for size in seen) <= 16 + 2 * 3
    assert torch.allclose(tiled, whole, atol=1e-6)  # receptive field radius 2 fits in the overlap


def test_bicubic_baseline_is_matlab_imresize_on_the_float_image(photos):
    lr = photo_crop(photos.train[1], 72)
    batch = {"lr": torch.from_numpy(lr.transpose(2, 0, 1).copy())[None].float() / 255.0}
    ours = Bicubic(4)(batch)[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - imresize(lr.astype(np.float64) / 255.0, 4)).max() < 1e-12


@pytest.mark.parametrize("case", ["no folder", "no config", "unknown epoch", "no best", "scale",
                                  "lr without hr", "metrics without hr", "no lr images", "bad epoch"])
def test_bad_input_is_one_line_and_writes_nothing(case, trained, sr_data, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    lr_extra = tmp_path / "lr"
    lr_extra.mkdir()
    for path in sr_data.eval_lr.iterdir():
        (lr_extra / path.name).write_bytes(path.read_bytes())
    save_png(np.zeros((16, 16, 3), dtype=np.uint8), lr_extra / "stray.png")
    no_best = tmp_path / "no_best"
    (no_best / "saved_models").mkdir(parents=True)
    (no_best / "config.toml").write_text((trained / "config.toml").read_text())
    lr_x2 = tmp_path / "lr_x2"
    for path in sr_data.eval_hr.iterdir():
        save_png(imresize(np.asarray(Image.open(path).convert("RGB")), 0.5), lr_x2 / path.name)
    base = ["--lr_dir", sr_data.eval_lr, "--hr_dir", sr_data.eval_hr]
    args, expected = {
        "no folder": (base + ["-me", tmp_path / "missing", "1"], ["does not exist"]),
        "no config": (base + ["-me", empty, "1"], ["has no config.toml"]),
        "unknown epoch": (base + ["-me", trained, "7"], ["no checkpoint for epoch 7", "saved epochs: 1, 2"]),
        "no best": (base + ["-me", no_best, "best"], ["best.pt is missing"]),
        "scale": (["--lr_dir", lr_x2, "--hr_dir", sr_data.eval_hr, "--scale", "2", "-me", trained, "1"],
                  ["trained for x4", "the data is x2"]),
        "lr without hr": (["--lr_dir", lr_extra, "--hr_dir", sr_data.eval_hr], ["stray.png", "no HR image"]),
        "metrics without hr": (["--lr_dir", sr_data.eval_lr, "-m", "PSNR"], ["eval.metrics", "hr_dir"]),
        "no lr images": (["--lr_dir", empty], ["eval.lr_dir", "no images"]),
        "bad epoch": (base + ["-me", trained, "first"], ["model_and_epoch[0]", "'best' or 'last'"]),
    }[case]
    code, _, err = invoke(capsys, "eval", *args, "--out_loc", tmp_path / "out")
    assert_one_line_error(code, err, *expected)
    assert not (tmp_path / "out").exists()


def test_metric_channel_and_crop_border_options(photos, tmp_path, capsys):
    expected = []
    for stem, path in (("first", photos.train[0]), ("second", photos.train[1])):
        hr = photo_crop(path, 64, top=0, left=0)
        lr = imresize(hr, 0.25)
        save_png(hr, tmp_path / "hr" / f"{stem}.png")
        save_png(lr, tmp_path / "lr" / f"{stem}.png")
        upscaled = np.floor(np.clip(imresize(lr.astype(np.float64) / 255.0, 4), 0, 1) * 255.0 + 0.5)
        mse = np.mean((upscaled - hr.astype(np.float64)) ** 2)  # RGB, no border shaved
        expected.append(10 * np.log10(255.0**2 / mse))
    psnr = {}
    for name, options in (("rgb", ["--metric_channel", "rgb", "--crop_border", "0"]), ("y", [])):
        code, out, err = invoke(capsys, "eval", "--lr_dir", tmp_path / "lr", "--hr_dir", tmp_path / "hr",
                                "--out_loc", tmp_path / "out", "--results_name", name, "--json",
                                "--no_image_comparison", *options)
        assert code == 0, err
        psnr[name] = json.loads(out)["summary"][0]["PSNR"]
    assert psnr["rgb"] == pytest.approx(float(np.mean(expected)), abs=1e-6)
    assert abs(psnr["y"] - psnr["rgb"]) > 0.1
