"""Ctrl-C during a run: the first stops at the next checkpoint boundary, the second at once.

A training loop wraps itself in `StopRequest` and asks `StopRequest.requested` where its state
is whole (after an epoch of ``esper run``, after an update of ``esper train``). The first
SIGINT only sets the flag, so the loop writes a final checkpoint and raises `RunInterrupted`;
a second SIGINT raises `KeyboardInterrupt` where the program is, losing the work since the
last checkpoint but nothing before it (checkpoints are written atomically).

The handler is installed only in the main thread (the only one Python delivers signals to)
and the previous one is restored on exit.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

import structlog

log = structlog.get_logger(__name__)

#: Exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


class RunInterrupted(KeyboardInterrupt):
    """A run stopped on request after writing a final checkpoint; the message says where."""


class StopRequest:
    """Defers the first SIGINT to the loop's next safe point (see the module documentation)."""

    def __init__(self, *, unit: str) -> None:
        self.unit = unit
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning(
            f"interrupt: stopping after this {self.unit} with a checkpoint "
            "(press Ctrl-C again to stop at once)"
        )

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
