"""``lr_interp`` made on the fly for models that take it, when a set has no folder of it: the
images equal, pixel for pixel, what ``rumpy degrade --pipeline upsample`` writes, for whole
images, random crops (any position, flipped), the in-memory cache and online-degraded sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from rumpycore.data.cache import MemorySource
from rumpycore.data.images import load_rgb
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import save_png, write_config

from .data_helpers import InterpNet, build
from .helpers import invoke


def degrade(capsys, source, output, pipeline: str, scale: int) -> None:
    code, _, err = invoke(capsys, "degrade", "--source-dir", source, "--output-dir", output, "--pipeline", pipeline,
                          "--scale", str(scale))
    assert code == 0, err


@pytest.fixture(scope="module")
def hr_crops(tmp_path_factory, photos):
    """Odd-sized real HR crops (so LR sizes are not multiples of anything) and a gray one."""
    root = tmp_path_factory.mktemp("interp_hr")
    for i, (height, width) in enumerate([(150, 174), (138, 123), (96, 200)]):
        image = load_rgb(photos.train[i])[0][40 : 40 + height, 60 : 60 + width]
        save_png(image, root / f"crop{i}.png")
    gray = np.asarray(Image.open(photos.gray).convert("L"))[:120, :132]
    Image.fromarray(gray).save(root / "gray.png")
    return root


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_made_lr_interp_equals_rumpy_degrade_upsample(hr_crops, tmp_path, capsys, scale):
    degrade(capsys, hr_crops, tmp_path / "lr", "downsample", scale)
    degrade(capsys, tmp_path / "lr", tmp_path / "interp", "upsample", scale)
    table = {"lr": str(tmp_path / "lr"), "hr": str(hr_crops)}
    written = {"lr_interp": str(tmp_path / "interp")}
    for split, crop in (("eval", None), ("train", 7)):
        extra = {"crop": crop, "random_augment": True} if crop else {}
        made = build({**table, **extra}, split, scale=scale, inputs=("lr_interp",))
        read = build({**table, **extra, **written}, split, scale=scale, inputs=("lr_interp",))
        cached = build({**table, **extra, "cache": True}, split, scale=scale, inputs=("lr_interp",))
        assert isinstance(cached.interp, MemorySource)
        keys = [(i % 4, (3, 1, i)) for i in range(40)] if crop else range(4)
        for key in keys:
            expected = read[key]["lr_interp"]
            assert torch.equal(made[key]["lr_interp"], expected), key
            assert torch.equal(cached[key]["lr_interp"], expected), key
    whole = build(table, "eval", scale=scale, inputs=("lr_interp",))
    for index, name in enumerate(["crop0", "crop1", "crop2", "gray"]):
        on_disk = np.asarray(Image.open(tmp_path / "interp" / f"{name}.png").convert("RGB"))
        assert torch.equal(whole[index]["lr_interp"], torch.from_numpy(on_disk.transpose(2, 0, 1).copy()))


def test_every_crop_position_of_an_image_matches(hr_crops, tmp_path, capsys):
    degrade(capsys, hr_crops, tmp_path / "lr", "downsample", 4)
    degrade(capsys, tmp_path / "lr", tmp_path / "interp", "upsample", 4)
    made = build({"lr": str(tmp_path / "lr"), "hr": str(hr_crops), "crop": 5}, "train", inputs=("lr_interp",))
    full = np.asarray(Image.open(tmp_path / "interp" / "crop1.png").convert("RGB"))
    lr_height, lr_width = made.pairs[1].lr_size
    for top in range(lr_height - 5 + 1):
        for left in range(lr_width - 5 + 1):
            box = (4 * top, 4 * left, 20, 20)
            region, _ = made.interp.read(1, box)
            assert np.array_equal(region, full[4 * top : 4 * top + 20, 4 * left : 4 * left + 20]), (top, left)


def test_online_degraded_sets_carry_the_upscaled_lr(hr_crops, tmp_path, capsys):
    pipeline = {"pipeline": "blur-downsample", "deg_configs": {"blur": {"sigma": [0.5, 2.0]}}}
    from rumpycore.data.paired import PairedParams, build_paired
    from rumpycore.params import parse
    from rumpycore.specs import DatasetContext

    params = parse(PairedParams, {"hr": str(hr_crops), "online_degradations": True, "crop": 9,
                                  "random_augment": True}, "data.training_sets.s")
    dataset = build_paired(params, DatasetContext("s", "train", 4, "sisr", tmp_path, (), True, ("lr_interp",),
                                                  pipeline))
    for i in range(4):
        item = dataset[(i, (1, 1, i))]
        save_png(item["lr"].permute(1, 2, 0).numpy(), tmp_path / "online_lr" / f"{i}.png")
        save_png(item["lr_interp"].permute(1, 2, 0).numpy(), tmp_path / "made" / f"{i}.png")
    degrade(capsys, tmp_path / "online_lr", tmp_path / "interp", "upsample", 4)
    for i in range(4):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "made" / f"{i}.png")),
                              np.asarray(Image.open(tmp_path / "interp" / f"{i}.png"))), i


def test_a_model_taking_lr_interp_trains_without_a_folder_of_it(test_models, tiny_config, tmp_path, capsys):
    config = tiny_config(training={"num_epochs": 1})
    config["model"] = {"name": "InterpNet", "internal_params": {"scale": 4}}
    InterpNet.seen.clear()
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    assert [tuple(x.shape) for x in InterpNet.seen] == [(4, 3, 64, 64), (2, 3, 64, 64), (2, 3, 64, 64)]
    assert [r["epoch"] for r in read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")] == [1]
