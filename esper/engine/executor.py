"""Executes a controller's `Action` on a growing model: one handler per op, in a table.

An action the lifecycle refuses (a gate that does not pass, a slot that is not free, an
illegal transition) is a no-op that reports False; the controller sees that in its next
signals (``last_action_ok``). WAIT always succeeds; any other op needs a slot.
"""

from __future__ import annotations

from collections.abc import Callable

from esper.contracts.actions import Action, Op
from esper.growth.model import MorphogeneticModel
from esper.lifecycle import LifecycleError


class ActionExecutor:
    """Applies actions to one model (see the module docstring)."""

    def __init__(self, model: MorphogeneticModel) -> None:
        self.model = model
        self._handlers: dict[Op, Callable[[str, Action, int], bool]] = {
            Op.GERMINATE: self._germinate,
            Op.ADVANCE: self._advance,
            Op.FOSSILIZE: self._fossilize,
            Op.PRUNE: self._prune,
            Op.SET_ALPHA_TARGET: self._set_alpha_target,
        }

    def __call__(self, action: Action, *, epoch: int) -> bool:
        """Execute ``action`` in ``epoch``; True when it took effect."""
        if action.op is Op.WAIT:
            return True
        handler = self._handlers.get(action.op)
        if handler is None or action.slot is None:
            return False
        try:
            return handler(action.slot, action, epoch)
        except LifecycleError:
            return False

    def _germinate(self, slot: str, action: Action, epoch: int) -> bool:
        self.model.germinate(
            slot,
            action.blueprint or "",
            algorithm=action.style.algorithm,
            alpha_target=action.alpha_target,
            tempo=action.tempo,
            curve=action.style.curve,
            steepness=action.steepness,
            epoch=epoch,
        )
        return True

    def _advance(self, slot: str, action: Action, epoch: int) -> bool:
        return self.model.advance(slot, epoch=epoch).passed

    def _fossilize(self, slot: str, action: Action, epoch: int) -> bool:
        return self.model.fossilize(slot, epoch=epoch).passed

    def _prune(self, slot: str, action: Action, epoch: int) -> bool:
        self.model.schedule_prune(
            slot,
            steps=action.alpha_speed,
            curve=action.alpha_curve,
            steepness=action.steepness,
            reason=action.reason or "policy",
            epoch=epoch,
        )
        return True

    def _set_alpha_target(self, slot: str, action: Action, epoch: int) -> bool:
        self.model.set_alpha_target(
            slot,
            action.alpha_target,
            steps=action.alpha_speed,
            curve=action.alpha_curve,
            steepness=action.steepness,
            algorithm=action.style.algorithm,
            epoch=epoch,
        )
        return True
