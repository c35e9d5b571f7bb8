"""Reading a config: the TOML file and the command-line overrides merged into it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import toml

from ..errors import ConfigError, UserError


def read_toml(path: Path) -> dict:
    """Read a TOML file; a missing or malformed file is a one-line error naming it."""
    if not path.is_file():
        raise UserError(f"{path}: config file not found; check the --parameters path")
    try:
        return toml.load(path)
    except (toml.TomlDecodeError, UnicodeDecodeError, IndexError, TypeError, ValueError) as exc:
        # the toml package reports some malformed input with plain IndexError/TypeError
        raise ConfigError(f"{path}: not valid TOML ({' '.join(str(exc).split())}); fix the syntax") from None


def parse_value(text: str) -> Any:
    """Parse a command-line value as TOML (``3``, ``1e-4``, ``true``, ``[1, 2]``), else a string."""
    try:
        return toml.loads(f"v = {text}")["v"]
    except toml.TomlDecodeError:
        return text


def apply_set(raw: dict, assignment: str) -> None:
    """Apply one ``--set section.key=value`` override to the raw config dict."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment}: expected section.key=value")
    dotted, text = assignment.split("=", 1)
    keys = [k.strip() for k in dotted.strip().split(".") if k.strip()]
    if not keys:
        raise ConfigError(f"--set {assignment}: expected section.key=value")
    table = raw
    for i, key in enumerate(keys[:-1]):
        node = table.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {assignment}: {'.'.join(keys[: i + 1])} is not a table")
        table = node
    table[keys[-1]] = parse_value(text.strip())


def apply_overrides(raw: dict, training: Mapping[str, Any], sets: list[str], experiment_name: str | None) -> dict:
    """Merge command-line overrides into a raw config: flags go to ``[training]``."""
    for key, value in training.items():
        if value is not None:
            raw.setdefault("training", {})[key] = value
    if training.get("num_epochs") is not None:
        # the flag wins over the original toolbox's spelling of the same setting in the file
        raw["training"].pop("epoch_cutoff", None)
    for assignment in sets:
        apply_set(raw, assignment)
    if experiment_name:
        raw["experiment"] = experiment_name
    return raw
