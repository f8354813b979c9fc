"""Slot swimlanes: per arm, the stage and alpha of every slot at the end of each epoch.

The ``stages`` and ``alphas`` of an ``engine.epoch`` event are the slots after the epoch's
action and lifecycle tick; the blueprint of a slot is that of the last seed germinated in it.
An arm shows its current run of epochs: a replayed epoch (a resumed run) cuts what followed it,
and a new episode of ``esper train`` (its epoch 1 again) starts the lanes afresh.
"""

from __future__ import annotations

from collections import deque

import attrs

from esper.report.palette import IDLE_STAGES
from esper.report.records import EpochPoint

#: Epochs an arm keeps (a swimlane shows as many of the last as fit the screen).
MAX_EPOCHS = 2000


@attrs.frozen
class LaneRow:
    """One slot of one arm, over the arm's epochs."""

    slot: str
    blueprint: str
    #: The slot's stage at the end of each epoch, oldest first.
    stages: list[str]
    #: The seed's alpha at the end of each epoch (None: no seed there).
    alphas: list[float | None]
    epochs: list[int]


@attrs.define
class ArmLanes:
    points: deque[EpochPoint] = attrs.field(factory=lambda: deque(maxlen=MAX_EPOCHS))
    #: Slot -> blueprint name of the last seed germinated there.
    blueprints: dict[str, str] = attrs.field(factory=dict)
    #: Episodes begun (``esper train``: each restart at epoch 1); 1 for ``esper run``.
    episode: int = 0


@attrs.define
class Lanes:
    arms: dict[str, ArmLanes] = attrs.field(factory=dict)

    def _arm(self, arm: str) -> ArmLanes:
        return self.arms.setdefault(arm, ArmLanes())

    def epoch(self, point: EpochPoint) -> None:
        lanes = self._arm(point.arm)
        if point.epoch <= 1 or not lanes.points:
            lanes.episode += 1
        while lanes.points and lanes.points[-1].epoch >= point.epoch:
            lanes.points.pop()
        lanes.points.append(point)

    def germinated(self, arm: str, slot: str, blueprint: str) -> None:
        self._arm(arm).blueprints[slot] = blueprint.rsplit(":", 1)[-1]

    def rows(self, arm: str) -> list[LaneRow]:
        """The slots of ``arm`` that held a seed in any epoch shown, in the engine's order."""
        lanes = self.arms.get(arm)
        if lanes is None or not lanes.points:
            return []
        slots: dict[str, None] = {}
        for point in lanes.points:
            for slot, stage in point.stages.items():
                if stage not in IDLE_STAGES:
                    slots.setdefault(slot, None)
        order = list(lanes.points[-1].stages)
        ordered = sorted(slots, key=lambda s: order.index(s) if s in order else len(order))
        epochs = [p.epoch for p in lanes.points]
        return [
            LaneRow(
                slot=slot,
                blueprint=lanes.blueprints.get(slot, "?"),
                stages=[p.stages.get(slot, "DORMANT") for p in lanes.points],
                alphas=[p.alphas.get(slot) for p in lanes.points],
                epochs=epochs,
            )
            for slot in ordered
        ]

    def slot_count(self, arm: str) -> int:
        """Slots of ``arm`` (those that never held a seed included)."""
        lanes = self.arms.get(arm)
        return len(lanes.points[-1].stages) if lanes and lanes.points else 0
