"""Loss and metric plots (PNG and PDF) in ``result_outputs/``, redrawn after every epoch."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from ..atomic import atomic_write_bytes  # noqa: E402
from ..training.history import best_row, direction_lookup  # noqa: E402
from .base import Logger, LoggerContext  # noqa: E402

PLOT_NAME = "loss_plots"


def plot_groups(history: Sequence[Mapping[str, float]], metrics: Sequence[str] = ()) -> list[tuple[str, list[str]]]:
    """Panels to draw: losses together, then one panel per metric (all its columns), then the
    learning rates.

    A column's metric is the first of its parts named in ``metrics`` (``val-MAE-blur_sigma``
    belongs to MAE), else its last part (``val-set5-PSNR``).
    """
    columns: list[str] = []
    for row in history:
        columns.extend(k for k in row if k not in columns)
    losses = [c for c in columns if (c.endswith("-loss") or c.startswith("train-")) and not c.endswith("-time")]
    rates = [c for c in columns if c.startswith("learning-rate")]
    known = {name.lower(): name for name in metrics}
    groups: dict[str, list[str]] = {}
    for column in columns:
        # the epoch is the x axis and the iteration counts steps: neither is a measurement to plot
        if column in ("epoch", "iteration") or column.endswith("-time") or column in losses or column in rates:
            continue
        parts = column.split("-")
        named = [known[p.lower()] for p in parts[1:] if p.lower() in known]
        metric = (named[0] if named else parts[-1]) if column.startswith("val-") else column
        groups.setdefault(metric, []).append(column)
    panels = [("loss", losses)] if losses else []
    return panels + list(groups.items()) + ([("learning rate", rates)] if rates else [])


def _unit(title: str) -> str:
    return f"{title} (dB)" if title == "PSNR" else title


def draw(history: Sequence[Mapping[str, float]], metrics: Sequence[str] = (), title: str = "",
         reference: Mapping[str, float] | None = None, reference_name: str | None = None,
         best_epoch: int | None = None, best_column: str | None = None) -> plt.Figure:
    """A figure with one panel per group of columns (see :func:`plot_groups`) against whole epochs:
    the reference's values dashed, the best epoch marked, the run's name on top."""
    from matplotlib.ticker import MaxNLocator

    reference = reference or {}
    panels = plot_groups(history, metrics)
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 3 * len(panels)), sharex=True, squeeze=False)
    for ax, (name, columns) in zip(axes[:, 0], panels):
        for column in columns:
            points = [(row["epoch"], row[column]) for row in history if column in row]
            if not points:
                continue
            xs, ys = zip(*points)
            line = ax.plot(xs, ys, "o-", markersize=3, label=column)[0]
            if column in reference:
                ax.axhline(reference[column], linestyle="--", color=line.get_color(), linewidth=1,
                           label=f"{column}, {reference_name}")
            if column == best_column and best_epoch is not None:
                best = next(row for row in history if row["epoch"] == best_epoch)
                ax.plot([best_epoch], [best[column]], "*", markersize=14, color=line.get_color(),
                        label=f"best: epoch {best_epoch}")
        if best_epoch is not None:
            ax.axvline(best_epoch, linestyle=":", color="grey", linewidth=1)
        if name == "learning rate" and all(row.get(c, 1) > 0 for row in history for c in columns):
            ax.set_yscale("log")
        ax.set_ylabel(_unit(name))
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1, 0].set_xlabel("epoch")
    axes[-1, 0].xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    epochs = [row["epoch"] for row in history]
    if epochs:  # a little room either side, and never a fractional tick, even for a single epoch
        axes[-1, 0].set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, stem) -> None:
    """Write ``fig`` as ``<stem>.png`` and ``<stem>.pdf`` (atomically) and close it."""
    try:
        for fmt in ("png", "pdf"):
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, dpi=100)
            atomic_write_bytes(stem.with_name(f"{stem.name}.{fmt}"), buffer.getvalue())
    finally:
        plt.close(fig)


class PlotLogger(Logger):
    """Writes ``loss_plots.png`` and ``loss_plots.pdf`` after every epoch."""

    def __init__(self, ctx: LoggerContext) -> None:
        self.results = ctx.results
        self.metrics = list(ctx.metric_directions)
        self.title = f"{ctx.experiment} ({ctx.folder.name})" if ctx.folder.name != ctx.experiment else ctx.experiment
        self.best_column = ctx.best_metric
        self.higher_is_better = direction_lookup(ctx.metric_directions)(ctx.best_metric or "")
        self.reference: Mapping[str, float] = {}
        self.reference_name: str | None = None

    def run_start(self, info):
        self.reference, self.reference_name = info.reference, info.reference_name

    def epoch_end(self, epoch, row, history):
        best = best_row(history, self.best_column, self.higher_is_better) if self.best_column else None
        fig = draw(history, self.metrics, self.title, self.reference, self.reference_name,
                   int(best["epoch"]) if best else None, self.best_column)
        save_figure(fig, self.results / PLOT_NAME)
