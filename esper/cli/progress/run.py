"""The progress output of ``esper run``: one row (or line) per arm after each of its epochs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from esper.cli.progress.lines import run_line
from esper.cli.progress.live import LiveDisplay
from esper.cli.progress.rows import Row, row_of
from esper.cli.progress.table import progress_table

if TYPE_CHECKING:
    from rich.console import Console, RenderableType


class RunProgress(LiveDisplay):
    """``esper run``: call it with ``(arm, result, env)`` after every arm's epoch.

    Lines mode prints one line per arm and epoch; the grown arm's line shows every slot's stage,
    blueprint and alpha and the action taken.
    """

    def __init__(self, quiet: bool, *, console: Console | None = None) -> None:
        super().__init__(quiet, console)
        self.rows: dict[str, Row] = {}
        self.language = False
        self.rollbacks: dict[str, int] = {}
        self._calls = 0
        self._remaining = 0

    def __enter__(self) -> RunProgress:
        super().__enter__()
        return self

    def __call__(self, arm: str, result: Any, env: Any) -> None:
        if self.quiet:
            return
        self.language = env.info.kind == "language_model"
        if not self.live:
            click.echo(self.line(arm, result, env), err=True)
            return
        self.rows[arm] = row_of(result, env.max_epochs)
        if result.rolled_back:
            self.rollbacks[arm] = self.rollbacks.get(arm, 0) + 1
        self._calls += 1
        self._remaining = sum(r.max_epochs - r.epoch for r in self.rows.values())
        self.refresh()

    def line(self, arm: str, result: Any, env: Any) -> str:
        """The plain progress line of one arm's epoch."""
        return run_line(arm, result, env)

    def __rich__(self) -> RenderableType:
        from rich.console import Group
        from rich.text import Text

        rows = list(self.rows.items())
        grown = self.rows.get("grown")
        where = f"epoch {grown.epoch}/{grown.max_epochs}" if grown else "epoch 0"
        header = Text(f"esper run  {where}  {self.clock(self._calls, self._remaining)}")
        return Group(header, progress_table("arm", rows, self.language, self.rollbacks))
