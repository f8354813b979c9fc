"""Reading a growing ``events.jsonl`` incrementally: each poll reads only what was appended.

`EventTail` keeps a byte offset and hands back the complete lines written since the last poll,
each as a checked JSON object (`esper.telemetry.events.parse_event_object`). A last line without
its newline is still being written: it is left for the next poll. The file is opened read-only
for each poll and closed at once, so the watched run is never locked, and a file that does not
exist yet reads as empty. A file that got shorter or was replaced (another inode: rotated) is
read again from its start, and the caller is told (`Batch.restarted`) so it can forget what it
had folded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from esper.errors import TelemetryError
from esper.telemetry.events import parse_event_object

#: What one poll reads at most: a long log is replayed over several polls, so the dashboard
#: answers keys in between.
MAX_BYTES = 2 << 20


@attrs.frozen
class Batch:
    """What one poll found."""

    #: ``(line number, checked JSON object)`` of every complete new line that is an event.
    events: list[tuple[int, dict[str, Any]]] = attrs.field(factory=list)
    #: ``"<path>:<line>: <why>"`` of every new line that is not an event (skipped).
    problems: list[str] = attrs.field(factory=list)
    #: The file was replaced or truncated: these events are the new file's, from its start.
    restarted: bool = False
    #: More bytes are there than this poll read (`EventTail.max_bytes`): poll again soon.
    more: bool = False


class EventTail:
    """The events appended to one file since the last `poll`."""

    def __init__(self, path: Path, *, max_bytes: int = MAX_BYTES, name: str | None = None) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.path = path
        #: How problems name the file (default: its path).
        self.name = str(path) if name is None else name
        self.max_bytes = max_bytes
        #: Bytes consumed: everything before is folded, up to the last complete line.
        self.offset = 0
        self.lineno = 0
        self._identity: tuple[int, int] | None = None

    def poll(self) -> Batch:
        """Read what was appended; nothing (and no error) while the file does not exist."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            # Rotated away and not yet recreated, or not written yet: keep what was read.
            return Batch()
        identity = (stat.st_dev, stat.st_ino)
        restarted = self._identity is not None and (
            identity != self._identity or stat.st_size < self.offset
        )
        self._identity = identity
        if restarted:
            self.offset = 0
            self.lineno = 0
        if stat.st_size <= self.offset:
            return Batch(restarted=restarted)
        data = self._read()
        end = data.rfind(b"\n") + 1
        events, problems = self._parse(data[:end])
        self.offset += end
        return Batch(
            events=events,
            problems=problems,
            restarted=restarted,
            more=len(data) >= self.max_bytes and end > 0,
        )

    def _read(self) -> bytes:
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read(self.max_bytes)
            # One line longer than the limit: read on to its end rather than stall on it.
            while len(data) >= self.max_bytes and b"\n" not in data:
                more = fh.read(self.max_bytes)
                if not more:
                    break
                data += more
        return data

    def _parse(self, data: bytes) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
        events: list[tuple[int, dict[str, Any]]] = []
        problems: list[str] = []
        for raw in data.split(b"\n")[:-1]:
            self.lineno += 1
            try:
                line = raw.decode("utf-8")
                if not line.strip(" \t\r"):
                    continue
                events.append((self.lineno, parse_event_object(line)))
            except UnicodeDecodeError:
                problems.append(f"{self.name}:{self.lineno}: not UTF-8 text")
            except TelemetryError as exc:
                problems.append(f"{self.name}:{self.lineno}: {exc}")
        return events, problems
