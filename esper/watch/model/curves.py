"""Per-arm metric curves: each arm's ``engine.epoch`` points, in the order they came.

An ``esper run`` arm has one point per epoch; a resumed run replays the epochs after its last
checkpoint, and a replayed epoch replaces what the stopped process logged from that epoch on.
An environment of ``esper train`` plays episode after episode: its points run on across them
(the curve shows each episode as a rise and a drop). Each arm keeps its last `MAX_POINTS`.
"""

from __future__ import annotations

from collections import deque

import attrs

from esper.report.records import EpochPoint

MAX_POINTS = 5000


@attrs.define
class Curves:
    """The ``engine.epoch`` points of every arm, by arm, arms in the order they appeared."""

    #: Whether points run on across episodes (``esper train``) rather than replace replays.
    episodic: bool = False
    arms: dict[str, deque[EpochPoint]] = attrs.field(factory=dict)

    def add(self, point: EpochPoint) -> None:
        points = self.arms.setdefault(point.arm, deque(maxlen=MAX_POINTS))
        if not self.episodic:
            while points and points[-1].epoch >= point.epoch:
                points.pop()
        points.append(point)

    def values(self, arm: str, metric: str) -> list[float]:
        """One metric (an `EpochPoint` field: ``val_accuracy``, ``val_loss``, ...) of an arm."""
        return [float(getattr(p, metric)) for p in self.arms.get(arm, ())]

    def latest(self, arm: str) -> EpochPoint | None:
        points = self.arms.get(arm)
        return points[-1] if points else None
