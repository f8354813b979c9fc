"""Telemetry events of the governors (no torch; the hook module imports this so that an event
log with governor events can be read back whenever the plugin is loaded)."""

from __future__ import annotations

from typing import ClassVar

import attrs

from esper.plugin import Event, register_event


@register_event("governor.panic")
@attrs.frozen(kw_only=True)
class GovernorPanic(Event):
    """`check` judged a validation loss fatal; ``val_loss`` may be NaN or infinite."""

    severity: ClassVar[str] = "warning"

    reason: str  # governor_nan | governor_lobotomy | governor_divergence
    val_loss: float


@register_event("governor.rollback")
@attrs.frozen(kw_only=True)
class GovernorRollback(Event):
    """The model was restored to the last snapshot and its live seeds were pruned.

    ``val_loss`` is the loss of the panic that led here (None if there was none).
    ``seeds_unrestored`` names fossilized seeds that were fossilized after the snapshot: they
    stay (fossilization is permanent) with the weights they had at the rollback.
    """

    severity: ClassVar[str] = "warning"

    reason: str
    val_loss: float | None
    seeds_pruned: list[str] = attrs.field(factory=list)
    seeds_unrestored: list[str] = attrs.field(factory=list)
