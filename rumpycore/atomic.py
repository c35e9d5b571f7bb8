"""Crash-safe file writes: write a temporary file beside the target, fsync, then rename.

A reader (or a resumed run after a crash) sees either the old file or the complete new
one, never a partial write. If the write fails (disk full, permissions), the previous file
is left untouched and the temporary file is removed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

from .errors import UserError
from .safety import remove


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename is still atomic
    finally:
        os.close(fd)


class _RecordingFile:
    """A file wrapper that remembers the first OSError of a write.

    Writers such as ``torch.save`` turn an OSError from the file into a RuntimeError with an
    unhelpful message; the recorded error lets us report the real cause (e.g. disk full).
    """

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self._handle.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write(file)`` on a temporary file, then atomically replace ``path`` with it.

    A failed write (disk full, no permission) is a one-line UserError; the previous file
    stays as it was and no temporary file is left behind.
    """
    path = Path(path)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes owner-only files; give the usual permissions
        with os.fdopen(fd, "wb") as handle:
            recording = _RecordingFile(handle)
            try:
                write(recording)
            except RuntimeError:
                if recording.error is None:
                    raise
                raise recording.error from None
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as exc:
        if tmp_name is not None:
            remove(Path(tmp_name), within=path.parent)
        raise UserError(
            f"{path}: could not be written ({exc.strerror or exc}); free disk space or fix permissions; "
            f"the previous version is unchanged"
        ) from None
    except BaseException:
        if tmp_name is not None:
            remove(Path(tmp_name), within=path.parent)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    """Atomically write UTF-8 ``text`` to ``path``."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(path: Path, obj: Any) -> None:
    """Atomically ``torch.save`` ``obj`` to ``path``."""
    atomic_write(path, lambda handle: torch.save(obj, handle))


def atomic_symlink(path: Path, target: str) -> None:
    """Atomically point the symbolic link ``path`` at ``target`` (a relative path)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    remove(tmp, within=path.parent)
    os.symlink(target, tmp)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
