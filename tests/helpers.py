"""Helpers for running the CLI in-process and checking the one-line error contract."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch

from rumpycore.cli import cli, run


def invoke(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """Run ``rumpy ARGS`` in-process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run(cli, [str(a) for a in args])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def assert_one_line_error(code: int, stderr: str, *expected: str) -> None:
    """Exit code 2, exactly one non-empty stderr line, no traceback, containing ``expected``."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, stderr
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for text in expected:
        assert text in lines[0], lines[0]


def assert_stopped_with_error(code: int, stderr: str, *expected: str) -> None:
    """A run that failed after training started: exit code 2, the progress printed so far,
    then exactly one error line (the last), no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("rumpy: error:")]
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert len(errors) == 1 and lines[-1] == errors[0], stderr
    for text in expected:
        assert text in errors[0], errors[0]


def file_tree(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (links not followed): a file's content hash, ``dir``, or a link's
    target; two equal trees mean nothing was created, deleted or changed."""
    tree = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                tree[key] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                tree[key] = "dir"
            else:
                tree[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return tree


def assert_same_state(a: dict, b: dict) -> None:
    """Two checkpoints hold the same weights, optimizer and scheduler states and step, for every
    network; a side with fewer networks, weights or optimizer entries than the other fails."""
    assert a["networks"] and a["networks"].keys() == b["networks"].keys()
    for role in a["networks"]:
        weights_a, weights_b = a["networks"][role]["weights"], b["networks"][role]["weights"]
        assert weights_a and weights_a.keys() == weights_b.keys()
        for key in weights_a:
            assert torch.equal(weights_a[key], weights_b[key]), (role, key)
        assert a["optimizers"][role]["state"], f"{role}: no optimizer state: no step was taken"
        states = zip(a["optimizers"][role]["state"].values(), b["optimizers"][role]["state"].values(), strict=True)
        for state_a, state_b in states:
            assert state_a.keys() == state_b.keys()
            for key in state_a:
                assert torch.equal(torch.as_tensor(state_a[key]), torch.as_tensor(state_b[key])), (role, key)
    assert a["schedulers"] == b["schedulers"] and a["step"] == b["step"]
