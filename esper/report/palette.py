"""What the report's charts and ``esper watch``'s panels draw alike, without matplotlib: the
colour of each stage and operation, the order of the operations, the stages left undrawn."""

from __future__ import annotations

#: Colour of each stage of a seed, in the order of the lifecycle.
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
#: Stages of a slot that holds no seed: not drawn.
IDLE_STAGES = ("DORMANT", "UNKNOWN")

#: Order of the operations in the action mix; unknown operations follow alphabetically.
OP_ORDER = ("WAIT", "GERMINATE", "ADVANCE", "SET_ALPHA_TARGET", "FOSSILIZE", "PRUNE")
OP_COLORS = {
    "WAIT": "#c7c7c7",
    "GERMINATE": "#1f77b4",
    "ADVANCE": "#9edae5",
    "SET_ALPHA_TARGET": "#ff7f0e",
    "FOSSILIZE": "#2ca02c",
    "PRUNE": "#d62728",
}
