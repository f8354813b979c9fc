"""The telemetry bus: one `emit` that fans each event out to every selected sink.

A sink that raises is reported (once, as a warning, and as a ``telemetry.sink_failed`` event
to the other sinks) and counted; it never stops the run. Emitting is synchronous: events are
small and infrequent (per epoch, per seed transition), and a synchronous write is what lets
the JSONL sink promise that a crash loses nothing already emitted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import attrs
import structlog

from esper.telemetry.events import Event, SinkFailed

log = structlog.get_logger(__name__)


@runtime_checkable
class Sink(Protocol):
    """What a telemetry sink implements."""

    def write(self, event: Event) -> None:
        """Receive one event."""

    def close(self) -> None:
        """Flush and release resources; called once at the end of the run."""


class TelemetryBus:
    """Stamps events with the run id and hands them to each sink and to the event hook."""

    def __init__(
        self,
        sinks: Sequence[tuple[str, Sink]] = (),
        *,
        run_id: str = "",
        hook: Callable[[Event], object] | None = None,
    ) -> None:
        self.sinks = list(sinks)
        self.run_id = run_id
        self.hook = hook
        self.failures: Counter[str] = Counter()
        self.emitted: Counter[str] = Counter()
        self._closed = False

    def emit(self, event: Event) -> None:
        if self.run_id and not event.run_id:
            event = attrs.evolve(event, run_id=self.run_id)
        self.emitted[event.type] += 1
        failed: list[tuple[str, Exception]] = []
        for name, sink in self.sinks:
            try:
                sink.write(event)
            except Exception as exc:
                failed.append((name, exc))
        if self.hook is not None:
            try:
                self.hook(event)
            except Exception as exc:
                failed.append(("esper_telemetry_event hook", exc))
        for name, error in failed:
            self._report(name, error, event)

    def _report(self, name: str, exc: Exception, event: Event) -> None:
        self.failures[name] += 1
        if self.failures[name] == 1:
            log.warning(
                "telemetry sink failed; the run continues",
                sink=name,
                error=repr(exc),
                event_type=event.type,
            )
        if isinstance(event, SinkFailed):
            return  # never report a failure about a failure report (no loops)
        notice = SinkFailed(
            sink=name, error=repr(exc), failures=self.failures[name], run_id=self.run_id
        )
        for other, sink in self.sinks:
            if other == name:
                continue
            try:
                sink.write(notice)
            except Exception:
                self.failures[other] += 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for name, sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:
                self.failures[name] += 1
                log.warning("telemetry sink failed to close", sink=name, error=repr(exc))

    def __enter__(self) -> TelemetryBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
