"""The progress output of ``esper train``: each environment's epoch live, a line per update."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from esper.cli.progress.lines import update_line
from esper.cli.progress.live import LiveDisplay
from esper.cli.progress.rows import Row, row_of
from esper.cli.progress.table import progress_table

if TYPE_CHECKING:
    from rich.console import Console, RenderableType


class TrainProgress(LiveDisplay):
    """``esper train``: `epoch` after every environment's epoch, `update` after every update.

    Lines mode prints one line per update; the live display shows the update, every
    environment's epoch, accuracy and slot stages, and prints each update's line above itself.
    """

    def __init__(
        self,
        quiet: bool,
        *,
        updates: int,
        done_updates: int,
        envs: int,
        epochs: int,
        console: Console | None = None,
    ) -> None:
        super().__init__(quiet, console)
        self.updates = updates
        self.done_updates = done_updates
        self.envs = envs
        self.epochs = epochs
        self.rows: dict[int, Row] = {}
        self.rollbacks: dict[str, int] = {}
        self._epochs_at_start = done_updates * envs * epochs
        self._epochs_done = self._epochs_at_start

    def __enter__(self) -> TrainProgress:
        super().__enter__()
        return self

    @property
    def total_epochs(self) -> int:
        """Environment-epochs of the whole training run (every update, env and epoch)."""
        return self.updates * self.envs * self.epochs

    def epoch(self, env: int, result: Any) -> None:
        """One environment finished one epoch of the update being collected."""
        if not self.live:
            return
        self.rows[env] = row_of(result, self.epochs)
        if result.rolled_back:
            self.rollbacks[f"env {env}"] = self.rollbacks.get(f"env {env}", 0) + 1
        self._epochs_done += 1
        self.refresh()

    def update(self, record: dict[str, Any]) -> None:
        """The agent finished an update: print its line (above the live display, if any)."""
        if self.quiet:
            return
        self.done_updates = record["update"] + 1
        # Episodes cut short by a rollback end early: count the whole update as done.
        self._epochs_done = self.done_updates * self.envs * self.epochs
        self.print(self.line(record))
        self.refresh()

    @staticmethod
    def line(record: dict[str, Any]) -> str:
        """The plain progress line of one update."""
        return update_line(record)

    def __rich__(self) -> RenderableType:
        from rich.console import Group
        from rich.text import Text

        current = min(self.done_updates + 1, self.updates)
        done = self._epochs_done - self._epochs_at_start
        remaining = self.total_epochs - self._epochs_done
        header = Text(
            f"esper train  update {current}/{self.updates}  "
            f"env-epochs {self._epochs_done}/{self.total_epochs}  {self.clock(done, remaining)}"
        )
        rows = [(f"env {i}", row) for i, row in sorted(self.rows.items())]
        return Group(header, progress_table("env", rows, False, self.rollbacks))
