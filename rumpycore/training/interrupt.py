"""Graceful stops: the first Ctrl-C (SIGINT) or SIGTERM asks the trainer to stop after the
current step and save a resumable state; a second Ctrl-C aborts at once. SIGUSR1 asks for the
same resumable state to be saved while training goes on."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType


class TrainingInterrupted(Exception):
    """Raised inside the trainer once a requested stop has been reached."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


class StopSignals:
    """Context manager that turns SIGINT/SIGTERM into a stop request the loop polls."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self.save_requested = False
        self._previous: dict[int, object] = {}

    def take_save_request(self) -> bool:
        """Whether a SIGUSR1 arrived since the last call."""
        requested, self.save_requested = self.save_requested, False
        return requested

    def _handle_save(self, signum: int, frame: FrameType | None) -> None:
        self.save_requested = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = name
        print(f"\nrumpy: {name} received: saving a resumable state after the current step "
              f"(press Ctrl-C again to abort without saving)", file=sys.stderr)

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
            if hasattr(signal, "SIGUSR1"):
                self._previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, self._handle_save)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
