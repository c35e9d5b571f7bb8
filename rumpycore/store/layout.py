"""The experiment folder's layout, and which checkpoint an epoch (a number, best, last) names.

Layout of ``<experiment_save_loc>/<experiment>/`` (and of every branch inside it)::

    config.toml                      config of the run that created the folder
    config_from_epoch_<N>.toml       config of a run resumed in place at epoch N
    .rumpy.lock                      held by the run using the folder
    result_outputs/summary.csv       one row per epoch
    result_outputs/...               plots, epoch_<N>_samples/
    saved_models/train_model_<N>.pt  one checkpoint per epoch
    saved_models/best.pt             link to the best epoch's checkpoint
    saved_models/interrupted_after_<N>.pt   state saved by Ctrl-C/SIGTERM during epoch N+1
    <branch>/                        the same structure for a branch
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..atomic import atomic_symlink
from ..errors import ConfigError

RESULTS = "result_outputs"
MODELS = "saved_models"
SUMMARY = "summary.csv"
BEST_LINK = "best.pt"
CHECKPOINT = re.compile(r"^train_model_(\d+)\.pt$")


def checkpoint_name(epoch: int) -> str:
    """File name of the checkpoint saved after ``epoch``."""
    return f"train_model_{epoch}.pt"


def interrupted_name(epoch: int) -> str:
    """File name of the state saved when a run stopped on a signal after completing ``epoch``."""
    return f"interrupted_after_{epoch}.pt"


def saved_epochs(folder: Path) -> list[int]:
    """Epochs with a checkpoint in ``folder/saved_models`` (not counting parents), sorted."""
    models = folder / MODELS
    if not models.is_dir():
        return []
    epochs = []
    for path in models.iterdir():
        match = CHECKPOINT.match(path.name)
        if match and not path.is_symlink():
            epochs.append(int(match.group(1)))
    return sorted(epochs)


def find_checkpoint(folder: Path, epoch: int, root: Path) -> Path | None:
    """The checkpoint of ``epoch`` for ``folder``: its own, or inherited from a parent branch."""
    current = folder
    while True:
        candidate = current / MODELS / checkpoint_name(epoch)
        if candidate.is_file():
            return candidate
        if current == root or current.parent == current:
            return None
        current = current.parent


def best_epoch_of(folder: Path) -> int | None:
    """The epoch ``saved_models/best.pt`` points at, if the link exists."""
    link = folder / MODELS / BEST_LINK
    if not link.is_symlink():
        return None
    match = CHECKPOINT.match(Path(link.readlink()).name)
    return int(match.group(1)) if match else None


def experiment_root(folder: Path) -> Path:
    """The experiment a folder belongs to: a branch lives inside its parent experiment, whose
    checkpoints it inherits."""
    root = folder
    while (root.parent / "config.toml").is_file():
        root = root.parent
    return root


def resolve_epoch(folder: Path, epoch: int | str, root: Path, where: str,
                  interrupted: bool = False) -> tuple[Path, int]:
    """The checkpoint an epoch names in ``folder`` and its number: a number (the folder's own
    checkpoint or one it inherits from a parent branch), ``"best"`` (the ``best.pt`` link) or
    ``"last"`` (the newest checkpoint; with ``interrupted``, the state a stopped run saved
    after it, when there is one). A ConfigError naming ``where`` if there is none."""
    own = saved_epochs(folder)
    have = ", ".join(str(e) for e in own) or "none"
    if epoch == "last":
        last = own[-1] if own else 0
        stopped = folder / MODELS / interrupted_name(last)
        if interrupted and stopped.is_file():
            return stopped, last
        if not own:
            raise ConfigError(f"{where}: no checkpoints in {folder / MODELS}; nothing to load")
        epoch = last
    elif epoch == "best":
        link = folder / MODELS / BEST_LINK
        best = best_epoch_of(folder)
        if best is None or not link.exists():
            raise ConfigError(f"{where}: {link} is missing; ask for an epoch number or 'last' (saved: {have})")
        return link, best
    checkpoint = find_checkpoint(folder, int(epoch), root)
    if checkpoint is None:
        raise ConfigError(f"{where}: no checkpoint for epoch {epoch} in {folder / MODELS} (saved epochs: {have})")
    return checkpoint, int(epoch)


def point_best(folder: Path, root: Path, epoch: int) -> None:
    """Point ``saved_models/best.pt`` of ``folder`` at the checkpoint of ``epoch`` (its own or inherited)."""
    target = find_checkpoint(folder, epoch, root)
    if target is not None:
        models = folder / MODELS
        atomic_symlink(models / BEST_LINK, os.path.relpath(target, models))
