"""The controller contract for the training engine.

A policy plugin's factory is called as ``factory(config, catalog=BlueprintCatalog)`` and
returns a `Policy`. Each epoch the engine calls ``policy.decide(signals)`` with the epoch's
`esper.engine.signals.Signals` and executes the returned `esper.actions.Action`.
"""

from __future__ import annotations

import abc
from typing import Any

from esper.actions import Action
from esper.engine.signals import Signals


class Policy(abc.ABC):
    @abc.abstractmethod
    def decide(self, signals: Signals) -> Action:
        """Choose this epoch's action."""

    def reset(self) -> None:
        """Forget per-episode state (a new host-training run starts)."""

    def state_dict(self) -> dict[str, Any]:
        """Per-episode state to checkpoint (plain data)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`."""
