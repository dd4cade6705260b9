"""SIGTERM/SIGINT-safe training: a signal asks the loop to stop at the next step boundary.

A cluster scheduler sends SIGTERM before killing a job; a person presses Ctrl-C. Either way the
step in flight finishes, the loop saves a checkpoint and exits cleanly. A second Ctrl-C raises
``KeyboardInterrupt`` at once (the periodic checkpoints still bound the loss to one interval).

API::

    with StopOnSignal() as stop:
        for step in ...:
            train_step()
            if any_rank(stop.requested, dist):   # all ranks agree (see distributed.py)
                ckpt.save(step, ...); break

Handlers are installed only in the main thread (``signal`` requires it) and the previous handlers
are restored on exit.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["StopOnSignal"]


class StopOnSignal:
    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
        self.signals = signals
        self.requested = False
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
