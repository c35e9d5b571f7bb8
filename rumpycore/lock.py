"""One run per experiment folder at a time.

The lock is a file beside the folder (``.<folder>.lock``) held with ``flock``: the kernel
releases it when the holding process dies, however it dies, so a lock left by a killed run
is recognised as stale and taken over. The file records who holds it, for the error message.
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


class ExperimentLock:
    """An exclusive lock on an experiment (or branch) folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder.parent / f".{self.folder.name}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise a one-line UserError naming the run that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
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
        """Remove the lock file and release the lock."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "ExperimentLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


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
