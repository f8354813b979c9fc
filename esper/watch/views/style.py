"""Colours the panels share: stages (as the report's seed timeline), arms, decision levels."""

from __future__ import annotations

#: Background of a swimlane cell per stage, the hues of ``esper report``'s seed timeline.
STAGE_COLORS = {
    "GERMINATED": "#dadaeb",
    "TRAINING": "#9ecae1",
    "BLENDING": "#fdae6b",
    "HOLDING": "#fdd0a2",
    "FOSSILIZED": "#74c476",
    "PRUNED": "#fb6a4a",
    "EMBARGOED": "#fcbba1",
    "RESETTING": "#d9d9d9",
}
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


#: Colour of each operation in the action mix (as ``esper report``'s chart).
OP_COLORS = {
    "WAIT": "#c7c7c7",
    "GERMINATE": "#1f77b4",
    "ADVANCE": "#9edae5",
    "SET_ALPHA_TARGET": "#ff7f0e",
    "FOSSILIZE": "#2ca02c",
    "PRUNE": "#d62728",
}
