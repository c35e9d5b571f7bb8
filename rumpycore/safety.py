"""Where rumpy may write and what it may delete.

Every folder name that comes from a user (an experiment, a branch, an eval results folder) is
normalised and checked by :func:`folder_name`; every path rumpy creates or deletes is proven,
after resolving symbolic links and ``..``, to lie inside the folder it belongs to
(:func:`inside`); and every deletion goes through :func:`remove`, the one function in rumpy
that deletes files or folders. A name or path that fails a check is a one-line
:class:`~rumpycore.errors.UserError` naming the key, raised before anything is touched.
"""

from __future__ import annotations

import os
import shutil
import unicodedata
from pathlib import Path

from .errors import ConfigError, UserError

MAX_NAME_BYTES = 200
"""Longest folder name accepted (UTF-8 bytes): below every common file system's 255-byte limit,
with room for the suffixes rumpy adds to hidden work files beside a folder."""

RESERVED_NAMES = ("result_outputs", "saved_models")
"""Names inside an experiment folder that a branch may not take (in any case: some file systems
ignore case)."""


def folder_name(value: object, key: str, reserved: tuple[str, ...] = ()) -> str:
    """``value`` as a folder name, normalised: surrounding spaces removed, Unicode in NFC.

    The normalised name must be one plain path component that is not hidden: no ``/`` or
    ``\\``, not ``.`` or ``..``, no leading ``.``, no control characters (NUL included), at
    most :data:`MAX_NAME_BYTES` bytes, and none of ``reserved`` in any case.
    """
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a folder name (a string), got {value!r}")
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise ConfigError(f"{key}: {value!r} is empty; give a folder name")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise ConfigError(f"{key}: {value!r} must be a plain folder name, not a path")
    if name.startswith("."):
        raise ConfigError(f"{key}: {value!r} starts with '.', which hides the folder (and is kept for rumpy's own "
                          f"work files); remove the dot")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise ConfigError(f"{key}: {value!r} contains a control character; use printable characters only")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise ConfigError(f"{key}: the name is {len(name.encode('utf-8'))} bytes long; use at most "
                          f"{MAX_NAME_BYTES}")
    if name.casefold() in (r.casefold() for r in reserved):
        raise ConfigError(f"{key}: {value!r} is the name of a folder rumpy keeps inside every experiment; "
                          f"choose another name")
    return name


def real(path: Path) -> Path:
    """``path`` made absolute with every symbolic link and ``..`` resolved (it need not exist)."""
    return Path(os.path.realpath(os.path.abspath(path)))


def _located(path: Path) -> Path:
    # the folder holding the last component resolved, the last component itself not followed:
    # deleting a symbolic link must remove the link, never what it points to
    path = Path(os.path.abspath(path))
    return real(path.parent) / path.name


def inside(path: Path, root: Path, key: str) -> Path:
    """``path``, proven to lie strictly inside ``root`` once both have every link and ``..``
    resolved; else a UserError naming ``key``."""
    resolved, top = real(path), real(root)
    if top not in resolved.parents:
        raise UserError(f"{key}: {path} resolves to {resolved}, which is not inside {top}; refusing to write "
                        f"or delete there")
    return path


def remove(path: Path, within: Path, only_if_empty: bool = False) -> None:
    """Delete the file, link or folder ``path``, which must lie strictly inside ``within``.

    The one place rumpy deletes anything. A symbolic link is removed, never followed; a
    missing path is not an error. A path outside ``within`` is refused with a UserError.
    With ``only_if_empty``, a folder that holds anything is left alone.
    """
    located = _located(path)
    top = real(within)
    if top not in located.parents:
        raise UserError(f"refusing to delete {path}: it resolves to {located}, which is not inside {top}")
    if located.is_dir() and not located.is_symlink():
        if not only_if_empty:
            shutil.rmtree(located)
        elif not any(located.iterdir()):
            located.rmdir()
    elif not only_if_empty:
        located.unlink(missing_ok=True)


def first_missing(folder: Path) -> Path | None:
    """The outermost folder on ``folder``'s path that does not exist yet (what creating it with
    its parents would create first), or None if it exists."""
    missing = None
    folder = Path(os.path.abspath(folder))
    while not os.path.lexists(folder):
        missing, folder = folder, folder.parent
    return missing


def writable_folder(path: Path, key: str) -> None:
    """Check that ``path`` is, or can be created as, a folder this process can write in.

    The nearest existing folder on the way must be a writable folder; a file in the way or a
    read-only folder is a UserError naming ``key``.
    """
    current = Path(os.path.abspath(path))
    while not os.path.lexists(current):
        current = current.parent
    if not current.is_dir():
        what = "a broken link" if current.is_symlink() and not current.exists() else "a file, not a folder"
        raise UserError(f"{key}: {current} is {what}; choose another location")
    if not os.access(current, os.W_OK | os.X_OK):
        raise UserError(f"{key}: {current} is not writable; fix its permissions or choose another location")


def expand_user(value: str, key: str) -> Path:
    """A path a user gave, with ``~`` expanded; a NUL character or a ``~user`` whose home folder
    is unknown is a ConfigError naming ``key``."""
    if "\0" in str(value):
        raise ConfigError(f"{key}: {str(value)!r} contains a NUL character; give a real path")
    path = Path(os.path.expanduser(value))
    if str(path).startswith("~"):
        raise ConfigError(f"{key}: {value} starts with an unknown user's home folder (~); give a real path")
    return path


def user_path(value: str, base: Path, key: str) -> Path:
    """A path a user gave (see :func:`expand_user`), relative ones taken from ``base``."""
    path = expand_user(value, key)
    return path if path.is_absolute() else Path(base) / path
