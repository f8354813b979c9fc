"""What the progress output reads from an epoch's result: each slot's state and a table row.

The progress objects only read the attributes of the epoch results they are given
(``epoch``, ``val_loss``, ``val_accuracy``, ``rolled_back``, ``action``, ``action_ok``,
``signals.slots`` and, when present, ``stages_after`` / ``alphas_after``), so tests drive them
with plain stand-ins; hence ``Any`` for results here.
"""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class SlotState:
    """One slot after an epoch's action: stage name, the seed's blueprint and its alpha."""

    slot_id: str
    stage: str
    blueprint: str | None
    alpha: float


@attrs.frozen
class Row:
    """The last epoch of one arm (``esper run``) or environment (``esper train``)."""

    epoch: int
    max_epochs: int
    val_loss: float
    val_accuracy: float
    slots: tuple[SlotState, ...]
    action: str
    rolled_back: bool


def slot_states(result: Any) -> tuple[SlotState, ...]:
    """Each slot's state after the epoch's action (the signals hold the state before it)."""
    after: dict[str, str] | None = getattr(result, "stages_after", None)
    alphas: dict[str, float] = getattr(result, "alphas_after", None) or {}
    action = result.action
    states = []
    for view in result.signals.slots:
        stage = view.stage.name if after is None else after.get(view.slot_id, "DORMANT")
        blueprint = view.blueprint
        if action.op.name == "GERMINATE" and action.slot == view.slot_id and result.action_ok:
            blueprint = action.blueprint
        if stage == "DORMANT":
            blueprint = None
        alpha = float(alphas.get(view.slot_id, view.alpha))
        states.append(SlotState(view.slot_id, stage, blueprint, alpha))
    return tuple(states)


def action_text(result: Any) -> str:
    """The epoch's action as the live display shows it: ``wait``, ``germinate r0 (refused)``."""
    op = result.action.op.name
    if op == "WAIT":
        return "wait"
    text = f"{op.lower()} {result.action.slot or ''}".rstrip()
    return text if result.action_ok else text + " (refused)"


def row_of(result: Any, max_epochs: int) -> Row:
    """The live display's row of one epoch's result."""
    return Row(
        epoch=result.epoch,
        max_epochs=max_epochs,
        val_loss=result.val_loss,
        val_accuracy=result.val_accuracy,
        slots=slot_states(result),
        action=action_text(result),
        rolled_back=bool(result.rolled_back),
    )
