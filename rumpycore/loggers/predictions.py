"""``result_outputs/epoch_<N>_results/``: a regression model's predictions after each evaluation.

``predictions.csv`` holds the task's per-image rows (``set``, ``image``, then
``<target>_true`` and ``<target>_predicted`` per target value, in the targets' original
units). ``scatter_<target>.png`` plots predicted against true for each target value, one
colour per eval set, with the line of perfect prediction.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..atomic import atomic_write_bytes, atomic_write_text
from ..comparisons import safe_name
from .base import Logger, LoggerContext
from .plots import plt
from .summary import csv_text

TRUE, PREDICTED = "_true", "_predicted"


def target_labels(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Target value labels that have both a ``_true`` and a ``_predicted`` column, in order."""
    columns = list(rows[0]) if rows else []
    return [c[: -len(TRUE)] for c in columns if c.endswith(TRUE) and c[: -len(TRUE)] + PREDICTED in columns]


def scatter_png(rows: Sequence[Mapping[str, Any]], label: str) -> bytes:
    """Predicted against true values of ``label`` as a PNG, coloured by eval set."""
    fig, ax = plt.subplots(figsize=(5, 5))
    try:
        sets = list(dict.fromkeys(row.get("set", "") for row in rows))
        true = np.array([row[label + TRUE] for row in rows], dtype=np.float64)
        predicted = np.array([row[label + PREDICTED] for row in rows], dtype=np.float64)
        for set_id in sets:
            mine = np.array([row.get("set", "") == set_id for row in rows])
            ax.scatter(true[mine], predicted[mine], s=12, alpha=0.7, label=str(set_id) or None)
        finite = np.concatenate([true, predicted])
        finite = finite[np.isfinite(finite)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        ax.plot([low, high], [low, high], "k--", linewidth=1)
        ax.set_xlabel(f"true {label}")
        ax.set_ylabel(f"predicted {label}")
        ax.set_title(f"{label}: MAE {np.nanmean(np.abs(predicted - true)):.4g} over {len(rows)} images")
        ax.grid(alpha=0.3)
        if len(sets) > 1:
            ax.legend(loc="best", fontsize="small")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()
    finally:
        plt.close(fig)


class PredictionLogger(Logger):
    """Writes ``predictions.csv`` and one scatter plot per target value after each evaluation."""

    def __init__(self, ctx: LoggerContext) -> None:
        self.results = ctx.results

    def per_image(self, epoch, rows):
        folder = self.results / f"epoch_{epoch}_results"
        atomic_write_text(folder / "predictions.csv", csv_text(rows))
        for label in target_labels(rows):
            atomic_write_bytes(folder / f"scatter_{safe_name(label)}.png", scatter_png(rows, label))
