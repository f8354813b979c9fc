"""The status panel: one row per arm (``esper run``) or environment (``esper train``).

Per row: the last epoch, its validation accuracy, live and fossilized seeds, the last action
other than a wait and the governor's rollbacks; for ``esper run`` the loss and parameters too,
for ``esper train`` the episodes played, the last episode's reward and final accuracy.
"""

from __future__ import annotations

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from esper.watch.model import RunState
from esper.watch.views.fmt import num


def envs_panel(state: RunState) -> RenderableType:
    rows = list(state.envs.rows.values())
    if not rows:
        return Text("no epoch has ended yet", style="dim")
    training = state.training
    # Two spaces between columns, none at the edges: a row of esper train fits 80 columns.
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    table.add_column("env" if training else "arm", no_wrap=True)
    # Short headings, and esper train's columns instead of loss and parameters: a row fits
    # 80 columns.
    numbers = ["epoch", "acc %", "live", "fossil"]
    if not training:
        numbers[2:2] = ["loss", "params"]
    for name in numbers:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("last action", no_wrap=True)
    if training:
        for name in ("eps", "reward", "ep acc %"):
            table.add_column(name, justify="right", no_wrap=True)
    table.add_column("rollbk", justify="right", no_wrap=True)
    for row in rows:
        cells = [row.arm, str(row.epoch), num(row.val_accuracy, ".2f")]
        if not training:
            cells += [num(row.val_loss, ".4f"), f"{row.params_total:,}"]
        cells += [str(row.live_seeds), str(row.fossilized), row.last_action]
        if training:
            cells += [
                str(row.episodes) + (" LOST" if row.lost else ""),
                num(row.last_reward, "+.3f"),
                num(row.episode_accuracy, ".2f"),
            ]
        cells.append(str(row.rollbacks))
        table.add_row(*cells, style="red" if row.rollbacks or row.lost else "")
    return table
