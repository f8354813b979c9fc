"""`WatchedRun`: one run directory, its event log's tail and the state folded from it.

Reads files only, opened read-only: the run it watches never waits on it. A poll costs one
``stat`` of ``events.jsonl`` when nothing was appended, and reads only the bytes appended since
the last poll otherwise.
"""

from __future__ import annotations

from pathlib import Path

from esper.rundir import layout
from esper.rundir.layout import RunFileError
from esper.watch.model.state import RunState
from esper.watch.tail import MAX_BYTES, EventTail


class WatchedRun:
    """A run directory followed poll by poll."""

    def __init__(self, path: Path, *, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self.name = path.name
        # Problems name the file within the run: the dashboard shows which run it is.
        self.tail = EventTail(path / layout.EVENTS, max_bytes=max_bytes, name=layout.EVENTS)
        self.state = RunState()
        #: Whether the last poll stopped at its byte limit with more to read.
        self.more = False

    def poll(self) -> bool:
        """Fold what was appended since the last poll; whether anything changed."""
        batch = self.tail.poll()
        if batch.restarted:
            # Replaced or truncated: what was folded describes a file that is gone.
            self.state = RunState()
        before = self.state.version
        where = self.tail.name
        for lineno, data in batch.events:
            self.state.add(data, f"{where}:{lineno}")
        self.state.add_problems(batch.problems)
        self.more = batch.more
        if not self.state.overview.config and self.state.overview.sessions == 0:
            self._config_from_file()
        return batch.restarted or self.state.version != before

    def _config_from_file(self) -> None:
        # Before the first event, config.toml (written first, atomically) says what will run.
        if not (self.path / layout.CONFIG).is_file():
            return
        try:
            config, _ = layout.read_config(self.path)
        except RunFileError:
            return
        self.state.overview.config = config
        self.state.version += 1

    def poll_all(self) -> None:
        """Poll until everything written so far is folded (a replay, ``--once``)."""
        self.poll()
        while self.more:
            self.poll()
