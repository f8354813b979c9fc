"""The slots panel: per arm, a swimlane per slot that held a seed.

Each cell is one epoch: its colour is the slot's stage at the end of that epoch (the colours of
``esper report``'s seed timeline; a dot where the slot was empty), and a bar of a darker shade
rises in it with the seed's alpha (none at 0, the full cell at 1). Each lane ends with the blueprint, the stage now
and the alpha now. Lanes longer than the screen show their last epochs.
"""

from __future__ import annotations

import attrs
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

from esper.report.palette import IDLE_STAGES, STAGE_COLORS
from esper.watch.model import RunState
from esper.watch.model.lanes import LaneRow
from esper.watch.views.fmt import num
from esper.watch.views.style import STAGE_ORDER

_BARS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"


def _shade(color: str, factor: float) -> str:
    """``#rrggbb`` darkened by ``factor`` (0: black, 1: as it is)."""
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c * factor):02x}" for c in rgb)


def cell(stage: str, alpha: float | None) -> tuple[str, str]:
    """The character and style of one epoch of one lane: the stage's colour, and a bar of a
    darker shade of it as high as alpha."""
    if stage in IDLE_STAGES:
        return "\u00b7", "dim"
    color = STAGE_COLORS.get(stage, "#ffffff")
    if alpha is None or alpha <= 0:
        return " ", f"on {color}"
    return _BARS[max(0, min(7, round(alpha * 8) - 1))], f"{_shade(color, 0.55)} on {color}"


@attrs.frozen
class ArmLanes:
    """The swimlanes of one arm, laid out to the width they are drawn at; ``slot_w`` and
    ``blueprint_w`` are shared by every arm of the panel, so that their lanes line up."""

    title: str
    rows: list[LaneRow]
    slot_w: int
    blueprint_w: int

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(self.title, style="bold")
        if not self.rows:
            yield Text("  no seed yet", style="dim")
            return
        tail_w = 11 + 7  # the stage now and the alpha now
        room = max(4, options.max_width - self.slot_w - self.blueprint_w - tail_w - 4)
        epochs = self.rows[0].epochs
        # Two columns an epoch while they fit, one when the lane is long.
        cell_w = 2 if 2 * len(epochs) <= room else 1
        shown = min(room // cell_w, len(epochs))
        if shown < len(epochs):
            yield Text(f"  the last {shown} epochs ({epochs[-shown]}-{epochs[-1]})", style="dim")
        for row in self.rows:
            blueprint = row.blueprint[: self.blueprint_w].ljust(self.blueprint_w)
            line = Text(f"  {row.slot.ljust(self.slot_w)} {blueprint} ")
            for stage, alpha in zip(row.stages[-shown:], row.alphas[-shown:], strict=True):
                char, style = cell(stage, alpha)
                line.append(char * cell_w, style=style)
            stage_now, alpha_now = row.stages[-1], row.alphas[-1]
            line.append(" ")
            line.append(stage_now.ljust(11), style=STAGE_COLORS.get(stage_now, "dim"))
            line.append(f"\u03b1 {num(alpha_now, '.2f')}" if alpha_now is not None else "")
            yield line


def legend() -> Text:
    text = Text(
        "a cell: an epoch, coloured by the stage it ended in; the darker bar: alpha\n", style="dim"
    )
    for stage in STAGE_ORDER:
        text.append(" ", style=f"on {STAGE_COLORS[stage]}")
        text.append(f" {stage.lower()} ")
    return text


def slots_panel(state: RunState) -> RenderableType:
    arms = state.arms()
    if not arms:
        return Text("no epoch has ended yet", style="dim")
    rows = {arm: state.lanes.rows(arm) for arm in arms}
    every = [row for arm_rows in rows.values() for row in arm_rows]
    slot_w = max((len(r.slot) for r in every), default=4)
    blueprint_w = min(16, max((len(r.blueprint) for r in every), default=4))
    parts: list[RenderableType] = []
    for arm in arms:
        lanes = state.lanes.arms[arm]
        epoch = lanes.points[-1].epoch if lanes.points else 0
        where = f"episode {lanes.episode}, epoch {epoch}" if state.training else f"epoch {epoch}"
        held = f"{len(rows[arm])} of {state.lanes.slot_count(arm)} slots held a seed"
        title = f"{arm} \u00b7 {where} \u00b7 {held}"
        parts.append(ArmLanes(title, rows[arm], slot_w, blueprint_w))
    parts.append(legend())
    return Group(*parts)
