"""The typed records the report is drawn from, and `RunData`, everything about one run.

The records are plain attrs classes filled by `esper.report.events` (the event log) and
`esper.report.summary` (``summary.json``); `RunData` adds the views the charts and the page ask
for (arms in order, each arm's epochs, stages after each epoch, final accuracies).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import attrs

from esper.report.fields import is_number

RunKind = Literal["run", "train"]
SeedMarkKind = Literal["germinated", "fossilized", "pruned"]


@attrs.frozen(kw_only=True)
class EpochPoint:
    """One ``engine.epoch`` event: one arm after one epoch."""

    arm: str
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    params_total: int
    params_host: int
    action: str
    action_slot: str | None
    action_ok: bool
    #: Stage name of every slot as the controller observed it, before this epoch's action and
    #: lifecycle tick (the stage changes of the epoch are in `RunData.stage_changes`).
    stages: dict[str, str]
    #: Alpha of every slot that holds a seed, after the epoch.
    alphas: dict[str, float]


@attrs.frozen(kw_only=True)
class SeedMark:
    """A seed was germinated, fossilized or pruned (``seed.*`` events)."""

    kind: SeedMarkKind
    epoch: int | None
    #: The arm whose epoch the event fell in (see `attribute_arms`); None if unknown.
    arm: str | None
    slot_id: str
    seed_id: str
    blueprint_id: str
    #: Why a seed was pruned (empty for the other kinds).
    reason: str = ""


@attrs.frozen(kw_only=True)
class StageChange:
    """A ``seed.stage_changed`` event: the seed in ``slot_id`` moved to ``to_stage``."""

    epoch: int | None
    arm: str | None
    slot_id: str
    seed_id: str
    from_stage: str
    to_stage: str


@attrs.frozen(kw_only=True)
class Rollback:
    """A ``governor.rollback`` event."""

    epoch: int | None
    arm: str | None
    reason: str
    val_loss: float | None
    seeds_pruned: list[str]


@attrs.frozen(kw_only=True)
class UpdatePoint:
    """One agent update of ``esper train`` (from ``summary.json`` history or ``train.update``)."""

    #: Zero-based, as stored; the CLI and the charts show ``update + 1``.
    update: int
    episodes: int
    mean_reward: float
    mean_accuracy: float
    rollbacks: int
    #: Actions taken in this update's episodes, by operation name (summary history only).
    actions: dict[str, int]
    metrics: dict[str, float]


@attrs.frozen(kw_only=True)
class RunData:
    """Everything the report shows about one run directory."""

    path: Path
    #: The directory's name (the run id unless the directory was renamed).
    name: str
    kind: RunKind
    config: dict[str, Any]
    config_text: str
    #: ``summary.json``, or None for a run that did not finish.
    summary: dict[str, Any] | None
    epochs: list[EpochPoint] = attrs.field(factory=list)
    seeds: list[SeedMark] = attrs.field(factory=list)
    stage_changes: list[StageChange] = attrs.field(factory=list)
    rollbacks: list[Rollback] = attrs.field(factory=list)
    updates: list[UpdatePoint] = attrs.field(factory=list)
    #: ``run.ended`` status (finished, interrupted, crashed), or None if the log has none.
    status: str | None = None

    def arms(self) -> list[str]:
        """Arm names in the order they first appear (``grown`` before ``static`` for esper run)."""
        seen: dict[str, None] = {}
        for point in self.epochs:
            seen.setdefault(point.arm, None)
        if not seen and self.summary is not None:
            for key, value in self.summary.items():
                if isinstance(value, dict) and "val_accuracy" in value:
                    seen.setdefault(key, None)
        return list(seen)

    def arm_epochs(self, arm: str) -> list[EpochPoint]:
        """The epochs of one arm, in epoch order."""
        return sorted((p for p in self.epochs if p.arm == arm), key=lambda p: p.epoch)

    def stages_after(self, arm: str) -> dict[int, dict[str, str]]:
        """Stage of every slot of ``arm`` at the end of each epoch (after the action and the
        lifecycle tick), from the ``seed.stage_changed`` events."""
        points = self.arm_epochs(arm)
        changes = sorted(
            (c for c in self.stage_changes if c.arm == arm and c.epoch is not None),
            key=lambda c: c.epoch or 0,
        )
        current = dict(points[0].stages) if points else {}
        out: dict[int, dict[str, str]] = {}
        i = 0
        for p in points:
            while i < len(changes) and (changes[i].epoch or 0) <= p.epoch:
                current[changes[i].slot_id] = changes[i].to_stage
                i += 1
            out[p.epoch] = dict(current)
        return out

    def final_accuracy(self) -> dict[str, float]:
        """Final validation accuracy (%) by arm, or ``{"train": ...}`` for a training run."""
        if self.kind == "train":
            finite = [u.mean_accuracy for u in self.updates if math.isfinite(u.mean_accuracy)]
            return {"train": finite[-1]} if finite else {}
        out: dict[str, float] = {}
        for arm in self.arms():
            value = None
            if self.summary is not None and isinstance(self.summary.get(arm), dict):
                value = self.summary[arm].get("val_accuracy")
            if not is_number(value):
                points = self.arm_epochs(arm)
                value = points[-1].val_accuracy if points else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[arm] = float(value)
        return out
