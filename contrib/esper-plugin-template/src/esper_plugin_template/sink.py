"""The ``template:csv`` telemetry sink: one CSV row per event, flushed as it arrives.

Columns: ``type``, ``ts``, ``epoch``, ``env_id`` and ``fields``, a JSON object holding the
event's other scalar fields (strings, numbers, booleans, nulls); nested values such as a
run's full config are left out, since they belong in ``events.jsonl``. An existing file is
appended to without a second header, so a resumed run continues the same table.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from esper.plugin import Event, event_to_dict, resolve_in_run_dir

from esper_plugin_template.config import CsvSinkConfig

COLUMNS = ("type", "ts", "epoch", "env_id", "fields")

# Keys that get a column of their own, or that describe the record rather than the event.
_OWN_COLUMNS = frozenset({"type", "schema", "ts", "epoch", "env_id"})


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


class CsvSink:
    """Writes each event of a run as one CSV row (see the module docstring)."""

    def __init__(self, config: CsvSinkConfig, *, run_dir: Path | None = None) -> None:
        self.path = resolve_in_run_dir(
            run_dir, config.path, key='telemetry.sinks."template:csv".path'
        )
        self.types = frozenset(config.types)
        self.rows = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        needs_header = not self.path.exists() or self.path.stat().st_size == 0
        # newline="" is what the csv module asks for; it writes its own line endings.
        self._fh = self.path.open("a", encoding="utf-8", newline="")
        self._writer = csv.writer(self._fh)
        if needs_header:
            self._writer.writerow(COLUMNS)
            self._fh.flush()

    def write(self, event: Event) -> None:
        if self.types and event.type not in self.types:
            return
        data = event_to_dict(event)
        fields = {k: v for k, v in data.items() if k not in _OWN_COLUMNS and _is_scalar(v)}
        self._writer.writerow(
            (
                event.type,
                repr(event.ts),
                "" if event.epoch is None else event.epoch,
                "" if event.env_id is None else event.env_id,
                json.dumps(fields, sort_keys=True, separators=(",", ":")),
            )
        )
        # Flush per row: a crash loses nothing already emitted (events are infrequent).
        self._fh.flush()
        self.rows += 1

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
