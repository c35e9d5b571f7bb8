"""``result_outputs/summary.csv``: one row per epoch, rewritten atomically every epoch."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..atomic import atomic_write_text
from .base import Logger, LoggerContext


def format_value(value: object) -> str:
    """Full-precision text for a summary cell (``repr`` of floats round-trips exactly)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def csv_text(rows: Sequence[Mapping[str, object]], leading: Sequence[str] = ()) -> str:
    """CSV of ``rows``: the ``leading`` columns, then the others in order of first appearance;
    floats at full precision, missing values as empty cells."""
    columns: list[str] = list(leading)
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([format_value(row.get(c)) for c in columns])
    return buffer.getvalue()


def summary_text(history: Sequence[Mapping[str, float]]) -> str:
    """CSV text of ``history``, ``epoch`` first."""
    return csv_text(history, leading=("epoch",))


def read_summary(path: Path) -> list[dict[str, float]]:
    """Read a summary.csv (or reference.csv) back into rows: numbers as numbers, ``epoch`` as an
    integer, other text as it is; empty cells are left out of a row."""
    rows = []
    with open(path, newline="") as handle:
        for record in csv.DictReader(handle):
            row: dict[str, float] = {}
            for key, text in record.items():
                if text in ("", None):
                    continue
                try:
                    row[key] = int(text) if key == "epoch" else float(text)
                except ValueError:
                    row[key] = text
            rows.append(row)
    return rows


REFERENCE = "reference.csv"
"""Beside ``summary.csv``: the task's reference (bicubic upscaling) under the same ``val-*`` columns."""


class SummaryLogger(Logger):
    """Writes the whole history to ``summary.csv`` once each epoch's checkpoint is saved, so the
    summary never lists an epoch that has no checkpoint."""

    def __init__(self, ctx: LoggerContext) -> None:
        self.path = ctx.results / "summary.csv"

    def run_start(self, info):
        if info.history:
            atomic_write_text(self.path, summary_text(info.history))
        if info.reference:  # measured anew by every start, from the same eval sets: the same values
            atomic_write_text(self.path.with_name(REFERENCE), csv_text([{"reference": info.reference_name,
                                                                        **info.reference}]))

    def checkpoint(self, epoch, path, history):
        atomic_write_text(self.path, summary_text(history))
