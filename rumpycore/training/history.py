"""Per-epoch statistics: best-epoch selection and early stopping, both derived from the
history itself so they survive a resume unchanged.

A row is a dict ``{"epoch": N, "train-loss": ..., "val-PSNR": ...}``; a column missing from
a row (e.g. no evaluation that epoch) is simply absent, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

Row = Mapping[str, float]


def direction_lookup(metric_directions: Mapping[str, bool]) -> Callable[[str], bool]:
    """A function telling whether a summary column is higher-is-better.

    ``metric_directions`` maps metric names (``PSNR``) to ``higher_is_better``. Columns
    ``val-<METRIC>``, ``val-<set>-<METRIC>`` and ``val-<METRIC>-<target>`` take the metric's
    direction; losses and everything else are lower-is-better.
    """
    lowered = {name.lower(): higher for name, higher in metric_directions.items()}

    def higher_is_better(column: str) -> bool:
        parts = column.lower().split("-")
        return any(lowered.get(part, False) for part in parts[1:]) if parts[0] == "val" else False

    return higher_is_better


def _value(row: Row, column: str) -> float | None:
    value = row.get(column)
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def best_row(history: Sequence[Row], column: str, higher_is_better: bool) -> Row | None:
    """The row with the best value of ``column``; rows without the value are ignored.

    Ties go to the earlier epoch.
    """
    best, best_value = None, None
    for row in history:
        value = _value(row, column)
        if value is None:
            continue
        if best_value is None or (value > best_value if higher_is_better else value < best_value):
            best, best_value = row, value
    return best


def evaluations_without_improvement(history: Sequence[Row], column: str, higher_is_better: bool) -> int:
    """How many evaluations of ``column`` came after its best value (0 if the last is best)."""
    best = best_row(history, column, higher_is_better)
    if best is None:
        return 0
    return sum(1 for row in history if row["epoch"] > best["epoch"] and _value(row, column) is not None)
