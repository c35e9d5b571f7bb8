"""Where a run reads and writes: a new experiment, a resumed one, or a branch of it.

Planning (:func:`plan`) only reads; nothing is created until :meth:`ExperimentPlan.claim`, which
takes the folder's lock, repeats the plan's existence check under it, and creates the folders.
Every folder a plan names is proven to lie inside the experiment folder (or, for the
experiment folder itself, inside ``experiment_save_loc``) after resolving links.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import ConfigError, UserError
from ..lock import LOCK_FILE, DirectoryLock, ExperimentLock, lock_holder
from ..safety import (
    RESERVED_NAMES,
    first_missing,
    folder_name,
    inside,
    real,
    remove,
    writable_folder,
)
from .layout import (
    MODELS,
    RESULTS,
    SUMMARY,
    checkpoint_name,
    interrupted_name,
    resolve_epoch,
    saved_epochs,
)


def _has_content(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def _check_unlocked(folder: Path) -> None:
    """Refuse to replace ``folder`` while a run holds a lock anywhere inside it (a branch too)."""
    for parent, _, files in os.walk(folder):  # links are not followed: what they point to is not ours
        holder = lock_holder(Path(parent) / LOCK_FILE) if LOCK_FILE in files else None
        if holder is not None:
            raise UserError(f"{parent} is in use by another rumpy run ({holder}); wait for it to finish or stop it")


@dataclass
class Claim:
    """A folder this run holds the lock of, and what the run created in it before any checkpoint.

    :meth:`undo` removes those again, so a run that fails before saving anything leaves the
    file tree as it found it and can simply be retried.
    """

    folder: Path
    parent: Path
    lock: ExperimentLock
    created_folder: bool
    created_parents: Path | None = None
    written: list[Path] = field(default_factory=list)

    def write_text(self, name: str, text: str) -> None:
        """Write a file of this run into the folder (atomically), remembered for :meth:`undo`."""
        path = self.folder / name
        existed = path.exists()
        atomic_write_text(path, text)
        if not existed:
            self.written.append(path)

    def undo(self) -> None:
        """Remove what this claim created (a new folder, or the files it wrote into an old one)."""
        if not self.created_folder:
            for path in self.written:
                remove(path, within=self.folder)
            return
        self.lock.release()
        remove(self.folder, within=self.parent)
        if self.created_parents is not None:  # the save location this run created, unless someone else uses it now
            folder = self.parent
            while folder != self.created_parents.parent:
                remove(folder, within=folder.parent, only_if_empty=True)
                folder = folder.parent

    def release(self) -> None:
        """Let the folder's lock go."""
        self.lock.release()


@dataclass
class ExperimentPlan:
    """Where this run reads from and writes to, decided before anything is written."""

    root: Path
    folder: Path
    resume_epoch: int | None
    resume_checkpoint: Path | None
    branch_name: str | None
    config_name: str
    overwrite: bool = False
    new_folder: bool = True

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

    def claim(self) -> Claim:
        """Lock the run's folder and create its layout; raises before touching anything if not allowed.

        Under a lock on the parent folder the plan's existence check is repeated (another
        run may have created the experiment since :func:`plan` looked), a folder to be
        replaced is checked to be unused and removed, the folder is created and its own lock
        taken. Temporary files left by a run killed in the middle of a write are removed;
        the lock guarantees no other run is writing them.
        """
        parent = self.folder.parent
        created_parents = first_missing(parent)
        parent.mkdir(parents=True, exist_ok=True)
        with DirectoryLock(parent):
            exists = _has_content(self.folder)
            if self.new_folder and exists and not self.overwrite:
                raise UserError(_exists_message(self.folder, self.branch_name))
            if self.new_folder and exists:
                _check_unlocked(self.folder)
                remove(self.folder, within=parent)
            created = self.new_folder and not self.folder.is_dir()
            self.folder.mkdir(exist_ok=True)
            lock = ExperimentLock(self.folder)
            try:
                lock.acquire()
            except BaseException:
                if created:
                    remove(self.folder, within=parent)
                raise
        claim = Claim(self.folder, parent, lock, created, created_parents if created else None)
        try:
            self.results.mkdir(exist_ok=True)
            self.models.mkdir(exist_ok=True)
            per_epoch = [path for path in self.results.iterdir() if path.is_dir()]  # samples, predictions
            for folder in (self.folder, self.results, self.models, *per_epoch):
                for leftover in folder.glob(".*.tmp"):
                    remove(leftover, within=folder)
        except BaseException:
            claim.undo()
            claim.release()
            raise
        return claim


def _exists_message(folder: Path, branch: str | None) -> str:
    if branch is not None:
        return (f"branch folder {folder} already exists; choose another training.new_branch_name, or set "
                f"overwrite_data = true to replace it")
    return (f"experiment folder {folder} already exists; choose another experiment name, resume with "
            f"continue_from_epoch, or set training.overwrite_data = true to replace it")


def branch_base(root: Path, branch_root: str | None) -> Path:
    """The folder ``branch_root`` names inside the experiment ``root`` (``root`` itself without it).

    Each part of the relative path is a plain folder name, and the folder, with links
    resolved, lies inside the experiment.
    """
    if not branch_root:
        return root
    names = [folder_name(part, "training.branch_root", RESERVED_NAMES) for part in branch_root.split("/")
             if part.strip()]
    if not names:
        raise ConfigError(f"training.branch_root: {branch_root!r} names no branch folder")
    base = root.joinpath(*names)
    inside(base, root, "training.branch_root")
    if real(base) != real(root).joinpath(*names):
        raise UserError(f"training.branch_root: {base} is a link to {real(base)}; branches must be real folders "
                        f"inside the experiment")
    return base


def plan(save_loc: Path, experiment: str, training) -> ExperimentPlan:
    """Decide the folders of a run from the ``[training]`` options; raises before any write.

    - A new run refuses an existing, non-empty experiment unless ``overwrite_data``.
    - Resuming from the last saved epoch continues in the same folder.
    - Resuming from an earlier epoch, or with ``new_branch``, writes into a branch folder
      (``branch_epoch_<N>`` or ``new_branch_name``) so later results are never destroyed.
    """
    writable_folder(save_loc, "experiment_save_loc")
    root = inside(save_loc / folder_name(experiment, "experiment"), save_loc, "experiment")
    resume = training.continue_from_epoch
    if resume is None:
        if training.branch_root or training.new_branch:
            key = "branch_root" if training.branch_root else "new_branch"
            raise ConfigError(f"training.{key}: only used when resuming; set training.continue_from_epoch")
        if _has_content(root) and not training.overwrite_data:
            raise UserError(_exists_message(root, None))
        return ExperimentPlan(root, root, None, None, None, "config.toml", overwrite=training.overwrite_data)

    base = branch_base(root, training.branch_root)
    if training.branch_root and not base.is_dir():
        raise ConfigError(f"training.branch_root: no branch folder {base}; check the name")
    if not base.is_dir():
        raise ConfigError(f"training.continue_from_epoch: experiment folder {base} does not exist; nothing to resume")
    writable_folder(base, "training.continue_from_epoch")
    own = saved_epochs(base)
    checkpoint, epoch = resolve_epoch(base, resume, root, "training.continue_from_epoch", interrupted=True)
    if checkpoint.name == interrupted_name(epoch):
        return ExperimentPlan(root, base, epoch, checkpoint, None, f"config_from_epoch_{epoch + 1}.toml",
                              new_folder=False)
    last = own[-1] if own else epoch
    if training.new_branch or epoch < last:
        name = folder_name(training.new_branch_name or f"branch_epoch_{epoch}", "training.new_branch_name",
                           RESERVED_NAMES)
        folder = inside(base / name, root, "training.new_branch_name")
        if _has_content(folder) and not training.overwrite_data:
            raise UserError(
                f"branch folder {folder} already exists; choose another training.new_branch_name, resume it "
                f"with branch_root = '{Path(training.branch_root or '') / name}', or set overwrite_data = true"
            )
        return ExperimentPlan(root, folder, epoch, checkpoint, name, "config.toml", overwrite=training.overwrite_data)
    return ExperimentPlan(root, base, epoch, checkpoint, None, f"config_from_epoch_{epoch + 1}.toml",
                          new_folder=False)
