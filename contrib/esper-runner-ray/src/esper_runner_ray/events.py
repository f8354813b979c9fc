"""The ray runner's telemetry event (attrs only: no ray, no torch)."""

from __future__ import annotations

from typing import ClassVar

import attrs
from esper.plugin import Event, register_event


@register_event("runner.actor_lost")
@attrs.frozen(kw_only=True)
class ActorLost(Event):
    """An environment's actor died mid-episode; the episode was truncated and the update went on.

    ``env_id`` is the buffer row, ``epoch`` the epoch that was being played. Ray restarts the
    actor (``runner.max_restarts``) in time for the next update.
    """

    severity: ClassVar[str] = "warning"

    seed: int
    #: What the driver was waiting for: ``observe`` (training, evaluation) or ``act``.
    phase: str
    #: The Ray error, first line.
    error: str
    #: Episodes this runner has lost so far, this one included.
    lost_episodes: int
    actor_id: str = ""
    node: str = ""
