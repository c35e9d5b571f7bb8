"""Memory of a process tree from ``/proc`` (Linux): PSS and USS per process, sampled while it runs.

PSS (proportional set size) charges each shared page to its sharers in equal parts, so the
PSS of a process tree adds up to the memory it really occupies; USS (private clean + private
dirty) is what a process holds alone, i.e. what ending it would free. A loader worker that
copied the decoded images would show them in its USS.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


def rollup(pid: int) -> dict[str, int]:
    """``Pss`` and ``Uss`` of one process in bytes (zeros once it has exited)."""
    values = {"Pss": 0, "Uss": 0}
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return values
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key == "Pss":
            values["Pss"] = int(rest.split()[0]) * 1024
        elif key in ("Private_Clean", "Private_Dirty"):
            values["Uss"] += int(rest.split()[0]) * 1024
    return values


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                queue.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def tree(pid: int) -> dict[int, dict[str, int]]:
    """PSS and USS of every process of the tree under ``pid``."""
    return {p: rollup(p) for p in descendants(pid)}


@dataclass
class PeakSampler:
    """Samples a process tree's summed PSS every ``interval`` seconds in a thread; ``peak`` holds the largest."""

    pid: int
    interval: float = 0.2
    peak: int = 0
    samples: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.perf_counter()
        while not self._stop.is_set():
            total = sum(v["Pss"] for v in tree(self.pid).values())
            self.samples.append((time.perf_counter() - start, total))
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_sampled(command: list[str], interval: float = 0.2, **kwargs) -> tuple[subprocess.CompletedProcess, int]:
    """Run ``command`` to its end, sampling its tree's PSS; returns the result and the peak PSS in bytes."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    with PeakSampler(process.pid, interval) as sampler:
        out, err = process.communicate()
    return subprocess.CompletedProcess(command, process.returncode, out, err), sampler.peak
