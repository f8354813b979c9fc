"""The overview panel: what runs, how far it is, its settings and each arm's latest figures."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from esper.rundir.scan import format_duration
from esper.watch.model import RunState
from esper.watch.views.fmt import num, status
from esper.watch.views.style import STATUS_STYLES


def run_status(state: RunState) -> str:
    return status(state.overview.sessions, state.overview.status)


def _progress(state: RunState) -> str:
    o = state.overview
    if state.training:
        total = "?" if o.total_updates is None else str(o.total_updates)
        return f"update {o.updates} / {total} ({o.episodes} episodes)"
    total = "?" if o.total_epochs is None else str(o.total_epochs)
    return f"epoch {o.epoch} / {total}"


def _facts(state: RunState, name: str, now: float | None) -> Table:
    o = state.overview
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    shown = run_status(state)
    grid.add_row("run", Text(f"{o.run_id or name} (esper {o.command or '?'})"))
    grid.add_row("status", Text(shown, style=STATUS_STYLES.get(shown, "red")))
    grid.add_row("progress", _progress(state))
    grid.add_row("wall time", format_duration(o.wall_time_s))
    if shown == "running" and now is not None and o.last_ts is not None:
        grid.add_row("last event", f"{format_duration(max(0.0, now - o.last_ts))} ago")
    if o.resumed_at:
        grid.add_row(
            "resumed", f"{len(o.resumed_at)} times, at {', '.join(map(str, o.resumed_at))}"
        )
    skipped = f", {state.problem_count} skipped" if state.problem_count else ""
    grid.add_row("events", f"{o.events} read{skipped}")
    for label, value in o.settings():
        grid.add_row(label, value)
    return grid


def _latest(state: RunState) -> Table | None:
    arms = state.arms()
    if not arms or state.training:
        return None
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="latest epoch", title_justify="left")
    for name in ("arm", "epoch", "val acc %", "best %", "val loss", "params"):
        table.add_column(name, justify="left" if name == "arm" else "right")
    for arm in arms:
        point = state.curves.latest(arm)
        if point is None:
            continue
        best = max(state.curves.values(arm, "val_accuracy"))
        table.add_row(
            arm,
            str(point.epoch),
            num(point.val_accuracy, ".2f"),
            num(best, ".2f"),
            num(point.val_loss, ".4f"),
            f"{point.params_total:,}",
        )
    return table


def overview_panel(state: RunState, name: str, *, now: float | None = None) -> RenderableType:
    """``name``: the run directory's name, shown until an event gives the run id; ``now``: the
    clock, for how long ago the last event of a running run came (None: not shown)."""
    parts: list[RenderableType] = [_facts(state, name, now)]
    latest = _latest(state)
    if latest is not None:
        parts += [Text(""), latest]
    if state.training and state.ppo.updates:
        last = state.ppo.updates[-1]
        parts += [
            Text(""),
            Text(
                f"last update: mean reward {num(last.mean_reward, '+.3f')}, "
                f"mean accuracy {num(last.mean_accuracy, '.2f')}%, "
                f"{last.rollbacks} episodes rolled back"
            ),
        ]
    if state.problems:
        parts += [Text(""), Text(f"skipped: {state.problems[-1]}", style="yellow")]
    return Group(*parts)
