"""``esper.telemetry.jsonl``: every event as one JSON line in the run directory.

Each line is written and flushed as the event arrives, so a crash loses nothing already
emitted; ``fsync = true`` also forces it to disk (slower, for runs on flaky machines).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import attrs

from esper.paths import resolve_in_run_dir
from esper.plugin import SinkSpec, hookimpl
from esper.telemetry import Event, event_to_dict


@attrs.frozen(kw_only=True)
class JsonlSinkConfig:
    path: str = "events.jsonl"
    fsync: bool = False


class JsonlSink:
    def __init__(self, config: JsonlSinkConfig, *, run_dir: Path | None = None) -> None:
        self.path = resolve_in_run_dir(run_dir, config.path, key="telemetry.sinks.jsonl.path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fsync = config.fsync
        # Line-buffered append: one write per event, and a resumed run continues the same log.
        self._fh = self.path.open("a", encoding="utf-8", buffering=1)

    def write(self, event: Event) -> None:
        self._fh.write(
            json.dumps(event_to_dict(event), separators=(",", ":"), allow_nan=True) + "\n"
        )
        self._fh.flush()
        if self._fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


@hookimpl
def esper_telemetry_sinks() -> Iterator[SinkSpec]:
    yield SinkSpec(
        name="jsonl",
        factory=JsonlSink,
        config_cls=JsonlSinkConfig,
        summary="Every event as one JSON line (events.jsonl), flushed per event.",
        tags=("default", "file"),
    )
