"""`ReportError`: the one error of `esper.report`, in a module of its own so that every reader
of a run directory (config, event log, summary) can raise it without importing the others."""

from __future__ import annotations

from esper.rundir.layout import RunFileError


class ReportError(RunFileError):
    """A run directory cannot be reported on (missing or malformed files)."""
