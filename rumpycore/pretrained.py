"""ImageNet weights of torchvision backbones, read from the torch hub cache and never downloaded.

LPIPS and the perceptual loss need torchvision's ImageNet weights. torchvision keeps them in
the torch hub cache (``$TORCH_HOME/hub/checkpoints/``, ``TORCH_HOME`` defaulting to
``~/.cache/torch``); rumpy reads the file itself with ``torch.load(weights_only=True)``. A
missing file is reported before anything is written, with its name, the folder to put it in
and where to download it.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from .errors import ConfigError, UserError
from .resources import local_files_checked


def weights_url(architecture: str) -> str:
    """Download address of torchvision's ImageNet weights of ``alexnet``, ``vgg16`` or ``vgg19``."""
    from torchvision import (
        models,  # imported on use: it takes seconds and most runs never need it
    )

    weights = {"alexnet": models.AlexNet_Weights, "vgg16": models.VGG16_Weights, "vgg19": models.VGG19_Weights}
    return weights[architecture].IMAGENET1K_V1.url


def weights_path(architecture: str) -> Path:
    """Where torchvision keeps ``architecture``'s ImageNet weights: the torch hub cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / weights_url(architecture).rsplit("/", 1)[-1]


def check_weights(architecture: str, user: str) -> None:
    """A ConfigError naming the file and its folder when ``architecture``'s weights are not on disk;
    ``user`` says who needs them (``LPIPS: net = 'alex'``). Nothing is checked inside
    :func:`rumpycore.resources.elsewhere`."""
    if not local_files_checked():
        return
    path = weights_path(architecture)
    if not path.is_file():
        raise ConfigError(
            f"{user} needs torchvision's ImageNet weights {path.name}, which are not in {path.parent}; download "
            f"{weights_url(architecture)} into that folder (or set TORCH_HOME to a folder whose hub/checkpoints "
            f"holds it)"
        )


def load_weights(architecture: str) -> dict[str, torch.Tensor]:
    """The state dict of ``architecture``'s ImageNet weights (checked to exist first)."""
    path = weights_path(architecture)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot be read as torchvision weights ({type(exc).__name__}); "
                        f"download the file again") from None
