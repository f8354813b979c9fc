"""``esper runs list``: the run directories under a folder, with status, progress and results.

Reads files only (`esper.rundir.scan`), so it never imports torch and answers at once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from esper.rundir.scan import RunInfo, format_duration, scan

_COLUMNS = ("run id", "command", "status", "task", "controller", "progress", "best", "wall time")
_STATUS_STYLES = {
    "finished": "green",
    "resumable": "yellow",
    "running?": "cyan",
    "interrupted": "magenta",
    "crashed": "red",
}


@click.group()
def runs() -> None:
    """Inspect run directories."""


@runs.command("list")
@click.argument(
    "directory", default="runs", type=click.Path(file_okay=False, path_type=Path), required=False
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
def list_(directory: Path, as_json: bool) -> None:
    """List the runs in DIRECTORY (default: runs), oldest first."""
    infos = scan(directory)
    for info in infos:
        for problem in info.problems:
            click.echo(f"warning: {problem} (line skipped)", err=True)
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in infos], indent=2))
        return
    if not infos:
        click.echo(f"no runs in {directory}")
        return
    rows = [_row(i) for i in infos]
    if sys.stdout.isatty():
        _print_rich(rows, directory)
    else:
        _print_plain(rows)


def _short(component_id: str | None) -> str:
    # "esper.policies.heuristic:heuristic" -> "heuristic"; --json keeps the full ids.
    return component_id.rsplit(":", 1)[-1] if component_id else "-"


def _row(info: RunInfo) -> tuple[str, ...]:
    controller = _short(info.policy)
    if info.agent:
        controller += f" + {_short(info.agent)}"
    progress = "-"
    if info.done is not None:
        total = "?" if info.total is None else str(info.total)
        progress = f"{info.done}/{total} {info.unit or ''}".rstrip()
    best: list[str] = []
    if info.perplexity is not None:
        best.append(f"ppl {info.perplexity:.2f}")
    if info.accuracy is not None:
        best.append(f"acc {info.accuracy:.2f}%")
    if info.reward is not None:
        best.append(f"reward {info.reward:+.3f}")
    return (
        info.run_id,
        info.command or "-",
        info.status,
        _short(info.task),
        controller if info.policy else "-",
        progress,
        ", ".join(best) or "-",
        format_duration(info.wall_time_s),
    )


def _print_plain(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
    for row in [_COLUMNS, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _print_rich(rows: list[tuple[str, ...]], directory: Path) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"runs in {directory}", box=box.SIMPLE_HEAD)
    for name in _COLUMNS:
        table.add_column(
            name,
            justify="right" if name in ("progress", "wall time") else "left",
            # The id and the status must stay whole; the other cells may wrap on a narrow terminal.
            no_wrap=name in ("run id", "status"),
        )
    for row in rows:
        status = row[2]
        style = _STATUS_STYLES.get(status, "red" if status.startswith("unreadable") else "")
        # Text, not markup: a reason such as a TOML error may contain brackets.
        cells = [Text(cell) for cell in row]
        cells[2] = Text(status, style=style)
        table.add_row(*cells)
    Console(file=sys.stdout).print(table)
