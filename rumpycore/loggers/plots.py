"""Loss and metric plots (PNG and PDF) in ``result_outputs/``, redrawn after every epoch."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from ..atomic import atomic_write_bytes  # noqa: E402
from .base import Logger, LoggerContext  # noqa: E402

PLOT_NAME = "loss_plots"


def plot_groups(history: Sequence[Mapping[str, float]], metrics: Sequence[str] = ()) -> list[tuple[str, list[str]]]:
    """Panels to draw: losses together, then one panel per metric (all its columns).

    A column's metric is the first of its parts named in ``metrics`` (``val-MAE-blur_sigma``
    belongs to MAE), else its last part (``val-set5-PSNR``).
    """
    columns: list[str] = []
    for row in history:
        columns.extend(k for k in row if k not in columns)
    losses = [c for c in columns if c.endswith("-loss")]
    known = {name.lower(): name for name in metrics}
    groups: dict[str, list[str]] = {}
    for column in columns:
        if column in ("epoch", "learning-rate") or column.endswith("-time") or column in losses:
            continue
        parts = column.split("-")
        named = [known[p.lower()] for p in parts[1:] if p.lower() in known]
        metric = (named[0] if named else parts[-1]) if column.startswith("val-") else column
        groups.setdefault(metric, []).append(column)
    panels = [("loss", losses)] if losses else []
    return panels + list(groups.items())


def draw(history: Sequence[Mapping[str, float]], metrics: Sequence[str] = ()) -> plt.Figure:
    """A figure with one panel per group of columns (see :func:`plot_groups`), against the epoch."""
    panels = plot_groups(history, metrics)
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 3 * len(panels)), sharex=True, squeeze=False)
    for ax, (title, columns) in zip(axes[:, 0], panels):
        for column in columns:
            points = [(row["epoch"], row[column]) for row in history if column in row]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, "o--", label=column)
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1, 0].set_xlabel("epoch")
    fig.tight_layout()
    return fig


class PlotLogger(Logger):
    """Writes ``loss_plots.png`` and ``loss_plots.pdf`` after every epoch."""

    def __init__(self, ctx: LoggerContext) -> None:
        self.results = ctx.results
        self.metrics = list(ctx.metric_directions)

    def epoch_end(self, epoch, row, history):
        fig = draw(history, self.metrics)
        try:
            for fmt in ("png", "pdf"):
                buffer = io.BytesIO()
                fig.savefig(buffer, format=fmt, dpi=100)
                atomic_write_bytes(self.results / f"{PLOT_NAME}.{fmt}", buffer.getvalue())
        finally:
            plt.close(fig)
