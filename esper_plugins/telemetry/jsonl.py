"""``esper.telemetry.jsonl``: every event as one JSON line in the run directory.

Each line is written with one ``write`` call as the event arrives, so a crash loses nothing
already emitted; ``fsync = true`` also forces it to disk (slower, for runs on flaky machines).
The file only ever holds whole lines: a write that fails part-way (a full disk) is cut back
off before the error is reported, and a torn last line found when the file is reopened (a
power cut mid-write) is dropped, so a resumed run never glues its first event onto it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import attrs
import structlog

from esper.plugin import Event, SinkSpec, event_to_dict, hookimpl, resolve_in_run_dir

log = structlog.get_logger(__name__)


@attrs.frozen(kw_only=True)
class JsonlSinkConfig:
    path: str = "events.jsonl"
    fsync: bool = False


class JsonlSink:
    """Appends one JSON line per event to ``path`` (relative paths: inside the run directory)."""

    def __init__(self, config: JsonlSinkConfig, *, run_dir: Path | None = None) -> None:
        self.path = resolve_in_run_dir(
            run_dir, config.path, key="config.telemetry.sinks.jsonl.path"
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fsync = config.fsync
        # Append: one write per event, and a resumed run continues the same log.
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
        try:
            self._size = self._drop_torn_tail(self._fd)
        except OSError:
            os.close(self._fd)
            raise

    def _drop_torn_tail(self, fd: int) -> int:
        """Cut an unterminated last line off; returns the size of the whole lines kept."""
        size = os.fstat(fd).st_size
        end = size
        while end > 0:
            start = max(0, end - 4096)
            chunk = os.pread(fd, end - start, start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            end = start
        else:
            keep = 0
        if keep < size:
            os.ftruncate(fd, keep)
            log.warning(
                "dropped a torn last line left by an interrupted write",
                path=str(self.path),
                bytes=size - keep,
            )
        return keep

    def write(self, event: Event) -> None:
        """Append ``event`` as one line; on failure the file is left as it was."""
        if self._fd is None:
            raise ValueError(f"{self.path}: the sink is closed")
        line = json.dumps(event_to_dict(event), separators=(",", ":"), allow_nan=True) + "\n"
        data = memoryview(line.encode("utf-8"))
        try:
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
            if self._fsync:
                os.fsync(self._fd)
        except OSError:
            # A partial line would run into the next one: cut it back off, then report.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(data)

    def close(self) -> None:
        """Force the file to disk and close it."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@hookimpl
def esper_telemetry_sinks() -> Iterator[SinkSpec]:
    yield SinkSpec(
        name="jsonl",
        factory=JsonlSink,
        config_cls=JsonlSinkConfig,
        summary="Every event as one JSON line (events.jsonl), flushed per event.",
        tags=("default", "file"),
    )
