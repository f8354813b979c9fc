"""The governor contract: a fail-safe that rolls a host back when its training blows up.

The engine calls, once per epoch and after the epoch's single device-to-host transfer:

1. ``verdict = governor.check(val_loss, epoch=e)`` with the validation loss as a Python float;
2. if ``verdict.panic``: ``governor.rollback(model, epoch=e)``, then the engine clears optimizer
   moments; otherwise, on the snapshot cadence, ``governor.snapshot(model)``.

A governor plugin's factory is called as ``factory(config, task=TaskInfo, emit=callable)``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from esper.telemetry import Event

if TYPE_CHECKING:
    from esper.contracts.task import TaskInfo
    from esper.growth.model import MorphogeneticModel


@attrs.frozen(kw_only=True)
class Verdict:
    panic: bool
    reason: str | None = None  # e.g. "governor_nan", "governor_lobotomy", "governor_divergence"


class Governor(abc.ABC):
    def __init__(self, *, task: TaskInfo, emit: Callable[[Event], None] | None = None) -> None:
        self.task = task
        self.emit = emit

    @abc.abstractmethod
    def check(self, val_loss: float, *, epoch: int) -> Verdict:
        """Judge one epoch's validation loss."""

    @abc.abstractmethod
    def snapshot(self, model: MorphogeneticModel) -> None:
        """Remember the host and fossilized seeds as the state to roll back to."""

    @abc.abstractmethod
    def rollback(self, model: MorphogeneticModel, *, reason: str, epoch: int) -> None:
        """Restore the last snapshot bit-identically and prune every live (non-fossilized) seed."""

    def state_dict(self) -> dict[str, Any]:
        """History, counters and the snapshot itself, so a resumed run judges and restores alike."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`."""
