"""Checkpoints: everything needed to continue a run exactly, loadable without running code.

A checkpoint is a plain dict of tensors, numbers, strings and containers, saved atomically
and read back with ``torch.load(weights_only=True)``, so a planted pickle can never execute.
Format 2 (this version) holds, per network role, the model name and weights, the optimizer,
scheduler and precision-scaler states; the task's and every callback's state; the epoch,
step, history, random generators, config and versions. Files of format 1 (one network,
written by rumpy before tasks were plugins) are upgraded when read.
"""

from __future__ import annotations

import pickle
import random
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_torch_save
from ..errors import UserError

FORMAT = "rumpy-checkpoint"
FORMAT_VERSION = 2

REQUIRED: dict[str, type | tuple[type, ...]] = {
    "epoch": int, "step": int, "networks": dict, "optimizers": dict, "rng": dict, "history": list,
}
"""Entries every checkpoint has (after upgrading), with their types: a file lacking one is
refused in one line."""

REQUIRED_V1: dict[str, type | tuple[type, ...]] = {
    "model_name": str, "epoch": int, "step": int, "model": dict, "optimizer": dict, "rng": dict, "history": list,
}


def rng_state() -> dict:
    """Every global random generator's state (Python, NumPy, torch CPU and CUDA)."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Restore the generators saved by :func:`rng_state`."""
    random.setstate(_tuples(state["python"]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(value: Any) -> Any:
    # random.setstate needs tuples; a round trip through a checkpoint may turn them into lists.
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(v) for v in value)
    return value


def save(path: Path, state: dict) -> None:
    """Atomically write a checkpoint dict, stamped with the format version."""
    atomic_torch_save(path, {"format": FORMAT, "format_version": FORMAT_VERSION, **state})


def load(path: Path, map_location: Any = "cpu") -> dict:
    """Read a checkpoint safely; a corrupt, foreign or unsafe file is a one-line UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        with warnings.catch_warnings():
            # torch warns about legacy file formats on the way to refusing them: the one line below says it all
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"{path}: refused to load; the file holds objects other than tensors and plain data "
            f"(it may run code): {first}"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError, IndexError) as exc:
        raise UserError(
            f"{path}: checkpoint is corrupt or truncated ({type(exc).__name__}); resume from another epoch"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"{path}: not a rumpy checkpoint; point continue_from_epoch at a rumpy experiment")
    version = state.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise UserError(f"{path}: damaged checkpoint (format_version is {version!r}, not a number); resume from "
                        f"another epoch")
    if version > FORMAT_VERSION:
        raise UserError(f"{path}: written by a newer rumpy (checkpoint format {version}); upgrade rumpy")
    if version < 2:
        _check_entries(state, REQUIRED_V1, path)
        state = upgrade_from_1(state)
    _check_entries(state, REQUIRED, path)
    for role, network in state["networks"].items():
        if not isinstance(network, dict) or not isinstance(network.get("weights"), dict):
            raise UserError(f"{path}: damaged checkpoint (network '{role}' has no weights); resume from another epoch")
    return state


def _check_entries(state: dict, required: dict[str, type | tuple[type, ...]], path: Path) -> None:
    for key, kind in required.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            problem = "lacks" if key not in state else "has a damaged"
            raise UserError(f"{path}: damaged checkpoint ({problem} '{key}'); resume from another epoch")


def upgrade_from_1(state: dict) -> dict:
    """A format-1 checkpoint (one network, ``model``/``optimizer``/``scheduler``/``ema`` entries,
    logger states under ``loggers``) in the layout of format 2."""
    upgraded = {key: value for key, value in state.items()
                if key not in ("model", "model_name", "optimizer", "scheduler", "precision", "ema", "loggers")}
    upgraded["format_version"] = FORMAT_VERSION
    upgraded["networks"] = {"model": {"model": state["model_name"], "weights": state["model"]}}
    upgraded["optimizers"] = {"model": state["optimizer"]}
    upgraded["schedulers"] = {"model": state.get("scheduler")}
    upgraded["precision"] = {"model": state.get("precision") or {}}
    callbacks = dict(state.get("loggers") or {})
    if state.get("ema") is not None:
        callbacks["ema"] = {"weights": {"model": state["ema"]}}
    upgraded["callbacks"] = callbacks
    upgraded.setdefault("task_state", {})
    return upgraded


def network_weights(state: dict, role: str, averaged: bool = True) -> dict[str, torch.Tensor]:
    """The weights of network ``role`` in a checkpoint: the average kept by the ``ema`` callback
    when there is one and ``averaged`` (the weights the run's evaluation measured), else the
    trained weights."""
    if averaged:
        average = (state.get("callbacks", {}).get("ema") or {}).get("weights", {}).get(role)
        if average is not None:
            return average
    return state["networks"][role]["weights"]


def load_weights(module: torch.nn.Module, weights: dict[str, torch.Tensor], source: str, remedy: str,
                 strict: bool = True) -> tuple[list[str], list[str]]:
    """Load ``weights`` into ``module``; returns the missing and unexpected keys (with ``strict``
    false). A shape mismatch, or any key mismatch when strict, is a one-line UserError naming
    ``source`` and ending with ``remedy``."""
    try:
        result = module.load_state_dict(weights, strict=strict)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:200]
        raise UserError(f"{source}: does not fit this model's parameters ({detail}); {remedy}") from None
    return list(result.missing_keys), list(result.unexpected_keys)
