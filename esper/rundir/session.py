"""One run's surroundings: run directory, resolved config, telemetry, logging and lifecycle hooks.

Every command that trains (``esper run``, ``esper train``, ``esper resume``) wraps its work in a
`RunSession`::

    with RunSession(manager, config, command="run") as session:
        session.emit(SomeEvent(...))

On entry it creates the run directory, writes the resolved config atomically, builds the
selected telemetry sinks, binds ``run_id`` into the logging context, calls the
``esper_configure`` and ``esper_run_start`` hooks and emits ``run.started``. On exit it emits
``run.ended`` and calls ``esper_run_end`` with the status: ``finished``, ``interrupted``
(Ctrl-C) or ``crashed`` (any other exception, which still propagates). A run that stops
without finishing and has a checkpoint gets a warning that says how to resume it. Opening a
directory clears the temporary files of atomic writes that a kill interrupted there.
"""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog
import tomli_w

from esper.config import EsperConfig, unstructure
from esper.errors import EsperError
from esper.registry import Registries
from esper.registry.context import RunContext
from esper.registry.manager import EsperPluginManager
from esper.rundir import layout
from esper.rundir.atomic import remove_stale_temporaries, write_text_atomic
from esper.telemetry import Event, Sink, TelemetryBus
from esper.telemetry.events import RunEnded, RunStarted

log = structlog.get_logger(__name__)

#: Checkpoint files of ``esper run`` and ``esper train``, for the hint after a stopped run.


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def exit_status(exc_type: type[BaseException] | None) -> str:
    """How a session that ``exc_type`` (None: none) ended: ``finished``, ``interrupted`` (Ctrl-C)
    or ``crashed``, the ``status`` of its ``run.ended`` event."""
    if exc_type is None:
        return "finished"
    return "interrupted" if issubclass(exc_type, KeyboardInterrupt) else "crashed"


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

    @property
    def checkpoint(self) -> Path | None:
        """The run's checkpoint file (``checkpoint.pt`` or ``policy.pt``), if one exists."""
        for name in layout.CHECKPOINTS.values():
            if (self.run_dir / name).is_file():
                return self.run_dir / name
        return None

    def emit(self, event: Event) -> None:
        """Hand ``event`` to every sink and to the ``esper_telemetry_event`` hook."""
        self.bus.emit(event)

    def __enter__(self) -> RunSession:
        self._started = time.perf_counter()
        created = not self.run_dir.exists()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._open()
        except BaseException:
            # A run that could not start (a bad sink path, a hook that raised) leaves no
            # half-made directory behind; an existing one (a resume) is left as it was.
            self._close_handlers()
            if created:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise
        return self

    def _open(self) -> None:
        from esper.telemetry import logs

        # Temporary files of writes that a kill interrupted (a resumed run's directory).
        for stale in remove_stale_temporaries(self.run_dir):
            log.info("removed a temporary file left by an interrupted write", path=str(stale))
        config_data = unstructure(self.config)
        write_text_atomic(self.run_dir / layout.CONFIG, tomli_w.dumps(config_data))
        registry = Registries(self.manager)["telemetry_sinks"]
        sinks: list[tuple[str, Sink]] = []
        # Handed to the bus as they are built, so that a later one failing closes them.
        self.bus = TelemetryBus(sinks, run_id=self.run_id, hook=self._call_event_hook)
        for name, component in self.config.sinks.items():
            sink = registry.get(component.id).build(component.options, run_dir=self.run_dir)
            self.bus.sinks.append((name, sink))
        self._context = structlog.contextvars.bound_contextvars(run_id=self.run_id)
        self._context.__enter__()
        self._log_handler = logs.add_run_log(self.run_dir / layout.LOG)
        self.manager.hook.esper_configure.call_historic(kwargs={"config": self.config})
        self.manager.hook.esper_run_start(run=self.context)
        self.emit(RunStarted(command=self.command, config=config_data))
        log.info("run started", run_dir=str(self.run_dir), command=self.command)

    def _close_handlers(self) -> None:
        from esper.telemetry import logs

        self.bus.close()
        if self._log_handler is not None:
            logs.remove_run_log(self._log_handler)
            self._log_handler = None
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = None

    def _call_event_hook(self, event: Event) -> None:
        self.manager.hook.esper_telemetry_event(event=event)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.status = exit_status(exc_type)
        wall = time.perf_counter() - self._started
        try:
            self.emit(RunEnded(status=self.status, wall_time_s=wall))
            self.manager.hook.esper_run_end(run=self.context, status=self.status)
            log.info("run ended", status=self.status, wall_time_s=round(wall, 3))
            # Not after a usage error (a bad config, a foreign checkpoint): resuming would
            # only meet it again.
            usage_error = isinstance(exc, EsperError) and exc.exit_code == 2
            if self.status != "finished" and not usage_error and self.checkpoint is not None:
                log.warning(
                    f"run {self.status}; its last checkpoint is intact: "
                    f"esper resume {self.run_dir}",
                    checkpoint=self.checkpoint.name,
                )
        finally:
            self._close_handlers()
