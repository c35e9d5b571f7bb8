"""Start-up time of the command line: ``rumpy --help`` and every command's ``--help``.

Each installation given with ``--rumpy`` (a ``rumpy`` executable; default: the one beside this
interpreter) runs every command line once per round, the installations alternating, and the
table reports the median and the slowest of the rounds in seconds. Example, comparing this
checkout with an older one:

    python benchmarks/cli_startup.py --rumpy .venv/bin/rumpy --rumpy ../old/.venv/bin/rumpy --repeats 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = ["", "train", "check", "eval", "degrade", "pack", "list", "list-models", "plugins"]


def seconds(executable: str, command: str) -> float | None:
    """Wall time of one ``<executable> [command] --help``; None where that rumpy lacks the command."""
    argv = [executable, *([command] if command else []), "--help"]
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start if done.returncode == 0 else None


def cell(values: list[float | None]) -> str:
    """Median and slowest of the rounds, or n/a."""
    if None in values:
        return "n/a | n/a"
    return f"{statistics.median(values):.2f} | {max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rumpy", action="append", help="a rumpy executable (repeatable)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds per command line")
    args = parser.parse_args()
    executables = args.rumpy or [str(Path(sys.executable).with_name("rumpy"))]
    times: dict[tuple[str, str], list[float | None]] = {(e, c): [] for e in executables for c in COMMANDS}
    for _ in range(args.repeats):
        for command in COMMANDS:
            for executable in executables:
                times[executable, command].append(seconds(executable, command))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.repeats} rounds, load average {load:.2f} at the end\n")
    print("| command | " + " | ".join(f"{e}: median s | slowest s" for e in executables) + " |")
    print("|---|" + "---:|---:|" * len(executables))
    for command in COMMANDS:
        cells = [cell(times[e, command]) for e in executables]
        print(f"| `rumpy {command + ' ' if command else ''}--help` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
