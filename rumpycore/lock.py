"""One run per experiment folder at a time, and one claim of a folder's children at a time.

:class:`ExperimentLock` is a file inside the experiment (or branch) folder,
``.rumpy.lock``, held with ``flock`` for as long as a run uses the folder: the kernel
releases it when the holding process dies, however it dies, so a lock left by a killed run
is recognised as stale and taken over. The file records who holds it, for the error
message.

:class:`DirectoryLock` locks a folder itself (``flock`` on the folder, nothing is created)
while a run decides whether one of its children may be created or replaced, so the check
"does the experiment exist?" and the creation happen under one lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from .errors import UserError
from .safety import remove

LOCK_FILE = ".rumpy.lock"


class DirectoryLock:
    """An exclusive ``flock`` on a folder, for the short claim of one of its children."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._fd: int | None = None

    def __enter__(self) -> "DirectoryLock":
        self._fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


class ExperimentLock:
    """An exclusive lock on an experiment (or branch) folder that already exists."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise a one-line UserError naming the run that holds it."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _describe(os.read(fd, 4096))
                os.close(fd)
                raise UserError(
                    f"{self.folder} is in use by another rumpy run ({owner}); wait for it to finish or stop it"
                ) from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the holder released and removed the file meanwhile; lock the new one
        previous = os.read(fd, 4096)
        if previous.strip():
            print(f"rumpy: note: took over the stale lock of a run that ended without releasing it "
                  f"({_describe(previous)})", file=sys.stderr)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file and let the lock go.

        The file is removed rather than kept because processes forked by the run (loader
        workers) share its lock until they exit; the next run locks a new file.
        """
        if self._fd is None:
            return
        remove(self.path, within=self.folder)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "ExperimentLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_holder(path: Path) -> str | None:
    """Who holds the lock file ``path`` (``"pid ... on ..."``), or None when no run holds it.
    The file is only looked at, never created or removed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except BlockingIOError:
        return _describe(os.read(fd, 4096))
    finally:
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _describe(raw: bytes) -> str:
    try:
        info = json.loads(raw.decode() or "{}")
        return f"pid {info['pid']} on {info['host']}, started {info['started']}"
    except (ValueError, KeyError, UnicodeDecodeError):
        return "owner unknown"
