"""Load a run directory into a typed `RunData` for the report (no torch, no matplotlib).

A run directory holds ``config.toml`` and, once it has done anything, ``events.jsonl``; a run
that finished also holds ``summary.json``. All three are read through `esper.rundir.layout`.
The pieces live beside this module: the records in `esper.report.records`, the event log in
`esper.report.events`, the summary's history in `esper.report.summary`; their names are
importable from here too, where callers have always found them.
"""

from __future__ import annotations

from pathlib import Path

from esper.report.errors import ReportError
from esper.report.events import EventLog, read_event_log
from esper.report.records import (
    EpochPoint,
    Rollback,
    RunData,
    RunKind,
    SeedMark,
    SeedMarkKind,
    StageChange,
    UpdatePoint,
)
from esper.report.summary import history_updates
from esper.rundir import layout
from esper.rundir.layout import RunFileError

__all__ = [
    "EpochPoint",
    "ReportError",
    "Rollback",
    "RunData",
    "RunKind",
    "SeedMark",
    "SeedMarkKind",
    "StageChange",
    "UpdatePoint",
    "load_run",
]


def load_run(path: str | Path) -> RunData:
    """Read one run directory (``esper run`` or ``esper train``) into a `RunData`.

    Raises `ReportError` (or `esper.errors.TelemetryError` for the event log) naming the file,
    and the line where there is one, when the directory is not a run directory or a file in it
    is malformed.
    """
    path = Path(path)
    if not path.is_dir():
        what = "no such directory" if not path.exists() else "not a directory"
        raise ReportError(f"{path}: not a run directory ({what})")
    events_path, summary_path = path / layout.EVENTS, path / layout.SUMMARY
    try:
        config, config_text = layout.read_config(path)
        summary = layout.read_summary(path)
    except RunFileError as exc:
        raise ReportError(str(exc)) from None
    if not events_path.is_file() and summary is None:
        raise ReportError(f"{path}: run directory has neither {layout.EVENTS} nor {layout.SUMMARY}")
    log = read_event_log(path) if events_path.is_file() else EventLog()

    # esper run's summary has no "command"; without a summary, run.started says.
    training = summary.get("command") == "train" if summary is not None else log.training
    kind: RunKind = "train" if training else "run"
    updates = log.updates
    if kind == "train" and summary is not None and "history" in summary:
        # The summary's history also has each update's action counts.
        updates = history_updates(summary["history"], summary_path)
    if kind == "run" and not log.epochs and summary is None:
        raise ReportError(f"{events_path}: no engine.epoch events (the run did no epoch)")
    return RunData(
        path=path,
        name=path.resolve().name,
        kind=kind,
        config=config,
        config_text=config_text,
        summary=summary,
        epochs=log.epochs,
        seeds=log.seeds,
        stage_changes=log.stage_changes,
        rollbacks=log.rollbacks,
        updates=updates,
        status=log.status,
    )
