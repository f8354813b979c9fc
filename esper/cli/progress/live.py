"""The machinery of the progress output shared by ``esper run`` and ``esper train``: the mode
(live, lines or quiet), the rich Live around the command, the clock and ETA, and log lines.

The live display is drawn only when stderr is a terminal; rich's Live is imported then.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import click

from esper.cli.progress.formatting import format_clock

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live


def live_console(quiet: bool, console: Console | None) -> Console | None:
    """The console of the live display, or None for plain lines (or nothing when quiet)."""
    if quiet:
        return None
    if console is not None:
        return console if console.is_terminal else None
    if not sys.stderr.isatty():
        return None
    from rich.console import Console

    return Console(file=sys.stderr)


class LiveDisplay:
    """Shared machinery: the rich Live around the command, elapsed time and the ETA."""

    def __init__(self, quiet: bool, console: Console | None) -> None:
        self.quiet = quiet
        self.console = live_console(quiet, console)
        #: The clock of elapsed time and ETA (tests put a fixed one here).
        self.now: Callable[[], float] = time.perf_counter
        self.started = self.now()
        self._live: Live | None = None
        self._log_handlers: list[tuple[logging.StreamHandler[Any], Any]] = []

    @property
    def live(self) -> bool:
        """Whether this object draws a live display (else plain lines, or nothing when quiet)."""
        return self.console is not None

    def __enter__(self) -> Any:
        self.started = self.now()
        if self.console is None:
            return self
        from rich.live import Live

        stderr = sys.stderr
        # The display asks for itself (`__rich__`) at each refresh, so the clock keeps moving.
        self._live = Live(self, console=self.console, refresh_per_second=2)
        self._live.start()
        if sys.stderr is not stderr:
            # Live redirected stderr so that other output appears above the display; the log
            # handler kept the real stream and would draw through it, so point it at the proxy.
            for handler in logging.getLogger().handlers:
                if type(handler) is logging.StreamHandler and handler.stream is stderr:
                    self._log_handlers.append((handler, stderr))
                    handler.setStream(sys.stderr)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for handler, stream in self._log_handlers:
            handler.setStream(stream)
        self._log_handlers.clear()
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None

    def __rich__(self) -> RenderableType:
        """What the live display shows (each command's display says)."""
        raise NotImplementedError

    def refresh(self) -> None:
        """Redraw the live display now (it also redraws itself twice a second)."""
        if self._live is not None:
            self._live.refresh()

    def eta(self, done: int, remaining: int) -> float | None:
        """Seconds left, from the pace of the ``done`` units finished since the start."""
        if done <= 0:
            return None
        return remaining * (self.now() - self.started) / done

    def clock(self, done: int, remaining: int) -> str:
        """``elapsed 1:02  ETA 3:04`` for the header of the live display."""
        elapsed = self.now() - self.started
        return f"elapsed {format_clock(elapsed)}  ETA {format_clock(self.eta(done, remaining))}"

    def print(self, line: str) -> None:
        """A log line: above the live display, or on stderr."""
        if self.quiet:
            return
        if self.console is not None:
            self.console.print(line, markup=False, highlight=False)
        else:
            click.echo(line, err=True)
