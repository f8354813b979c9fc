"""The telemetry of ``esper eval``: ``run.started``, ``eval.summary`` and ``run.ended``.

An evaluation sends its events to the sinks its configuration's ``[telemetry]`` table selects,
built with the evaluation directory as their run directory, and to the
``esper_telemetry_event`` hook. Without that table it selects no sink (a run's default,
``jsonl``, is not implied): ``eval.json`` and ``eval.md`` already hold what ``eval.summary``
carries, and the evaluation directory keeps the files it always had.

``run.started`` (command ``eval``, the base configuration every cell starts from) is emitted
before the first cell and ``run.ended`` after the last, with ``finished``, ``interrupted``
(Ctrl-C) or ``crashed``; the cells themselves emit nothing. Each invocation has a run id of
its own, so a tracker sees every rerun of the same evaluation directory as a new run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from esper.config.loading import structure
from esper.config.schema import Component
from esper.registry import Registries
from esper.rundir.session import exit_status, new_run_id
from esper.telemetry import Event, TelemetryBus
from esper.telemetry.events import RunEnded, RunStarted


def selected_sinks(raw: Mapping[str, Any], registries: Registries) -> dict[str, Component]:
    """The sinks that ``raw``'s ``[telemetry]`` table selects; none when it has no such table."""
    if raw.get("telemetry") is None:
        return {}
    return structure(raw, registries, source=None).sinks


class EvalTelemetry:
    """The bus of one ``esper eval`` invocation, open for the ``with`` block it wraps."""

    def __init__(
        self,
        sinks: Mapping[str, Component],
        registries: Registries,
        eval_dir: Path,
        *,
        config: dict[str, Any],
    ) -> None:
        self.sinks = dict(sinks)
        self.registries = registries
        self.eval_dir = eval_dir
        self.config = config
        self.bus = TelemetryBus(run_id=new_run_id(), hook=self._call_event_hook)
        self._started = 0.0

    def _call_event_hook(self, event: Event) -> None:
        self.registries.manager.hook.esper_telemetry_event(event=event)

    def emit(self, event: Event) -> None:
        self.bus.emit(event)

    def __enter__(self) -> EvalTelemetry:
        self._started = time.perf_counter()
        registry = self.registries["telemetry_sinks"]
        try:
            for name, component in self.sinks.items():
                sink = registry.get(component.id).build(component.options, run_dir=self.eval_dir)
                self.bus.sinks.append((name, sink))
        except BaseException:
            self.bus.close()  # the sinks built before the one that failed
            raise
        self.emit(RunStarted(command="eval", config=self.config))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        wall = time.perf_counter() - self._started
        try:
            self.emit(RunEnded(status=exit_status(exc_type), wall_time_s=wall))
        finally:
            self.bus.close()
