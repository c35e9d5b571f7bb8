"""Checkpoints: everything needed to continue a run exactly, loadable without running code.

A checkpoint is a plain dict of tensors, numbers, strings and containers, saved atomically
and read back with ``torch.load(weights_only=True)``, so a planted pickle can never execute.
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
FORMAT_VERSION = 1

REQUIRED: dict[str, type | tuple[type, ...]] = {
    "model_name": str, "epoch": int, "step": int, "model": dict, "optimizer": dict, "rng": dict, "history": list,
}
"""Entries every checkpoint has, with their types: a file lacking one is refused in one line."""


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
    for key, kind in REQUIRED.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            problem = "lacks" if key not in state else "has a damaged"
            raise UserError(f"{path}: damaged checkpoint ({problem} '{key}'); resume from another epoch")
    return state
