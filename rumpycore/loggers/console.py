"""Progress bars, the per-epoch tally and the closing summary printed to the terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from tqdm import tqdm

from ..params import option
from ..training.history import best_row, direction_lookup
from .base import Logger, LoggerContext

REFRESH_SECONDS = 0.5


@dataclass
class ConsoleParams:
    """``[training.logger_params.console]``."""

    log_seconds: float = option(60.0, min=0.0, help="seconds between progress lines when stderr is not a terminal")


def value_text(column: str, value: float) -> str:
    """A summary value as people read it: PSNR in dB with two decimals, others to six digits."""
    return f"{value:.2f} dB" if column.endswith("PSNR") else f"{value:.6g}"


def tally(epoch: int, target: int, row: Mapping[str, float], reference: Mapping[str, float] | None = None,
          reference_name: str | None = None) -> str:
    """One line summarising an epoch: losses, metrics (beside the reference's value), data share, time."""
    parts = [f"epoch {epoch}/{target}"]
    for key, value in row.items():
        if key == "epoch" or key.endswith("-time"):
            continue
        if key.startswith("learning-rate"):
            parts.append(f"{key.replace('learning-rate', 'lr')} {value:.3g}")
            continue
        text = f"{key} {value_text(key, value)}"
        if reference and key in reference and key != "val-loss" and not key.startswith("val-loss"):
            text += f" ({reference_name} {value_text(key, reference[key])})"
        parts.append(text)
    if row.get("train-time") and "data-time" in row:
        parts.append(f"data {row['data-time'] / row['train-time']:.0%}")  # waiting and steps slowed by loading
    if "epoch-time" in row:
        parts.append(f"{row['epoch-time']:.1f} s")
    return " | ".join(parts)


def duration(seconds: float) -> str:
    """``1 h 02 min``, ``2 min 41 s`` or ``7.3 s``."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{seconds:.1f} s"


def rate_text(steps: float, seconds: float) -> str:
    """Steps per second, as ``it/s`` from one a second up and as ``s/it`` below."""
    if seconds <= 0 or steps <= 0:
        return "- it/s"
    rate = steps / seconds
    return f"{rate:.2f} it/s" if rate >= 1 else f"{1 / rate:.2f} s/it"


def closing_summary(history: Sequence[Mapping[str, float]], column: str, higher_is_better: bool,
                    reference: Mapping[str, float], reference_name: str | None) -> str | None:
    """``best: epoch 9, val-PSNR 29.40 dB, bicubic 28.80 dB (+0.60); last: epoch 10, 29.35 dB``."""
    best = best_row(history, column, higher_is_better)
    if best is None:
        return None
    text = f"best: epoch {int(best['epoch'])}, {column} {value_text(column, best[column])}"
    if column in reference:
        gain = best[column] - reference[column]
        unit = " dB" if column.endswith("PSNR") else ""
        text += f", {reference_name} {value_text(column, reference[column])} ({gain:+.2f}{unit})"
    last = next((row for row in reversed(history) if column in row), None)
    if last is not None and last is not best:
        text += f"; last: epoch {int(last['epoch'])}, {value_text(column, last[column])}"
    return text


class ConsoleLogger(Logger):
    """An epoch bar, a batch bar (running loss, data-wait share, rate, time left in the epoch and
    the run), a line per epoch, and a closing line with the best epoch against the reference.

    On a terminal the bars redraw in place; in a log file a progress line is written every
    ``log_seconds`` instead. The running loss is read from the device only when the display
    refreshes, so the training loop is not synchronised every batch.
    """

    def __init__(self, params: ConsoleParams, ctx: LoggerContext) -> None:
        self.epochs: tqdm | None = None
        self.batches: tqdm | None = None
        self.bars = sys.stderr.isatty()
        self.interval = REFRESH_SECONDS if self.bars else params.log_seconds
        self.best_metric = ctx.best_metric
        self.higher_is_better = direction_lookup(ctx.metric_directions)(ctx.best_metric or "")
        self.target = 0
        self.reference: Mapping[str, float] = {}
        self.reference_name: str | None = None
        self.history: Sequence[Mapping[str, float]] = []
        self.epoch_seconds: float | None = None

    def run_start(self, info):
        self.target = info.target_epoch
        self.reference, self.reference_name = info.reference, info.reference_name
        self.history = list(info.history)
        where = f"resuming after epoch {info.resumed_from}" if info.resumed_from else "starting"
        line = f"rumpy: {where}: {info.num_parameters:,} trainable parameters on {info.device}"
        if self.reference and self.best_metric in self.reference:
            line += (f"; {self.reference_name} reference {self.best_metric} "
                     f"{value_text(self.best_metric, self.reference[self.best_metric])}")
        tqdm.write(line, file=sys.stderr)
        if self.bars:
            self.epochs = tqdm(total=info.target_epoch, initial=info.start_epoch - 1, desc="epochs", unit="epoch",
                               position=0, file=sys.stderr, dynamic_ncols=True,
                               bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| {postfix}")

    def epoch_start(self, epoch, num_batches):
        self.epoch = epoch
        self.loss_sum = torch.zeros((), dtype=torch.float64)
        self.loss_count = 0
        self.done_before = None
        self.num_batches = num_batches
        self.wait = 0.0
        self.started = time.perf_counter()
        self.last_refresh = self.started
        if self.bars:
            self.batches = tqdm(total=num_batches, desc=f"epoch {epoch}", position=1, leave=False, file=sys.stderr,
                                dynamic_ncols=True, bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| {postfix}")

    def batch_end(self, epoch, index, loss, data_wait):
        if self.done_before is None:  # a resumed epoch starts where the stopped one was
            self.done_before = index - 1
            if self.batches is not None and self.done_before:
                self.batches.update(self.done_before)
        if self.loss_sum.device != loss.device:
            self.loss_sum = self.loss_sum.to(loss.device)
        self.loss_sum += loss.detach().double()
        self.loss_count += 1
        self.wait += data_wait
        if self.batches is not None:
            self.batches.update(1)
        now = time.perf_counter()
        if now - self.last_refresh < self.interval:
            return
        self.last_refresh = now
        status = self._status(index, now - self.started)
        if self.batches is not None:
            self.batches.set_postfix_str(status, refresh=True)
        else:
            tqdm.write(f"epoch {epoch}: batch {index}/{self.num_batches}, {status}", file=sys.stderr)

    def _status(self, index: int, elapsed: float) -> str:
        elapsed = max(elapsed, 1e-9)
        per_step = elapsed / self.loss_count
        epoch_left = per_step * max(self.num_batches - index, 0)
        epochs_left = self.target - self.epoch
        # later epochs take as long as the last whole one (evaluation included), else this one's steps
        whole = self.epoch_seconds if self.epoch_seconds is not None else per_step * self.num_batches
        run_left = epoch_left + epochs_left * whole
        return (f"loss {float(self.loss_sum) / self.loss_count:.4f}, data wait {self.wait / elapsed:.0%}, "
                f"{rate_text(self.loss_count, elapsed)}, epoch left {duration(epoch_left)}, "
                f"run left {duration(run_left)}")

    def epoch_end(self, epoch, row, history):
        self.history = list(history)
        self.epoch_seconds = row.get("epoch-time", self.epoch_seconds)
        if self.batches is not None:
            self.batches.close()
            self.batches = None
        if self.epochs is not None:
            self.epochs.update(1)
            if self.epoch_seconds is not None:
                left = (self.target - epoch) * self.epoch_seconds
                self.epochs.set_postfix_str(f"{duration(self.epoch_seconds)} an epoch, run left {duration(left)}")
        tqdm.write(tally(epoch, self.target, row, self.reference, self.reference_name), file=sys.stderr)

    def run_end(self, status):
        if self.batches is not None:
            self.batches.close()
        if self.epochs is not None:
            self.epochs.close()
        if self.best_metric and status in ("finished", "early-stopped"):
            line = closing_summary(self.history, self.best_metric, self.higher_is_better, self.reference,
                                   self.reference_name)
            if line is not None:
                tqdm.write(f"rumpy: {line}", file=sys.stderr)

