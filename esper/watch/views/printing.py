"""``esper watch --once``: every panel of every run, printed once as text (no textual needed)."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.rule import Rule

from esper.watch.source import WatchedRun
from esper.watch.views import PANELS, TRAIN_ONLY
from esper.watch.views.overview import overview_panel, run_status


def print_runs(
    runs: list[WatchedRun], *, file: TextIO | None = None, width: int | None = None
) -> None:
    """Read each run's events to the end and print its panels."""
    console = Console(file=file, width=width, highlight=False)
    for run in runs:
        run.poll_all()
        state = run.state
        console.print(Rule(f"{run.name} \u00b7 {run_status(state)}"))
        console.print(overview_panel(state, run.name))
        for panel_id, title, view in PANELS:
            if panel_id in TRAIN_ONLY and not state.training:
                continue
            console.print(Rule(title, align="left", style="dim"))
            console.print(view(state))
