"""Reading the parts of a run's ``summary.json`` that the report draws beyond the page's tables.

Only ``esper train``'s ``history`` is read here: each update's record, with the action counts
that the ``train.update`` events do not carry. The page reads the rest of the summary as it is.
"""

from __future__ import annotations

from pathlib import Path

from esper.errors import TelemetryError
from esper.report.errors import ReportError
from esper.report.fields import EventFields
from esper.report.parsing import update_point
from esper.report.records import UpdatePoint


def history_updates(history: object, path: Path) -> list[UpdatePoint]:
    """The updates of a summary's ``history`` list; ``path`` names the file in errors."""
    if not isinstance(history, list):
        raise ReportError(f"{path}: 'history' must be a list")
    points: list[UpdatePoint] = []
    for i, record in enumerate(history):
        if not isinstance(record, dict):
            raise ReportError(f"{path}: history[{i}] must be an object")
        f = EventFields({"type": "history record", **record}, f"{path}: history[{i}]")
        try:
            points.append(update_point(f, with_actions=True))
        except TelemetryError as exc:
            raise ReportError(str(exc)) from None
    return points
