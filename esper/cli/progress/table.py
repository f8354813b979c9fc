"""The live display's table: one row per arm or environment, one column per slot.

rich is imported only when the table is drawn (the live display is the only user).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from esper.cli.progress.formatting import perplexity
from esper.cli.progress.rows import Row

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.text import Text

#: Rich style of each lifecycle stage in the live display.
STAGE_STYLES = {
    "DORMANT": "dim",
    "GERMINATED": "cyan",
    "TRAINING": "blue",
    "BLENDING": "magenta",
    "HOLDING": "yellow",
    "FOSSILIZED": "bold green",
    "PRUNED": "red",
    "EMBARGOED": "dim red",
    "RESETTING": "dim red",
}


def _slot_cells(row: Row, slot_ids: list[str]) -> list[Text]:
    """One cell per slot column: the stage, coloured, and the seed's blueprint and alpha."""
    from rich.text import Text

    by_slot = {s.slot_id: s for s in row.slots}
    cells: list[Text] = []
    for slot_id in slot_ids:
        state = by_slot.get(slot_id)
        if state is None:
            cells.append(Text(""))
            continue
        cell = Text(state.stage.lower(), style=STAGE_STYLES.get(state.stage, ""))
        if state.blueprint:
            cell.append(f" {state.blueprint.split(':')[-1]} a={state.alpha:.2f}", style="dim")
        cells.append(cell)
    return cells


def progress_table(
    first: str, rows: list[tuple[str, Row]], language: bool, rollbacks: dict[str, int]
) -> RenderableType:
    """The table of ``rows`` (name, row); ``first`` heads the name column, ``language`` shows
    perplexity instead of accuracy, ``rollbacks`` counts each name's governor rollbacks."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    slot_ids = sorted({s.slot_id for _, row in rows for s in row.slots})
    for name in (first, "epoch", "val loss", "ppl" if language else "acc"):
        table.add_column(name, justify="left" if name == first else "right", no_wrap=True)
    for slot_id in slot_ids:
        table.add_column(slot_id)
    table.add_column("action")
    for name, row in rows:
        metric = f"{perplexity(row.val_loss):.2f}" if language else f"{row.val_accuracy:.2f}%"
        action = row.action
        if rollbacks.get(name):
            action += f"  [{rollbacks[name]} rollback(s)]"
        table.add_row(
            Text(name),
            f"{row.epoch}/{row.max_epochs}",
            f"{row.val_loss:.4f}",
            metric,
            *_slot_cells(row, slot_ids),
            Text(action, style="bold red" if row.rolled_back else ""),
        )
    return table
