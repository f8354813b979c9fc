"""One run's surroundings: run directory, resolved config, telemetry, logging and lifecycle hooks.

Every command that trains (``esper run``, ``esper train``, ``esper resume``) wraps its work in a
`RunSession`::

    with RunSession(manager, config, command="run") as session:
        session.emit(SomeEvent(...))

On entry it creates the run directory, writes the resolved config atomically, builds the
selected telemetry sinks, binds ``run_id`` into the logging context, calls the
``esper_configure`` and ``esper_run_start`` hooks and emits ``run.started``. On exit it emits
``run.ended`` and calls ``esper_run_end`` with the status: ``finished``, ``interrupted``
(Ctrl-C) or ``crashed`` (any other exception, which still propagates).
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog
import tomli_w

from esper.atomic import write_text_atomic
from esper.config import EsperConfig, unstructure
from esper.manager import EsperPluginManager
from esper.registry import Registries
from esper.run_context import RunContext
from esper.telemetry import Event, Sink, TelemetryBus
from esper.telemetry.events import RunEnded, RunStarted

log = structlog.get_logger(__name__)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


class RunSession:
    def __init__(
        self,
        manager: EsperPluginManager,
        config: EsperConfig,
        *,
        command: str,
        run_dir: Path | None = None,
        run_id: str | None = None,
    ) -> None:
        self.manager = manager
        self.config = config
        self.command = command
        self.run_id = run_id or new_run_id()
        self.run_dir = Path(run_dir) if run_dir is not None else Path(config.run.out) / self.run_id
        self.status = "running"
        self.bus = TelemetryBus(run_id=self.run_id)
        self._started = 0.0
        self._log_handler: Any = None
        self._context: Any = None

    @property
    def context(self) -> RunContext:
        return RunContext(
            run_id=self.run_id, run_dir=self.run_dir, command=self.command, config=self.config
        )

    def emit(self, event: Event) -> None:
        self.bus.emit(event)

    def __enter__(self) -> RunSession:
        from esper import logs

        self._started = time.perf_counter()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config_data = unstructure(self.config)
        write_text_atomic(self.run_dir / "config.toml", tomli_w.dumps(config_data))
        registry = Registries(self.manager)["telemetry_sinks"]
        sinks: list[tuple[str, Sink]] = []
        for name, component in self.config.sinks.items():
            sink = registry.get(component.id).build(component.options, run_dir=self.run_dir)
            sinks.append((name, sink))
        self.bus = TelemetryBus(sinks, run_id=self.run_id, hook=self._call_event_hook)
        self._context = structlog.contextvars.bound_contextvars(run_id=self.run_id)
        self._context.__enter__()
        self._log_handler = logs.add_run_log(self.run_dir)
        self.manager.hook.esper_configure.call_historic(kwargs={"config": self.config})
        self.manager.hook.esper_run_start(run=self.context)
        self.emit(RunStarted(command=self.command, config=config_data))
        log.info("run started", run_dir=str(self.run_dir), command=self.command)
        return self

    def _call_event_hook(self, event: Event) -> None:
        self.manager.hook.esper_telemetry_event(event=event)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from esper import logs

        if exc_type is None:
            self.status = "finished"
        elif issubclass(exc_type, KeyboardInterrupt):
            self.status = "interrupted"
        else:
            self.status = "crashed"
        wall = time.perf_counter() - self._started
        try:
            self.emit(RunEnded(status=self.status, wall_time_s=wall))
            self.manager.hook.esper_run_end(run=self.context, status=self.status)
            log.info("run ended", status=self.status, wall_time_s=round(wall, 3))
        finally:
            self.bus.close()
            if self._log_handler is not None:
                logs.remove_run_log(self._log_handler)
            if self._context is not None:
                self._context.__exit__(None, None, None)
