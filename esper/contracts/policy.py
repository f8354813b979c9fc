"""The controller contract: each epoch the engine asks a policy for one action.

A policy plugin's factory is called as ``factory(config, catalog=BlueprintCatalog)`` and
returns a `Policy`. Each epoch the engine calls ``policy.decide(signals)`` with the epoch's
`esper.contracts.signals.Signals` and executes the returned `esper.contracts.actions.Action`.
A policy that an agent can train implements `esper.contracts.trainable.TrainablePolicy`.
`StaticPolicy`, which never grows anything, is the baseline `esper run` trains beside the
grown host.
"""

from __future__ import annotations

import abc
from typing import Any

from esper.contracts.actions import Action
from esper.contracts.signals import Signals


class Policy(abc.ABC):
    @abc.abstractmethod
    def decide(self, signals: Signals) -> Action:
        """Choose this epoch's action."""

    def reset(self) -> None:
        """Forget per-episode state (a new host-training run starts)."""

    def decision_flops(self) -> int:
        """FLOPs of one decision for one environment: the controller's own compute, which the
        engine charges apart from the host's (``flops.control`` in a run's summary). Zero for a
        controller that does no tensor arithmetic; a network controller counts its forward
        pass (`esper.plugin.forward_flops`)."""
        return 0

    def state_dict(self) -> dict[str, Any]:
        """Per-episode state to checkpoint (plain data)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`."""


class StaticPolicy(Policy):
    """The static-host baseline: never grows anything (the ``static`` arm of ``esper run``)."""

    def __init__(self, config: object = None, *, catalog: object = None) -> None:
        pass

    def decide(self, signals: Signals) -> Action:
        return Action(reason="static baseline")
