"""Progress bars and the per-epoch tally printed to the terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from tqdm import tqdm

from ..params import option
from .base import Logger, LoggerContext

REFRESH_SECONDS = 0.5


@dataclass
class ConsoleParams:
    """``[training.logger_params.console]``."""

    log_seconds: float = option(60.0, min=0.0, help="seconds between progress lines when stderr is not a terminal")


def tally(epoch: int, target: int, row: Mapping[str, float]) -> str:
    """One line summarising an epoch: losses, metrics and time."""
    parts = [f"epoch {epoch}/{target}"]
    for key, value in row.items():
        if key == "epoch" or key.endswith("-time"):
            continue
        parts.append(f"{key} {value:.6g}" if key != "learning-rate" else f"lr {value:.3g}")
    if row.get("train-time") and "data-time" in row:
        parts.append(f"data {row['data-time'] / row['train-time']:.0%}")  # waiting and steps slowed by loading
    if "epoch-time" in row:
        parts.append(f"{row['epoch-time']:.1f} s")
    return " | ".join(parts)


class ConsoleLogger(Logger):
    """An epoch bar, a batch bar (running loss, data-wait share, it/s) and a line per epoch.

    On a terminal the bars redraw in place; in a log file a progress line is written every
    ``log_seconds`` instead. The running loss is read from the device only when the display
    refreshes, so the training loop is not synchronised every batch.
    """

    def __init__(self, params: ConsoleParams, ctx: LoggerContext) -> None:
        self.epochs: tqdm | None = None
        self.batches: tqdm | None = None
        self.target = 0
        self.num_batches = 0
        self.bars = sys.stderr.isatty()
        self.interval = REFRESH_SECONDS if self.bars else params.log_seconds

    def run_start(self, info):
        self.target = info.target_epoch
        where = f"resuming after epoch {info.resumed_from}" if info.resumed_from else "starting"
        tqdm.write(f"rumpy: {where}: {info.num_parameters:,} trainable parameters on {info.device}", file=sys.stderr)
        if self.bars:
            self.epochs = tqdm(total=info.target_epoch, initial=info.start_epoch - 1, desc="epochs",
                               unit="epoch", position=0, file=sys.stderr, dynamic_ncols=True)

    def epoch_start(self, epoch, num_batches):
        self.loss_sum = torch.zeros((), dtype=torch.float64)
        self.loss_count = 0
        self.num_batches = num_batches
        self.wait = 0.0
        self.started = time.perf_counter()
        self.last_refresh = self.started
        if self.bars:
            self.batches = tqdm(total=num_batches, desc=f"epoch {epoch}", unit="it", position=1, leave=False,
                                file=sys.stderr, dynamic_ncols=True)

    def batch_end(self, epoch, index, loss, data_wait):
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
        elapsed = max(now - self.started, 1e-9)
        status = (f"loss {float(self.loss_sum) / self.loss_count:.4f}, data wait {self.wait / elapsed:.0%}, "
                  f"{self.loss_count / elapsed:.2f} it/s")
        if self.batches is not None:
            self.batches.set_postfix_str(status, refresh=True)
        else:
            tqdm.write(f"epoch {epoch}: batch {self.loss_count}/{self.num_batches}, {status}", file=sys.stderr)

    def epoch_end(self, epoch, row, history):
        if self.batches is not None:
            self.batches.close()
            self.batches = None
        if self.epochs is not None:
            self.epochs.update(1)
        tqdm.write(tally(epoch, self.target, row), file=sys.stderr)

    def run_end(self, status):
        if self.batches is not None:
            self.batches.close()
        if self.epochs is not None:
            self.epochs.close()
