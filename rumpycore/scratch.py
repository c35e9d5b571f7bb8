"""Hidden work files and folders beside a result, and the debris of killed runs.

Commands that publish a file or a folder (``rumpy eval``'s results folder, ``rumpy degrade``'s
output, ``rumpy pack``'s file) build it under a hidden name beside its final place and rename
it there when complete, so nothing half-written ever appears under the final name. The
hidden name records the process that owns it (``.<name>.<pid>-<start>.<purpose>``, ``start``
being when that process started), so a later run can tell the work of a live run from what a
killed one left behind, and removes only the latter (:func:`clean_stale`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .safety import remove

_SCRATCH = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)-(?P<start>\d+)\.(?P<purpose>partial|old)$")


def process_start(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, from ``/proc``), or ``"0"`` where
    that cannot be read; together with the pid it names one process, even after pids are reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    # the command name (field 2) may contain spaces and parentheses; the fields after it do not
    return stat.rsplit(")", 1)[-1].split()[19]


def scratch_path(target: Path, purpose: str = "partial") -> Path:
    """A hidden path beside ``target``, owned by this process (``purpose``: partial or old)."""
    return target.parent / f".{target.name}.{os.getpid()}-{process_start(os.getpid())}.{purpose}"


def _owner_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive
    return start == "0" or process_start(pid) in (start, "0")


def clean_stale(folder: Path) -> list[Path]:
    """Remove the hidden work files and folders in ``folder`` whose owning process has ended.

    Work of a live process is never touched. Returns what was removed.
    """
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _SCRATCH.match(entry.name)
        if match and not _owner_alive(int(match["pid"]), match["start"]):
            remove(entry, within=folder)
            removed.append(entry)
    return removed
