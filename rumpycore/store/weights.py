"""Weights from outside a run: a checkpoint of another rumpy experiment, or a weights file.

Files are read by rumpy itself, never unpickled freely: ``.pt``/``.pth`` with
``torch.load(weights_only=True)`` (a file holding anything but tensors and plain containers
is refused in one line) and ``.safetensors`` with the ``safetensors`` package.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from . import checkpoints
from .layout import experiment_root, resolve_epoch

WEIGHT_SUFFIXES = (".pt", ".pth", ".safetensors")
"""Suffixes of the weights files rumpy reads."""


def read_weights_file(path: Path, key: str | None, where: str) -> dict[str, torch.Tensor]:
    """The state dict a weights file holds (``key`` selects an entry of it, such as BasicSR's
    ``params_ema``; without it a file whose tensors sit under one of ``params_ema``, ``params``,
    ``state_dict`` or ``model`` is unwrapped)."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{where}: {path} holds objects other than tensors and plain data and is refused (it may "
                        f"run code): {first}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError, IndexError) as exc:
        raise UserError(f"{where}: {path} is not a readable weights file ({type(exc).__name__}); check the file") from None
    if key is not None:
        if not isinstance(state, Mapping) or key not in state:
            held = ", ".join(sorted(str(k) for k in state)[:8]) if isinstance(state, Mapping) else "no entries"
            raise UserError(f"{where}.key: {path} has no entry '{key}' (it holds: {held})")
        state = state[key]
    elif isinstance(state, Mapping) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        wrapped = next((k for k in ("params_ema", "params", "state_dict", "model") if isinstance(state.get(k), Mapping)),
                       None)
        if wrapped is not None:
            state = state[wrapped]
    if not isinstance(state, Mapping) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{where}: {path} does not hold a state dict of tensors; give key = '<entry>' to pick one")
    return dict(state)


def renamed(state: Mapping[str, torch.Tensor], prefixes: Mapping[str, str]) -> dict[str, torch.Tensor]:
    """``state`` with key prefixes renamed (``{"module.": ""}`` drops DataParallel's prefix); the
    longest matching prefix wins."""
    ordered = sorted(prefixes.items(), key=lambda item: -len(item[0]))
    out = {}
    for name, tensor in state.items():
        for old, new in ordered:
            if name.startswith(old):
                name = new + name[len(old):]
                break
        out[name] = tensor
    return out


def experiment_weights(folder: Path, epoch: int | str, role: str, where: str) -> tuple[dict[str, torch.Tensor], str]:
    """Network ``role``'s weights at ``epoch`` of a rumpy experiment (the average when the run kept
    one) and a label naming where they came from."""
    path, number = resolve_epoch(folder, epoch, experiment_root(folder), f"{where}.epoch")
    state = checkpoints.load(path)
    if role not in state["networks"]:
        held = ", ".join(state["networks"])
        raise UserError(f"{where}.network: {folder} has no network '{role}' (it has: {held})")
    return checkpoints.network_weights(state, role), f"{folder} epoch {number} ({role})"
