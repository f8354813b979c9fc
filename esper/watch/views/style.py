"""Colours the panels share: arms, decision levels and statuses (stages and operations have
``esper report``'s colours, `esper.report.palette`)."""

from __future__ import annotations

from esper.report.palette import STAGE_COLORS

#: The stages in the order of the lifecycle, for the legend.
STAGE_ORDER = tuple(STAGE_COLORS)

ARM_COLORS = {"grown": "#1f77b4", "static": "#7f7f7f"}
#: Colours of the other arms (environments of esper train), in turn.
OTHER_COLORS = ("#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")

#: Style of a decision line by its level.
LEVEL_STYLES = {
    "info": "dim",
    "action": "cyan",
    "seed": "",
    "warning": "yellow",
    "rollback": "bold white on red",
}

STATUS_STYLES = {
    "running": "cyan",
    "finished": "green",
    "interrupted": "magenta",
    "crashed": "red",
    "waiting": "dim",
}


def arm_color(arm: str, index: int) -> str:
    """The colour of an arm: fixed for grown and static, else the ``index``-th of a cycle."""
    return ARM_COLORS.get(arm) or OTHER_COLORS[index % len(OTHER_COLORS)]
