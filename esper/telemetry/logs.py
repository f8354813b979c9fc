"""structlog set-up for the ``esper`` CLI.

Library and plugin code only ever calls ``structlog.get_logger(__name__)``; configuring logging
is the application's job, so only the CLI (and the test fixtures) call `configure`. Human
output goes to stderr (stdout belongs to command output such as ``--json``); a run also gets
machine-readable JSON lines in the run directory's ``log.jsonl``. Both go through the standard library's
logging, so warnings from torch and other libraries land in the same places.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Any

import structlog

_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,  # run_id / env_id bound with bound_contextvars
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]

_FILE_HANDLER_NAME = "esper-run-log"


def configure(*, verbosity: int = 0, quiet: bool = False) -> None:
    """Send esper's logs to stderr: warnings by default, ``-v`` info, ``-vv`` debug."""
    level = (
        logging.ERROR
        if quiet
        else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)]
    )
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,  # cached loggers cannot be pickled into worker processes
    )
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    console.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
            ],
        )
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "name", None) != _FILE_HANDLER_NAME:
            root.removeHandler(handler)
    root.addHandler(console)
    root.setLevel(logging.DEBUG)


class _RunLogHandler(logging.FileHandler):
    """A file handler that a failing disk silences instead of printing a traceback per record.

    The first failure is reported in one line on stderr; the run goes on without its file log
    (the event log and checkpoints report their own write errors).
    """

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:
        if not self.failed:
            self.failed = True
            error = sys.exc_info()[1]
            sys.stderr.write(f"esper: cannot write {self.baseFilename}: {error}; file log off\n")

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def flush(self) -> None:
        try:
            super().flush()
        except OSError:
            self.failed = True

    def close(self) -> None:
        try:
            super().close()
        except OSError:
            self.failed = True


def add_run_log(path: Path) -> logging.Handler:
    """Also write every log record as JSON to ``path`` (a run's ``log.jsonl``); returns the
    handler to remove."""
    handler = _RunLogHandler(path, encoding="utf-8")
    handler.set_name(_FILE_HANDLER_NAME)
    handler.setLevel(logging.INFO)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.dict_tracebacks,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    logging.getLogger().addHandler(handler)
    return handler


def remove_run_log(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()
