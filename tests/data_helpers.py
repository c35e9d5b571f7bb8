"""Shared pieces of the data tests: tiny real image crops, dataset builders, test-local model plugins."""

from __future__ import annotations

import csv
import json
import shutil
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

import rumpycore
from rumpycore import plugins
from rumpycore.data.paired import PairedParams, build_paired
from rumpycore.params import option, parse
from rumpycore.specs import DatasetContext
from rumpycore.testing import save_png


def write_blocky_pair(root: Path, name: str, lr: np.ndarray, scale: int = 4, lr_suffix: str = "") -> None:
    """LR image ``lr`` and an HR image in which every LR pixel is a scale x scale block.

    Any correctly aligned LR/HR crop (flipped or not) then satisfies hr == lr repeated, which
    makes alignment checkable pixel for pixel. The same HR doubles as ``lr_interp``.
    """
    hr = lr.repeat(scale, axis=0).repeat(scale, axis=1)
    save_png(lr, root / "lr" / f"{name}{lr_suffix}.png")
    save_png(hr, root / "hr" / f"{name}.png")
    save_png(hr, root / "interp" / f"{name}{lr_suffix}.png")


def blocks(lr: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """``C x h x w`` -> ``C x h*scale x w*scale`` with each pixel repeated as a block."""
    return lr.repeat_interleave(scale, 1).repeat_interleave(scale, 2)


def build(table: dict, split: str = "train", scale: int = 4, base: Path = Path("/"), metadata: tuple = (),
          inputs: tuple = (), needs_hr: bool = True):
    """Validate a set table and build it with the ``paired`` factory, as a run would."""
    where = f"data.{'training' if split == 'train' else 'eval'}_sets.s"
    params = parse(PairedParams, table, where)
    return build_paired(params, DatasetContext("s", split, scale, "sisr", base, tuple(metadata), needs_hr,
                                               tuple(inputs)))


@dataclass
class MetaParams:
    metadata: list[str] = option(["sigma"], help="metadata names the model uses")


class MetaNet(torch.nn.Module):
    """Upsamples with a conv and adds a colour bias computed from the metadata vector."""

    seen: list[torch.Tensor] = []

    def __init__(self, scale: int, size: int) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv2d(3, 3 * scale * scale, 3, padding=1),
                                        torch.nn.PixelShuffle(scale))
        self.bias = torch.nn.Linear(size, 3)

    def forward(self, lr: torch.Tensor, metadata: torch.Tensor) -> torch.Tensor:
        MetaNet.seen.append(metadata.detach().cpu().clone())
        return self.body(lr) + self.bias(metadata)[:, :, None, None]


class InterpNet(torch.nn.Module):
    """Refines an already upscaled image with one conv (so it only works on HR-size input)."""

    seen: list[torch.Tensor] = []

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        InterpNet.seen.append(image.detach().cpu().clone())
        return image + self.conv(image)


@rumpycore.hookimpl
def register_models(register):
    register(rumpycore.ModelSpec(name="MetaNet", params=MetaParams, metadata=lambda p: p.metadata,
                                 build=lambda p, ctx: MetaNet(ctx.scale, ctx.metadata_size),
                                 summary="test model using metadata"))
    register(rumpycore.ModelSpec(name="InterpNet", inputs=("lr_interp",), build=lambda p, ctx: InterpNet(),
                                 summary="test model taking pre-upscaled LR"))


def register_test_models() -> None:
    """Register MetaNet and InterpNet in this process (undo with ``plugins.reset_host()``)."""
    MetaNet.seen.clear()
    InterpNet.seen.clear()
    plugin = types.SimpleNamespace(register_models=register_models, __name__="data_test_models")
    plugins.host().register_plugin(plugin, "rumpy-data-test-models")


TRAIN_SIGMA = {"photo_1": 0.5, "photo_2": 1.0, "photo_3": 1.5, "photo_4": 2.0, "photo_5": 2.5, "photo_6": 3.0}
EVAL_SIGMA = {"rgb": 4.0, "gray": 1.0}


def kernel_code(sigma: float) -> list[float]:
    return [round(sigma / 10, 4), round(-sigma, 4), 0.25]


def write_csv(path, sigmas: dict[str, float], *, extension: str = ".png", drop: str | None = None,
              cell: tuple[str, str, str] | None = None) -> None:
    """A metadata CSV in the layout rumpy degrade writes (step-prefixed columns, JSON list kernels)."""
    header = ["image", "0-blur-sigma", "0-blur-blur_kernel", "1-noise-noise_sigma", "2-jpeg-jpeg_quality"]
    rows = []
    for stem, sigma in sigmas.items():
        if stem == drop:
            continue
        row = {"image": stem + extension, "0-blur-sigma": sigma, "0-blur-blur_kernel": json.dumps(kernel_code(sigma)),
               "1-noise-noise_sigma": 10 * sigma, "2-jpeg-jpeg_quality": 30 + 10 * sigma}
        if cell is not None and cell[0] == stem:
            row[cell[1]] = cell[2]
        rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)


def meta_config(tiny_config, root, names=("blur_kernel", "sigma"), **set_keys):
    config = tiny_config(training={"num_epochs": 1})
    config["model"] = {"name": "MetaNet", "internal_params": {"scale": 4, "metadata": list(names)}}
    for kind, part in (("training_sets", "train"), ("eval_sets", "eval")):
        table = config["data"][kind]["train" if part == "train" else "eval"]
        table.update({"lr": str(root / part / "LR"), "hr": str(root / part / "HR"),
                      "degradation_metadata": "on_site"})
        table.update(set_keys)
    return config


@pytest.fixture
def meta_sets(sr_data, tmp_path):
    """Copies of the tiny sets with a degradation_metadata.csv beside each LR folder."""
    root = tmp_path / "sets"
    for part, sigmas in (("train", TRAIN_SIGMA), ("eval", EVAL_SIGMA)):
        shutil.copytree(sr_data.root / part, root / part)
        write_csv(root / part / "LR" / "degradation_metadata.csv", sigmas)
    return root


@pytest.fixture
def test_models():
    """MetaNet and InterpNet registered for the test, forgotten afterwards."""
    register_test_models()
    yield
    plugins.reset_host()
