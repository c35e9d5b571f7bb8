"""The experiment folder: layout, branches, and where a resumed run loads and saves.

Layout of ``<experiment_save_loc>/<experiment>/`` (and of every branch inside it)::

    config.toml                      config of the run that created the folder
    config_from_epoch_<N>.toml       config of a run resumed in place at epoch N
    result_outputs/summary.csv       one row per epoch
    result_outputs/...               plots, epoch_<N>_samples/
    saved_models/train_model_<N>.pt  one checkpoint per epoch
    saved_models/best.pt             link to the best epoch's checkpoint
    saved_models/interrupted_after_<N>.pt   state saved by Ctrl-C/SIGTERM during epoch N+1
    <branch>/                        the same structure for a branch

Planning (:func:`plan`) only reads; nothing is created until :meth:`ExperimentPlan.create`.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, UserError

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


def _has_content(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


@dataclass
class ExperimentPlan:
    """Where this run reads from and writes to, decided before anything is written."""

    root: Path
    folder: Path
    resume_epoch: int | None
    resume_checkpoint: Path | None
    branch_name: str | None
    config_name: str
    replace_existing: bool

    @property
    def results(self) -> Path:
        """``result_outputs/`` of this run's folder."""
        return self.folder / RESULTS

    @property
    def models(self) -> Path:
        """``saved_models/`` of this run's folder."""
        return self.folder / MODELS

    @property
    def summary(self) -> Path:
        """This run's ``summary.csv``."""
        return self.results / SUMMARY

    def checkpoint(self, epoch: int) -> Path:
        """Where this run saves the checkpoint of ``epoch``."""
        return self.models / checkpoint_name(epoch)

    def create(self) -> None:
        """Create the folders (after removing the old experiment when overwriting).

        Temporary files left by a run that was killed in the middle of a write are removed;
        the caller holds the folder's lock, so no other run can be writing them.
        """
        if self.replace_existing and self.folder.exists():
            shutil.rmtree(self.folder)
        self.results.mkdir(parents=True, exist_ok=True)
        self.models.mkdir(parents=True, exist_ok=True)
        per_epoch = [path for path in self.results.iterdir() if path.is_dir()]  # samples, predictions
        for folder in (self.folder, self.results, self.models, *per_epoch):
            for leftover in folder.glob(".*.tmp"):
                leftover.unlink(missing_ok=True)


def plan(save_loc: Path, experiment: str, training) -> ExperimentPlan:
    """Decide the folders of a run from the ``[training]`` options; raises before any write.

    - A new run refuses an existing, non-empty experiment unless ``overwrite_data``.
    - Resuming from the last saved epoch continues in the same folder.
    - Resuming from an earlier epoch, or with ``new_branch``, writes into a branch folder
      (``branch_epoch_<N>`` or ``new_branch_name``) so later results are never destroyed.
    """
    root = save_loc / experiment
    base = root / training.branch_root if training.branch_root else root
    resume = training.continue_from_epoch
    if resume is None:
        if training.branch_root or training.new_branch:
            key = "branch_root" if training.branch_root else "new_branch"
            raise ConfigError(f"training.{key}: only used when resuming; set training.continue_from_epoch")
        if _has_content(root) and not training.overwrite_data:
            raise UserError(
                f"experiment folder {root} already exists; choose another experiment name, resume with "
                f"continue_from_epoch, or set training.overwrite_data = true to replace it"
            )
        return ExperimentPlan(root, root, None, None, None, "config.toml", replace_existing=_has_content(root))

    if training.branch_root and not base.is_dir():
        raise ConfigError(f"training.branch_root: no branch folder {base}; check the name")
    if not base.is_dir():
        raise ConfigError(f"training.continue_from_epoch: experiment folder {base} does not exist; nothing to resume")
    own = saved_epochs(base)
    if resume == "last":
        last = own[-1] if own else 0
        interrupted = base / MODELS / interrupted_name(last)
        if interrupted.is_file():
            return ExperimentPlan(root, base, last, interrupted, None, f"config_from_epoch_{last + 1}.toml", False)
        if not own:
            raise ConfigError(f"training.continue_from_epoch: no checkpoints in {base / MODELS}; nothing to resume")
        epoch = own[-1]
    elif resume == "best":
        epoch = best_epoch_of(base)
        if epoch is None:
            raise ConfigError(f"training.continue_from_epoch: {base / MODELS / BEST_LINK} is missing; resume from a number or 'last'")
    else:
        epoch = int(resume)
    checkpoint = find_checkpoint(base, epoch, root)
    if checkpoint is None:
        have = ", ".join(str(e) for e in own) or "none"
        raise ConfigError(
            f"training.continue_from_epoch: no checkpoint for epoch {epoch} in {base / MODELS} (saved epochs: {have})"
        )
    last = own[-1] if own else epoch
    if training.new_branch or epoch < last:
        name = training.new_branch_name or f"branch_epoch_{epoch}"
        folder = base / name
        if _has_content(folder) and not training.overwrite_data:
            raise UserError(
                f"branch folder {folder} already exists; choose another training.new_branch_name, resume it "
                f"with branch_root = '{Path(training.branch_root or '') / name}', or set overwrite_data = true"
            )
        return ExperimentPlan(root, folder, epoch, checkpoint, name, "config.toml", replace_existing=_has_content(folder))
    return ExperimentPlan(root, base, epoch, checkpoint, None, f"config_from_epoch_{epoch + 1}.toml", False)
